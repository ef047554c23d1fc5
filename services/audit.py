"""The audit log: every action a service performs and every refusal, with who asked.

`actor` says who acted: "chat:<channel>:<user id>" for a seller in a chat, "operator:<name>" for
the command line, "agent:<name>" for a support agent. Details never hold secrets (tokens, codes)
or file contents.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import AuditEvent, AuditOutcome
from services.results import Refused, Violation


def json_safe(value: Any) -> Any:
    """`value` as plain JSON data (dates as ISO strings, enums as their values). NUL characters,
    which PostgreSQL cannot store in text or JSON, become U+FFFD."""
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {json_safe(str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, str | bytes):
        return [json_safe(v) for v in value]
    return value


def violations_detail(violations: Refused | Iterable[Violation]) -> list[dict[str, Any]]:
    """Violations as JSON data: [{"rule": id, "params": {...}}, …]."""
    items = violations.violations if isinstance(violations, Refused) else violations
    return [{"rule": v.rule.value, "params": json_safe(v.params)} for v in items]


def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    outcome: AuditOutcome,
    account_id: int | None,
    details: Mapping[str, Any],
    now: datetime,
) -> AuditEvent:
    event = AuditEvent(
        occurred_at=now,
        actor=actor,
        action=action,
        outcome=outcome,
        account_id=account_id,
        details=json_safe(details),
    )
    session.add(event)
    return event


async def events(
    session: AsyncSession, *, account_id: int | None = None, action: str | None = None, limit: int = 100
) -> list[AuditEvent]:
    """The latest events, newest first, optionally for one account or one action."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if account_id is not None:
        stmt = stmt.where(AuditEvent.account_id == account_id)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    return list((await session.execute(stmt)).scalars())
