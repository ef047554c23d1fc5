"""Changing the login e-mail.

The requester gives the business-licence number and the new address. When the licence matches
an account, a confirmation link goes to the NEW address; opening it changes the login and the
OLD address is told. When nothing matches, the outcome says a human agent must take over, and
nothing changes. Whether the new address already belongs to another account is not revealed
at request time (that would let anyone probe addresses); it is checked when the link is used,
by which time the person has shown they control that address.

Confirming also retires the account's outstanding password-reset links and other pending
changes: they were issued under the old address.

A licence number is no secret, so the warning to the current address carries a link of its own
(`stop_email_change`, valid `email_change_undo_days`): it cancels what is pending and, if a
change was confirmed meanwhile, undoes it — the login returns to the warned address, and reset
links and chat links made since are dropped.

The rules, with their tests: docs/domain.md#email_change_confirmed_by_new_address,
docs/domain.md#email_change_no_match_to_agent, docs/domain.md#email_unchanged,
docs/domain.md#email_change_stop_link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts import find_account_by_email, find_account_by_licence
from services.actions import Outcome, run_action
from services.db import Sessions, lock_account
from services.email_address import clean_email, email_key, is_valid_email
from services.mail import compose, mask_email
from services.mail_dispatch import MailDispatcher
from services.models import Account, ChatLink, EmailChangeRequest, utcnow
from services.password_reset import retire_reset_links
from services.policy import Policy
from services.rate_limits import hourly_limit_violation, window_start
from services.results import Done, Refused, Rule, Violation, refuse
from services.tokens import new_token, token_hash
from services.uscc import licence_violation, normalize_licence

CONFIRM_PAGE = "confirm-email"
# The page of the link in the warning to the current address: stops the change, or undoes it.
CANCEL_PAGE = "stop-email-change"


@dataclass(frozen=True)
class ConfirmationSent:
    """A confirmation link went to the new address (shown masked)."""

    new_email_masked: str
    minutes: int


@dataclass(frozen=True)
class NeedsAgent:
    """No account has this licence: a human agent must handle the request. Nothing changed."""

    reason: str = "licence_not_found"


@dataclass(frozen=True)
class EmailChanged:
    account_id: int
    new_email: str


async def _request_by_token(
    session: AsyncSession, column: Any, token: str
) -> tuple[Account, EmailChangeRequest] | None:
    """The request whose `column` (confirmation or stop token hash) matches `token`, with its
    account locked; the request is read again under the lock, so a concurrent use of the same
    link has committed by then."""
    found = await session.scalar(select(EmailChangeRequest).where(column == token_hash(token)))
    if found is None:
        return None
    account = await lock_account(session, found.account_id)
    request = await session.get(EmailChangeRequest, found.id, populate_existing=True)
    assert account is not None and request is not None
    return account, request


async def _cancel_pending(session: AsyncSession, *, account_id: int, now: datetime) -> None:
    """Cancel the account's requests that are neither confirmed nor cancelled yet."""
    await session.execute(
        update(EmailChangeRequest)
        .where(
            EmailChangeRequest.account_id == account_id,
            EmailChangeRequest.confirmed_at.is_(None),
            EmailChangeRequest.cancelled_at.is_(None),
        )
        .values(cancelled_at=now)
    )


def _set_login(account: Account, email: str, now: datetime) -> None:
    account.email, account.email_key, account.updated_at = email, email_key(email), now


async def request_email_change(
    *,
    sessions: Sessions,
    policy: Policy,
    mail: MailDispatcher,
    licence: str,
    new_email: str,
    lang: str,
    actor: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Done[ConfirmationSent | NeedsAgent] | Refused:
    """Start a login change. Refusals: LICENCE_INVALID (not a valid code: a typing mistake, say
    what is wrong), EMAIL_INVALID, EMAIL_UNCHANGED (the new address is the current one),
    RATE_LIMITED (`email_changes_per_hour` requests for the account within the last hour)."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Outcome[ConfirmationSent | NeedsAgent]:
        violations = []
        if (bad_licence := licence_violation(licence)) is not None:
            violations.append(bad_licence)
        if not is_valid_email(new_email):
            violations.append(Violation(Rule.EMAIL_INVALID, {"email": clean_email(new_email)}))
        if violations:
            return Outcome(refuse(*violations))
        found = await find_account_by_licence(session, licence)
        if found is None:
            return Outcome(Done(NeedsAgent()), details={"matched": False})
        account = await lock_account(session, found.id)
        assert account is not None
        if account.email_key == email_key(new_email):
            return Outcome(refuse(Violation(Rule.EMAIL_UNCHANGED, {})), account_id=account.id)
        if (limited := await _rate_violation(session, policy, account.id, now)) is not None:
            return Outcome(refuse(limited), account_id=account.id)
        # A newer request replaces any pending one.
        await _cancel_pending(session, account_id=account.id, now=now)
        token, cancel_token = new_token(), new_token()
        change = EmailChangeRequest(
            account_id=account.id,
            new_email=clean_email(new_email),
            token_hash=token_hash(token),
            cancel_token_hash=token_hash(cancel_token),
            requested_by=actor,
            created_at=now,
            expires_at=now + timedelta(minutes=policy.email_change_token_minutes),
        )
        session.add(change)
        await session.flush()
        message = compose(
            "email_change_confirm",
            lang,
            to=change.new_email,
            link=mail.link(CONFIRM_PAGE, token, lang=lang),
            minutes=policy.email_change_token_minutes,
            company=account.company,
        )
        # The licence number is no secret: warn the current address at once, so the owner can
        # stop a change they did not ask for before anyone opens the confirmation link.
        warning = compose(
            "email_change_requested",
            lang,
            to=account.email,
            new_email_masked=mask_email(change.new_email),
            minutes=policy.email_change_token_minutes,
            company=account.company,
            support_email=policy.support_email,
            cancel_link=mail.link(CANCEL_PAGE, cancel_token, lang=lang),
            undo_days=policy.email_change_undo_days,
        )
        sent = ConfirmationSent(
            new_email_masked=mask_email(change.new_email), minutes=policy.email_change_token_minutes
        )
        return Outcome(
            Done(sent),
            account_id=account.id,
            result_id=change.id,
            details={"matched": True, "request_id": change.id},
            mail=[message, warning],
        )

    async def replay(session: AsyncSession, change_id: int | None) -> ConfirmationSent | NeedsAgent:
        change = await session.get(EmailChangeRequest, change_id) if change_id is not None else None
        if change is None:
            return NeedsAgent()
        return ConfirmationSent(
            new_email_masked=mask_email(change.new_email), minutes=policy.email_change_token_minutes
        )

    return await run_action(
        sessions,
        action="request_email_change",
        actor=actor,
        params={"licence": normalize_licence(licence), "new_email": clean_email(new_email)},
        work=work,
        replay=replay,
        now=now,
        idempotency_key=idempotency_key,
        mail=mail,
    )


async def _rate_violation(
    session: AsyncSession, policy: Policy, account_id: int, now: datetime
) -> Violation | None:
    """RATE_LIMITED once the account had `email_changes_per_hour` requests in the last hour.

    Every request mails two addresses and the licence number that starts one is public: the
    limit keeps the bot from being used to flood the owner's mailbox, or anyone else's.
    Counted under the account's lock, so concurrent requests cannot all slip under it.
    """
    recent = await session.execute(
        select(EmailChangeRequest.created_at).where(
            EmailChangeRequest.account_id == account_id, EmailChangeRequest.created_at > window_start(now)
        )
    )
    return hourly_limit_violation(recent.scalars(), policy.email_changes_per_hour, now)


async def confirm_email_change(
    *,
    sessions: Sessions,
    policy: Policy,
    mail: MailDispatcher,
    token: str,
    lang: str,
    actor: str,
    now: datetime | None = None,
) -> Done[EmailChanged] | Refused:
    """Use the confirmation link: the login becomes the new address and the old one is told.
    Refusals: TOKEN_INVALID (unknown, used, replaced or expired), EMAIL_TAKEN (the new address
    has meanwhile become another account's login)."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Outcome[EmailChanged]:
        found = await _request_by_token(session, EmailChangeRequest.token_hash, token)
        if found is None:
            return Outcome(refuse(Violation(Rule.TOKEN_INVALID, {})))
        account, change = found
        if change.confirmed_at is not None or change.cancelled_at is not None or change.expires_at <= now:
            return Outcome(refuse(Violation(Rule.TOKEN_INVALID, {})), account_id=account.id)
        holder = await find_account_by_email(session, change.new_email)
        if holder is not None and holder.id != account.id:
            return Outcome(
                refuse(Violation(Rule.EMAIL_TAKEN, {"email": change.new_email})), account_id=account.id
            )
        old_email = account.email
        _set_login(account, change.new_email, now)
        change.confirmed_at = now
        change.previous_email = old_email
        await session.flush()  # this request is confirmed now: only the others are cancelled
        await _cancel_pending(session, account_id=account.id, now=now)
        await retire_reset_links(session, account_id=account.id, now=now)
        await session.flush()
        notice = compose(
            "email_change_notice",
            lang,
            to=old_email,
            new_email_masked=mask_email(change.new_email),
            company=account.company,
            support_email=policy.support_email,
        )
        return Outcome(
            Done(EmailChanged(account_id=account.id, new_email=account.email)),
            account_id=account.id,
            result_id=account.id,
            details={"request_id": change.id, "old_email": old_email, "new_email": account.email},
            mail=[notice],
        )

    async def replay(session: AsyncSession, account_id: int | None) -> EmailChanged:
        account = await session.get(Account, account_id)
        assert account is not None
        return EmailChanged(account_id=account.id, new_email=account.email)

    return await run_action(
        sessions,
        action="confirm_email_change",
        actor=actor,
        params={},
        work=work,
        replay=replay,
        now=now,
        mail=mail,
    )


@dataclass(frozen=True)
class ChangeStopped:
    """The owner used the link in the warning: pending changes were cancelled and, if one had
    been confirmed since, the login is back to `restored_email`."""

    account_id: int
    restored_email: str | None


async def stop_email_change(
    *,
    sessions: Sessions,
    policy: Policy,
    mail: MailDispatcher,
    token: str,
    lang: str,
    actor: str,
    now: datetime | None = None,
) -> Done[ChangeStopped] | Refused:
    """Use the link the warning to the current address carried (within `email_change_undo_days`
    of the request, once). Every pending change of the account is cancelled. If a change was
    confirmed since that request, it is undone: the login returns to the address it had, reset
    links issued since are retired, chats linked since are unlinked, and that address is told.
    Refusals: TOKEN_INVALID (unknown, used or too old), EMAIL_TAKEN (the old address has become
    another account's login meanwhile: support must sort it out)."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Outcome[ChangeStopped]:
        found = await _request_by_token(session, EmailChangeRequest.cancel_token_hash, token)
        if found is None:
            return Outcome(refuse(Violation(Rule.TOKEN_INVALID, {})))
        account, request = found
        too_old = request.created_at + timedelta(days=policy.email_change_undo_days) <= now
        if request.cancel_used_at is not None or too_old:
            return Outcome(refuse(Violation(Rule.TOKEN_INVALID, {})), account_id=account.id)
        request.cancel_used_at = now
        await _cancel_pending(session, account_id=account.id, now=now)
        # Changes confirmed since this request, oldest first: the first one's previous login is
        # the address the owner had when they were warned.
        confirmed = (
            await session.scalars(
                select(EmailChangeRequest)
                .where(
                    EmailChangeRequest.account_id == account.id,
                    EmailChangeRequest.confirmed_at >= request.created_at,
                    EmailChangeRequest.undone_at.is_(None),
                )
                .order_by(EmailChangeRequest.confirmed_at)
            )
        ).all()
        restored = confirmed[0].previous_email if confirmed else None
        mails = []
        if restored is not None:
            holder = await find_account_by_email(session, restored)
            if holder is not None and holder.id != account.id:
                return Outcome(
                    refuse(Violation(Rule.EMAIL_TAKEN, {"email": restored})), account_id=account.id
                )
            since = confirmed[0].confirmed_at
            for change in confirmed:
                change.undone_at = now
            _set_login(account, restored, now)
            # Whoever had the new address may have asked for reset links or linked chats with it.
            await retire_reset_links(session, account_id=account.id, now=now)
            await session.execute(
                delete(ChatLink).where(ChatLink.account_id == account.id, ChatLink.created_at >= since)
            )
            mails.append(
                compose(
                    "email_change_undone",
                    lang,
                    to=restored,
                    company=account.company,
                    support_email=policy.support_email,
                )
            )
        await session.flush()
        return Outcome(
            Done(ChangeStopped(account_id=account.id, restored_email=restored)),
            account_id=account.id,
            result_id=account.id,
            details={"request_id": request.id, "undone": [c.id for c in confirmed], "restored": restored},
            mail=mails,
        )

    async def replay(session: AsyncSession, account_id: int | None) -> ChangeStopped:
        return ChangeStopped(account_id=account_id or 0, restored_email=None)

    return await run_action(
        sessions,
        action="stop_email_change",
        actor=actor,
        params={},
        work=work,
        replay=replay,
        now=now,
        mail=mail,
    )
