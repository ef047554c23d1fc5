"""What the adapter measures: per update, the time from its arrival to its last reply sent, less
the time spent waiting on purpose (the outbound limiter, Telegram's 429 retry_after), so that the
processing latency is not hidden behind the rate limits."""

from __future__ import annotations

import statistics
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class WaitMeter:
    """Seconds the current update spent waiting for the limiter or a retry_after."""

    seconds: float = 0.0

    def add(self, seconds: float) -> None:
        self.seconds += seconds


# Set by the processor around each update; the sender and the retry middleware add to it.
CURRENT_WAITS: ContextVar[WaitMeter | None] = ContextVar("sellerbot_telegram_waits", default=None)


def add_wait(seconds: float) -> None:
    meter = CURRENT_WAITS.get()
    if meter is not None and seconds > 0:
        meter.add(seconds)


@dataclass
class Stats:
    handled: int = 0
    duplicates: int = 0
    abandoned: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, limiter waits excluded
    waits: list[float] = field(default_factory=list)  # seconds waited per update

    def record(self, *, latency: float, waited: float) -> None:
        self.handled += 1
        self.latencies.append(max(0.0, latency))
        self.waits.append(waited)

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=1000, method="inclusive")[int(q * 1000) - 1]

    @property
    def median(self) -> float:
        return statistics.median(self.latencies) if self.latencies else 0.0
