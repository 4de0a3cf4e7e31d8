"""The job engine: durable jobs, a fair queue, adaptive polling, resume after restart.

- `models`: JobState, Job, JobRequest, Progress, the listener and ledger protocols (no I/O).
- `engine`: JobEngine, which drives each job through the state machine (rows via
  bot.store.jobs.JobStore, provider calls via any LyriaClient-like object).
- `fair_queue`: who gets the next free slot (least recently served requester first).
- `poll_schedule`: when to poll, learnt from past generation times.

Import from the submodules; this package imports nothing so `bot.store.jobs` can use `models`.
"""
