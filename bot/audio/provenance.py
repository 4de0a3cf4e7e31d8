"""What a job's delivered file says about where it came from (the tags' source), for Discord
delivery and the terminal alike."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.audio.models import Provenance
from bot.jobs.models import Job


def job_provenance(job: Job) -> Provenance:
    return Provenance(
        prompt=job.prompt,
        job_id=job.id,
        model=job.model,
        created_at=datetime.fromtimestamp(job.created_at, UTC),
        negative_prompt=job.negative_prompt,
        seed=job.seed,
    )
