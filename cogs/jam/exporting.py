"""/jam export's work: the ZIP built in one worker thread of its own (at lower priority, one
export at a time), sized to the interaction's upload limit, removed once sent."""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.audio.worker import lower_thread_priority
from bot.interactions import message_url
from bot.jams.export import ExportRequest, ExportResult, export_jam
from bot.jams.models import JamSnapshot


class Exporter:
    def __init__(self, audio_dir: Path) -> None:
        self._dir = audio_dir / "jams"
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="jam-export", initializer=lower_thread_priority
        )

    async def export(self, snapshot: JamSnapshot, limit_bytes: int) -> ExportResult:
        """Build the ZIP (ExportTooLarge when not even the manifest fits); the caller sends
        and then removes `result.path`."""
        jam = snapshot.jam
        links = {
            e.job_id: message_url(jam.guild_id, e.result_channel_id, e.result_message_id)
            for e in snapshot.entries
            if e.result_channel_id is not None and e.result_message_id is not None
        }
        folder = self._dir / jam.id
        request = ExportRequest(
            snapshot=snapshot,
            limit_bytes=limit_bytes,
            work_dir=folder / "export",
            out_path=folder / f"jam-{jam.id}-{secrets.token_hex(4)}.zip",
            links=links,
        )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, export_jam, request)

    async def close(self) -> None:
        await asyncio.to_thread(self._executor.shutdown, wait=True)
