"""Reading the conversation log for the people who improve the bot."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import Handoff, HandoffResolution, HandoffStatus, Turn, TurnDirection

# The matcher's decision for a question it could not answer.
FALLBACK = "fallback"


async def unanswered_questions(
    session: AsyncSession, *, since: datetime | None = None, limit: int = 50_000
) -> list[tuple[str, datetime]]:
    """Questions the bot could not answer (the matcher fell back), newest first."""
    stmt = (
        select(Turn.text, Turn.created_at)
        .where(Turn.direction == TurnDirection.IN, Turn.decision == FALLBACK)
        .order_by(Turn.created_at.desc(), Turn.id.desc())
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(Turn.created_at >= since)
    return [(text, at) for text, at in (await session.execute(stmt)).all()]


# -- handoffs -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class HandoffStats:
    """Handoffs of one agent (or all of them): how many, how they ended, how fast a person first
    answered, and how sellers rated the help."""

    agent: str | None  # None: every handoff
    handoffs: int
    open: int
    resolutions: dict[str, int]
    answered: int
    median_first_reply_seconds: float | None
    p90_first_reply_seconds: float | None
    rated: int
    average_rating: float | None
    ratings: dict[int, int]

    def as_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "handoffs": self.handoffs,
            "open": self.open,
            "resolutions": self.resolutions,
            "answered": self.answered,
            "median_first_reply_seconds": self.median_first_reply_seconds,
            "p90_first_reply_seconds": self.p90_first_reply_seconds,
            "rated": self.rated,
            "average_rating": self.average_rating,
            "ratings": {str(k): v for k, v in self.ratings.items()},
        }


@dataclass(frozen=True)
class HandoffReport:
    overall: HandoffStats
    agents: tuple[HandoffStats, ...]

    def as_json(self) -> dict[str, Any]:
        return {"overall": self.overall.as_json(), "agents": [a.as_json() for a in self.agents]}


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `fraction` of the values at
    or below it (p90 of 10 values is the 9th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _stats(agent: str | None, rows: list[Handoff]) -> HandoffStats:
    waits = [(h.first_reply_at - h.created_at).total_seconds() for h in rows if h.first_reply_at is not None]
    ratings = [h.rating for h in rows if h.rating is not None]
    resolutions: dict[str, int] = {r.value: 0 for r in HandoffResolution}
    for h in rows:
        if h.resolution is not None:
            resolutions[h.resolution.value] += 1
    return HandoffStats(
        agent=agent,
        handoffs=len(rows),
        open=sum(1 for h in rows if h.status is not HandoffStatus.CLOSED),
        resolutions=resolutions,
        answered=len(waits),
        median_first_reply_seconds=statistics.median(waits) if waits else None,
        p90_first_reply_seconds=percentile(waits, 0.9),
        rated=len(ratings),
        average_rating=round(statistics.fmean(ratings), 2) if ratings else None,
        ratings={stars: ratings.count(stars) for stars in range(1, 6)},
    )


async def handoff_report(session: AsyncSession, *, since: datetime | None = None) -> HandoffReport:
    """Handoffs started since `since` (default: all), overall and per agent (the first person who
    answered; handoffs nobody answered count only overall)."""
    stmt = select(Handoff).order_by(Handoff.id)
    if since is not None:
        stmt = stmt.where(Handoff.created_at >= since)
    rows = list((await session.execute(stmt)).scalars())
    by_agent: dict[str, list[Handoff]] = {}
    for h in rows:
        if h.agent:
            by_agent.setdefault(h.agent, []).append(h)
    agents = sorted((_stats(a, hs) for a, hs in by_agent.items()), key=lambda s: (-s.handoffs, s.agent or ""))
    return HandoffReport(overall=_stats(None, rows), agents=tuple(agents))
