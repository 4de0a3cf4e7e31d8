"""The job engine: durable jobs, a fair queue, learnt polling, resume after a restart.

- `models`: JobState, Job, JobRequest, Progress, ErrorKind, Delivery (no I/O).
- `engine`: JobEngine, the façade callers use (enqueue, cancel, mark_delivered, start, stop).
- `runner`: one job's work (submit, poll, download); `failures`: how an error is recorded.
- `events`: listeners and waiters (JobBoard); `learning`: what polls saw → the current poll
  schedule; `estimate`: the interval-censored distribution of generation times (pure).
- `poll_schedule`: when to poll (pure): early checks, never later than the vendor's 10 s loop
  (+ 0.3 s), dense where completions are likely; `fair_queue`: who gets the next slot.
- `ports`: the provider client and credit ledger the engine needs.

Nothing here imports discord. Rows are written through `bot.store.base.JobRepository`.
"""
