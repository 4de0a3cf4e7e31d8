"""Which shards a process runs, in words: for the start-up log and `python -m bot check`."""

from __future__ import annotations

from collections.abc import Sequence


def shard_plan(count: int | None, ids: Sequence[int] | None) -> str:
    """`count`: SHARD_COUNT (None: Discord's advice); `ids`: SHARD_IDS (None: every one)."""
    if count is None:
        return "as many shards as Discord recommends, all in this process"
    if ids is None or runs_every_shard(count, ids):
        return f"all {count} shard(s) in this process"
    shown = ", ".join(str(i) for i in ids)
    return f"shard(s) {shown} of {count} (other processes run the rest)"


def runs_every_shard(count: int | None, ids: Sequence[int] | None) -> bool:
    """Whether no other process is needed for the rest of the shards."""
    return count is None or ids is None or sorted(ids) == list(range(count))
