"""What a channel's runtime measures, per update: the processing latency — from the moment a worker
takes the update to its last reply sent, less the time spent waiting on purpose (the outbound
limiter, a channel's "retry after") — and the end-to-end latency from its arrival, which also
counts the wait behind earlier updates of the same chat."""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field

# The latest measurements kept (a long-running process must not grow without end).
KEEP = 100_000


@dataclass
class WaitMeter:
    """Seconds the current update spent waiting for the limiter or a retry_after."""

    seconds: float = 0.0

    def add(self, seconds: float) -> None:
        self.seconds += seconds


# Set by the processor around each update; the sender and the API client (429 waits) add to it.
CURRENT_WAITS: ContextVar[WaitMeter | None] = ContextVar("sellerbot_waits", default=None)


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
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=KEEP))  # processing, waits excluded
    waits: deque[float] = field(default_factory=lambda: deque(maxlen=KEEP))  # limiter, retry_after (s)
    end_to_end: deque[float] = field(default_factory=lambda: deque(maxlen=KEEP))  # arrival to answer (s)

    def reset(self) -> None:
        """Forget everything measured so far (a benchmark's warm-up)."""
        self.__init__()  # type: ignore[misc]

    def record(self, *, latency: float, waited: float, end_to_end: float) -> None:
        self.handled += 1
        self.latencies.append(max(0.0, latency))
        self.waits.append(waited)
        self.end_to_end.append(max(0.0, end_to_end))


def percentile(values: Iterable[float], q: float) -> float:
    """The q-quantile (0 < q < 1) of the values, 0 if there are none."""
    values = list(values)
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[max(0, int(q * 1000) - 1)]
