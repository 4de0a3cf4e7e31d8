"""Jam sessions (issue 11): rounds of entries and votes in a thread, paid from a budget taken
from the server's pool. Knows nothing of Discord.

- `models`: the values; `rules`: the pure decisions (the store calls them in its transactions).
- `service`: start, enter, vote, advance, end, cancel — over `bot.store.base.JamRepository`.
- `scheduler`: the one task that wakes at the next deadline and has the posts made.
- `keeper`: keeps each entry's audio for the export; `export`: the ZIP (worker thread).
- `events`: what the mod log hears.
"""
