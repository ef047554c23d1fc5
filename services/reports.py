"""Reading the conversation log for the people who improve the bot."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import Turn, TurnDirection

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
