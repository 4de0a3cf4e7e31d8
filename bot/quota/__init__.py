"""The moderated shared quota: limits and credit per member, role, server and bot.

- `ledger`: one job's credit (reserve → commit / refund, finish); the engine's CreditLedger.
- `rules`: the reservation rule, pure; `limits`: the bounds and the one limit resolver.
- `moderation`: what moderators change; `queries`: what members and moderators read.
- `events`: typed mod-log events and their bus; `prompt_policy`: the prompt block list.

Nothing here imports discord. `bot.quota.components.Quota.build(...)` wires the parts over
one store.
"""
