"""Timing knobs of the running bot that deployments never set but tests and benchmarks do."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.jobs.engine import EngineTuning


@dataclass(frozen=True)
class DeliveryTuning:
    edit_interval: float = 3.0  # seconds between two edits of one status message, at least
    upload_margin: float = 60.0  # a token with less life than this is not used for the result
    notice_margin: float = 120.0  # say "the result will come by channel" this long before expiry
    owner_alert_interval: float = 3600.0  # at most one account-problem DM to the owners per this
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Tuning:
    engine: EngineTuning = field(default_factory=EngineTuning)
    delivery: DeliveryTuning = field(default_factory=DeliveryTuning)
