"""Everything the bot runs on besides Discord, built from the settings in one place.

`Services.open` creates the folders, opens (and migrates) the database, the shared HTTP session,
the Lyria client, the quota, the job engine and the jam service, and starts the audio retention
sweep (a service task on the bot's `TaskTracker`); `close` undoes it in reverse. The Discord layer
reaches them through `JamBot.services`; nothing here imports discord.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass

import aiohttp

from bot import redaction
from bot.aimlapi.client import LyriaClient
from bot.audio import AudioWorker
from bot.config import Settings
from bot.fs import folder_error
from bot.jams.keeper import EntryKeeper
from bot.jams.scheduler import JamScheduler
from bot.jams.service import JamService
from bot.jobs.engine import EngineTuning, JobEngine
from bot.jobs.models import Origin
from bot.jobs.retention import AudioRetention
from bot.metrics import Instruments
from bot.quota.components import Quota
from bot.quota.models import QuotaDefaults
from bot.shards import OwnShardJobs
from bot.store.base import Store
from bot.store.connect import job_signals, open_store
from bot.tasks import TaskTracker


class StartupError(RuntimeError):
    """Something the bot needs besides the database cannot be set up; one line says what."""


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    http: aiohttp.ClientSession
    quota: Quota
    engine: JobEngine
    tasks: TaskTracker
    audio: AudioWorker  # tags, waveform pictures, re-encoding: in a small pool of its own
    jams: JamService
    jam_scheduler: JamScheduler  # started by the jam extension, which makes the posts
    retention: AudioRetention

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        tasks: TaskTracker,
        tuning: EngineTuning,
        resume_origins: Collection[Origin],
        instruments: Instruments | None = None,
    ) -> Services:
        """`instruments`: what metrics hook into (the provider session, the job rows, the
        engine's events and the ledger's decisions)."""
        settings.require("AIMLAPI_KEY")  # before anything is created on disk
        redaction.remember(settings)  # no stored or shown text may carry a secret
        try:
            await asyncio.to_thread(settings.audio_dir.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            reason = folder_error(settings.audio_dir, exc)
            raise StartupError(
                f"AUDIO_DIR {settings.audio_dir} cannot be created: {reason}"
            ) from exc
        store = await open_store(settings)
        # aiohttp's default pool (100 connections) would queue downloads behind polls when
        # many generations run; the engine already bounds concurrency, so size the pool to it.
        connections = 2 * settings.max_concurrent_generations + 10
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections),
            trace_configs=instruments.http_traces() if instruments else None,
        )
        quota = Quota.build(store.quota, QuotaDefaults.from_settings(settings), tasks=tasks)
        jobs = instruments.wrap_jobs(store.jobs) if instruments else store.jobs
        if settings.shard_count is not None and settings.shard_ids is not None:
            jobs = OwnShardJobs(jobs, settings.shard_count, settings.shard_ids)
        engine = JobEngine.from_settings(
            settings,
            store=jobs,
            client=LyriaClient.from_settings(http, settings),
            ledger=quota.ledger,
            resume_origins=resume_origins,
            tuning=tuning,
            tasks=tasks,
            signals=job_signals(store),
        )
        if instruments is not None:
            instruments.attach(store=store, engine=engine, ledger=quota.ledger)
        jams = JamService(store.jams, quota.ledger, quota.events)
        # First listener: a jam entry's audio is kept before the delivery removes the download.
        engine.add_listener(EntryKeeper(jams, settings.audio_dir))
        scheduler = JamScheduler(jams, tasks)
        retention = AudioRetention.from_settings(settings, store.jobs)
        # A crash's partial downloads go before anything new is downloaded; the first full
        # sweep (expired audio, old rows) runs in the background, then one every hour.
        await retention.remove_part_files()
        tasks.spawn(retention.run_forever(), name="audio-retention", service=True)
        return cls(
            settings, store, http, quota, engine, tasks, AudioWorker(), jams, scheduler, retention
        )

    async def close(self) -> None:
        """Close the network and the database (stop the engine first)."""
        if not self.http.closed:
            await self.http.close()
        await self.audio.close()
        await self.store.close()
