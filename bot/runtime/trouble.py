"""Failures a runtime lives through rather than dies of: backoff between attempts, and a log that
reports an outage once instead of at every attempt."""

from __future__ import annotations

import asyncio
import logging
import random

from services.db import is_unavailable

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0


def backoff_delay(failures: int) -> float:
    """Exponential backoff with "full jitter" between 50 % and 100 % of the step, so that many
    senders that failed together do not retry together."""
    step = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, failures - 1))
    return step * random.uniform(0.5, 1.0)


class Outage:
    """Counts consecutive failures of one part of a runtime (the database, a connection) and
    logs them once and then every 30th time (an outage must not flood the log) — an unavailable
    database in a line, any other failure with its traceback —, and once when it works again."""

    def __init__(self, log: logging.Logger, what: str = "database") -> None:
        self.log = log
        self.what = what
        self.failures = 0
        self._failing = asyncio.Event()

    def failed(self, doing: str, exc: BaseException) -> None:
        self.failures += 1
        self._failing.set()
        if self.failures != 1 and self.failures % 30 != 0:
            return
        if is_unavailable(exc):
            self.log.error("%s unavailable while %s (%r); retrying", self.what, doing, exc)
        else:
            self.log.error("failed while %s", doing, exc_info=exc)

    def ok(self) -> None:
        if self.failures:
            self.log.info("%s available again", self.what)
            self.failures = 0
            self._failing.clear()

    async def wait_failing(self) -> None:
        """Until an attempt has failed (tests that cut the database wait for it to be noticed)."""
        await self._failing.wait()

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def retry_delay(self) -> float:
        return backoff_delay(max(1, self.failures))
