"""Hourly limits on actions that send mail (reset links, linking codes, login changes).

Each service counts its own earlier requests (by account, address or chat user, under a lock so
concurrent requests cannot all slip under the limit) and asks `hourly_limit_violation` whether
one more is allowed; the refusal says how long to wait.

The rule, with its test: docs/domain.md#rate_limited.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from services.results import Rule, Violation

WINDOW = timedelta(hours=1)


def window_start(now: datetime) -> datetime:
    """Requests made after this moment count against the limit."""
    return now - WINDOW


def hourly_limit_violation(recent: Iterable[datetime], limit: int, now: datetime) -> Violation | None:
    """RATE_LIMITED (with `limit`, `per` and `retry_after_minutes`, rounded up) when `recent`,
    the times of the requests since `window_start(now)`, already hold `limit` of them."""
    times = sorted(recent)
    if len(times) < limit:
        return None
    wait = times[-limit] + WINDOW - now
    minutes = max(1, -(-int(wait.total_seconds()) // 60))
    return Violation(Rule.RATE_LIMITED, {"limit": limit, "per": "hour", "retry_after_minutes": minutes})
