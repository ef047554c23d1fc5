"""/healthz (the database answers and its schema is current) and /metrics (Prometheus text)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import func, select, text

from bot.web.context import context_of
from services.db import current_revision, head_revision
from services.handoff import OPEN_STATUSES
from services.models import Conversation, Handoff, OutboxMessage, OutboxStatus, Turn

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.StreamResponse:
    engine = context_of(request).app.database.engine
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        revision = await current_revision(engine)
    except Exception as exc:
        return web.json_response({"database": "unreachable", "error": type(exc).__name__}, status=503)
    head = head_revision()
    body = {"database": "ok", "migrations": "current" if revision == head else "behind", "revision": revision}
    return web.json_response(
        body, status=200 if revision == head else 503, headers={"Cache-Control": "no-store"}
    )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.StreamResponse:
    async with context_of(request).sessions() as session:
        turns = (
            await session.execute(
                select(Conversation.channel, func.count(Turn.id))
                .join(Conversation, Conversation.id == Turn.conversation_id)
                .group_by(Conversation.channel)
            )
        ).all()
        waiting = (
            await session.execute(
                select(Conversation.channel, func.count(Handoff.id))
                .join(Conversation, Conversation.id == Handoff.conversation_id)
                .where(Handoff.status.in_(OPEN_STATUSES), Handoff.claimed_by.is_(None))
                .group_by(Conversation.channel)
            )
        ).all()
        backlog = (
            await session.execute(
                select(OutboxMessage.channel, func.count(OutboxMessage.id))
                .where(OutboxMessage.status == OutboxStatus.PENDING)
                .group_by(OutboxMessage.channel)
            )
        ).all()
    lines = []
    for name, kind, help_text, rows in (
        ("sellerbot_turns_total", "counter", "Conversation turns recorded, per channel.", turns),
        ("sellerbot_handoffs_waiting", "gauge", "Open handoffs nobody has taken, per channel.", waiting),
        ("sellerbot_outbox_backlog", "gauge", "Outbox messages waiting to be sent, per channel.", backlog),
    ):
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        lines += [f'{name}{{channel="{_escape(channel)}"}} {count}' for channel, count in rows]
    return web.Response(
        text="\n".join(lines) + "\n",
        content_type="text/plain",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )
