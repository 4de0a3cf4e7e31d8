"""Limits and credit: reserve -> commit / refund, per member, role, server and bot; prompt policy.

Nothing here imports discord. Wiring (bot start-up):

    quota = QuotaService(db, QuotaDefaults.from_settings(settings))     # bot.quota.service
    engine = JobEngine(..., ledger=quota)          # the engine commits / refunds
    await quota.release_orphans(<every job id in the jobs table>, older_than=300)

Per /compose: `result = await quota.reserve(Requester(...), job_id, prompt)`; a `Refusal` is
shown to the member (message, and retry_at as <t:...:R>); a `Grant` is followed by
`engine.enqueue(JobRequest(..., job_id=job_id))`, or `quota.refund(job_id)` if enqueueing fails.
After delivery (or the failure is reported): `quota.finish_and_note(...)` ends the in-flight
status and records the outcome for the mod log in one transaction (`finish` and
`note_generation` separately still work). A deliverer that records nothing can instead
register `QuotaJobListener(quota)` (bot.quota.listener), which calls `finish` as a job ends.
"""
