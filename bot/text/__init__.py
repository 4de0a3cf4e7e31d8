"""Every word members, moderators and admins read, built from values; no I/O here.

- `format`: escaping and truncating what members typed, times, sizes, plurals.
- `status` / `result`: the status message of a running track, and the result it becomes.
- `failures`, `refusals`, `requests`: why a track failed, was refused, or cannot be asked for.
- `quota`, `modlog`, `help`: the /quota replies, the mod-log lines, /help.

So every message the bot can send is testable without a live Discord, and one sentence has one
home: the engine, the quota and the terminal hand over kinds and numbers, never prose.
"""
