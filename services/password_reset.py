"""Password reset links.

* The link goes only to the account's registered address — the one stored, never one typed in
  the chat (the typed address only selects the account).
* The token has 256 random bits, is stored as its SHA-256 only, is used once and lives
  `reset_token_minutes`; at most `reset_links_per_hour` requests per hour count against an
  address and against an account.
* No enumeration: the result is the same whether or not the address has an account. An unknown
  address gets the same work done — a token row (for a token nobody receives), the same rate
  limit, the mail composed — and nothing is sent. The mail itself is delivered in the
  background after the commit, so the reply's timing does not depend on it either.

The rules, with their tests: docs/domain.md#reset_registered_address_only,
docs/domain.md#reset_no_enumeration, docs/domain.md#token_secret, docs/domain.md#token_invalid,
docs/domain.md#rate_limited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.actions import Outcome, run_action
from services.db import Sessions, lock_key
from services.email_address import clean_email, email_key, is_valid_email
from services.mail import compose
from services.mail_dispatch import MailDispatcher
from services.models import Account, ResetToken, utcnow
from services.policy import Policy
from services.rate_limits import hourly_limit_violation, window_start
from services.results import Done, Refused, Rule, Violation, refuse
from services.tokens import new_token, token_hash

RESET_PAGE = "reset-password"


@dataclass(frozen=True)
class ResetLinkRequested:
    """What the seller is told, identical for registered and unknown addresses."""

    minutes: int


async def _recent_requests(
    session: AsyncSession, key: str, account_id: int | None, now: datetime
) -> list[datetime]:
    who = ResetToken.email_key == key
    if account_id is not None:
        who = or_(who, ResetToken.account_id == account_id)
    stmt = select(ResetToken.created_at).where(who, ResetToken.created_at > window_start(now))
    return sorted((await session.execute(stmt)).scalars())


async def request_password_reset(
    *,
    sessions: Sessions,
    policy: Policy,
    mail: MailDispatcher,
    email: str,
    lang: str,
    actor: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Done[ResetLinkRequested] | Refused:
    """Send a reset link to the account registered under `email`, if there is one.

    Refusals (identical for registered and unknown addresses): EMAIL_INVALID (not an address at
    all) and RATE_LIMITED (with `retry_after_minutes`)."""
    now = now or utcnow()
    key = email_key(email)

    async def work(session: AsyncSession) -> Outcome[ResetLinkRequested]:
        if not is_valid_email(email):
            return Outcome(refuse(Violation(Rule.EMAIL_INVALID, {"email": clean_email(email)})))
        await lock_key(session, f"password_reset:{key}")
        account = (
            await session.execute(select(Account).where(Account.email_key == key))
        ).scalar_one_or_none()
        account_id = account.id if account is not None else None
        recent = await _recent_requests(session, key, account_id, now)
        if (limited := hourly_limit_violation(recent, policy.reset_links_per_hour, now)) is not None:
            return Outcome(refuse(limited), account_id=account_id)
        token = new_token()
        session.add(
            ResetToken(
                account_id=account_id,
                email_key=key,
                token_hash=token_hash(token),
                created_at=now,
                expires_at=now + timedelta(minutes=policy.reset_token_minutes),
            )
        )
        # Composed in both cases so both cost the same; sent only to a registered address.
        message = compose(
            "password_reset",
            lang,
            to=account.email if account is not None else clean_email(email),
            link=mail.link(RESET_PAGE, token),
            minutes=policy.reset_token_minutes,
        )
        await session.flush()
        return Outcome(
            Done(ResetLinkRequested(minutes=policy.reset_token_minutes)),
            account_id=account_id,
            details={"registered": account is not None},
            mail=[message] if account is not None else [],
        )

    async def replay(session: AsyncSession, _: int | None) -> ResetLinkRequested:
        return ResetLinkRequested(minutes=policy.reset_token_minutes)

    return await run_action(
        sessions,
        action="password_reset",
        actor=actor,
        params={"email": key},
        work=work,
        replay=replay,
        now=now,
        idempotency_key=idempotency_key,
        mail=mail,
    )


async def retire_reset_links(session: AsyncSession, *, account_id: int, now: datetime) -> None:
    """Make every outstanding reset link of the account unusable (in the caller's transaction)."""
    await session.execute(
        update(ResetToken)
        .where(ResetToken.account_id == account_id, ResetToken.used_at.is_(None))
        .values(used_at=now)
    )


async def use_reset_token(
    *, sessions: Sessions, token: str, actor: str, now: datetime | None = None
) -> Done[int] | Refused:
    """Spend a reset token (the reset page calls this before it lets the seller choose a new
    password). Done carries the account id; TOKEN_INVALID for a token that is unknown, used or
    expired — one rule for all three, so a guesser learns nothing. Using one token also retires
    the account's other outstanding links."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Outcome[int]:
        # One conditional UPDATE: of two concurrent uses, exactly one matches the row.
        stmt = (
            update(ResetToken)
            .where(
                ResetToken.token_hash == token_hash(token),
                ResetToken.used_at.is_(None),
                ResetToken.expires_at > now,
                ResetToken.account_id.is_not(None),
            )
            .values(used_at=now)
            .returning(ResetToken.account_id)
        )
        account_id = (await session.execute(stmt)).scalar_one_or_none()
        if account_id is None:
            return Outcome(refuse(Violation(Rule.TOKEN_INVALID, {})))
        await retire_reset_links(session, account_id=account_id, now=now)
        return Outcome(Done(account_id), account_id=account_id, result_id=account_id)

    async def replay(session: AsyncSession, account_id: int | None) -> int:
        assert account_id is not None
        return account_id

    # The token itself is never logged.
    return await run_action(
        sessions, action="use_reset_token", actor=actor, params={}, work=work, replay=replay, now=now
    )
