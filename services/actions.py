"""How every service action runs: one retried write transaction, the account lock, the
idempotency key, the audit event, and mail only after the commit.

A service writes its checks and effects as `work(session) -> Outcome`, returning either a
`Done` with what it changed or a `Refused` naming every failed rule. `run_action` then

* locks the account first (PostgreSQL: `SELECT … FOR UPDATE`; SQLite: the transaction's
  BEGIN IMMEDIATE already serialises writers), so checks and writes see no concurrent change;
* answers a repeated idempotency key with the first result, rebuilt by `replay`;
* on `Done`: records the audit event and the key in the same transaction, commits, then hands
  the mail to the dispatcher;
* on `Refused`: rolls the work back completely and records the refusal on its own, so a refused
  action leaves nothing behind but its audit event.

The rules, with their tests: docs/domain.md#refusal_changes_nothing,
docs/domain.md#idempotent_actions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from services import audit, idempotency
from services.db import Sessions, lock_account, write_transaction
from services.mail import OutgoingMail
from services.mail_dispatch import MailDispatcher
from services.models import AuditOutcome
from services.results import Done, Refused

T = TypeVar("T")


@dataclass
class Outcome(Generic[T]):
    """What a unit of work decided. `result_id` is the row to rebuild the result from when the
    idempotency key is repeated; `mail` is sent only if the transaction commits."""

    result: Done[T] | Refused
    account_id: int | None = None
    result_id: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    mail: list[OutgoingMail] = field(default_factory=list)
    # A refusal that must still be saved: a wrong link code uses up one of its tries.
    keep_refusal_changes: bool = False


class _Refusal(Exception):
    """Carries a refusal out of the transaction so that its context manager rolls back."""

    def __init__(self, outcome: Outcome[Any]) -> None:
        self.outcome = outcome


async def run_action(
    sessions: Sessions,
    *,
    action: str,
    actor: str,
    params: Mapping[str, Any],
    work: Callable[[AsyncSession], Awaitable[Outcome[T]]],
    replay: Callable[[AsyncSession, int | None], Awaitable[T]],
    now: datetime,
    account_id: int | None = None,
    idempotency_key: str | None = None,
    mail: MailDispatcher | None = None,
) -> Done[T] | Refused:
    """Run one action. `params` are the action's arguments as they appear in the audit log and in
    the idempotency fingerprint: never put a secret or file contents in them."""
    fingerprint = idempotency.request_hash(action, params) if idempotency_key else ""
    if idempotency_key:
        idempotency.check_key(idempotency_key)

    async def earlier_result(session: AsyncSession) -> Done[T] | None:
        if not idempotency_key:
            return None
        row = await idempotency.find(session, idempotency_key, action=action, fingerprint=fingerprint)
        return None if row is None else Done(await replay(session, row.result_id))

    def record_refused(session: AsyncSession, refused: Outcome[T]) -> None:
        assert isinstance(refused.result, Refused)
        audit.record(
            session,
            actor=actor,
            action=action,
            outcome=AuditOutcome.REFUSED,
            account_id=refused.account_id,
            details={
                "params": params,
                **refused.details,
                "violations": audit.violations_detail(refused.result),
            },
            now=now,
        )

    async def attempt(session: AsyncSession) -> tuple[Outcome[T], bool]:
        if account_id is not None:
            await lock_account(session, account_id)
        # Looked up after the lock: a concurrent first use of the key has committed by now.
        repeated = await earlier_result(session)
        if repeated is not None:
            return Outcome(repeated, account_id=account_id), True
        outcome = await work(session)
        if isinstance(outcome.result, Refused):
            if not outcome.keep_refusal_changes:
                raise _Refusal(outcome)
            record_refused(session, outcome)
            return outcome, False
        audit.record(
            session,
            actor=actor,
            action=action,
            outcome=AuditOutcome.DONE,
            account_id=outcome.account_id,
            details={"params": params, **outcome.details},
            now=now,
        )
        if idempotency_key:
            idempotency.remember(
                session,
                idempotency_key,
                action=action,
                fingerprint=fingerprint,
                result_id=outcome.result_id,
                now=now,
            )
        await session.flush()
        return outcome, False

    try:
        outcome, repeated = await write_transaction(sessions, attempt)
    except _Refusal as refusal:
        refused = refusal.outcome

        async def record_refusal(session: AsyncSession) -> Done[T] | Refused:
            # A concurrent first use of the same key may have succeeded meanwhile (a key with no
            # account to lock): then its result is the answer, not this refusal.
            repeated = await earlier_result(session)
            if repeated is not None:
                return repeated
            record_refused(session, refused)
            assert isinstance(refused.result, Refused)
            return refused.result

        return await write_transaction(sessions, record_refusal)

    if not repeated and mail is not None:
        for message in outcome.mail:
            mail.send_later(message)
    return outcome.result
