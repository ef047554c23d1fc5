"""Linking a chat user to a merchant account.

The user gives the registered e-mail; a 6-digit code is mailed there; typing it back within
`link_code_minutes` and `link_code_attempts` tries links the chat user to the account. The reply
to "send me a code" is the same whether or not the address is registered: an unknown address
gets a code row too (a code nobody receives, so every guess is wrong), and mail goes out in the
background after the commit. At most `link_codes_per_hour` codes per chat user per hour, so a
chat cannot be used to flood someone's mailbox. Operators can link a user directly (`verified_by`
operator), e.g. after checking identity another way.

The rules, with their tests: docs/domain.md#not_linked, docs/domain.md#group_chat,
docs/domain.md#link_code_same_reply, docs/domain.md#code_wrong,
docs/domain.md#code_attempts_exhausted, docs/domain.md#code_expired.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.actions import Outcome, run_action
from services.db import Sessions, lock_key
from services.email_address import clean_email, email_key, is_valid_email
from services.mail import compose
from services.mail_dispatch import MailDispatcher
from services.models import Account, ChatLink, LinkCode, LinkVerifiedBy, utcnow
from services.policy import Policy
from services.rate_limits import hourly_limit_violation, window_start
from services.results import Done, Refused, Rule, Violation, refuse
from services.tokens import code_hash, code_matches, new_code, new_salt

_CHANNEL = re.compile(r"[a-z][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class CodeSent:
    """What the user is told after asking for a code, identical for registered and unknown
    addresses."""

    minutes: int
    attempts: int


@dataclass(frozen=True)
class ChatLinkView:
    channel: str
    chat_user_id: str
    account_id: int
    verified_by: LinkVerifiedBy
    created_at: datetime


def _view(link: ChatLink) -> ChatLinkView:
    return ChatLinkView(
        channel=link.channel,
        chat_user_id=link.chat_user_id,
        account_id=link.account_id,
        verified_by=link.verified_by,
        created_at=link.created_at,
    )


def chat_identity_violations(channel: str, chat_user_id: str) -> list[Violation]:
    """CHAT_IDENTITY_INVALID unless the channel is a short lower-case name ("telegram", "qq",
    "console") and the user id is 1–128 visible characters."""
    bad = []
    if not _CHANNEL.fullmatch(channel):
        bad.append("channel")
    if not (1 <= len(chat_user_id) <= 128) or any(
        ch.isspace() or unicodedata.category(ch).startswith("C") for ch in chat_user_id
    ):
        bad.append("user")
    return [Violation(Rule.CHAT_IDENTITY_INVALID, {"fields": bad})] if bad else []


async def linked_account_id(session: AsyncSession, *, channel: str, chat_user_id: str) -> int | None:
    """The account the chat user is linked to, if any."""
    stmt = select(ChatLink.account_id).where(
        ChatLink.channel == channel, ChatLink.chat_user_id == chat_user_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def chat_links(session: AsyncSession, *, account_id: int) -> list[ChatLinkView]:
    stmt = select(ChatLink).where(ChatLink.account_id == account_id).order_by(ChatLink.id)
    return [_view(link) for link in (await session.execute(stmt)).scalars()]


async def _link(
    session: AsyncSession,
    *,
    channel: str,
    chat_user_id: str,
    account_id: int,
    by: LinkVerifiedBy,
    actor: str,
    now: datetime,
) -> ChatLink:
    """Link (or re-link) the chat user: one chat user, one account."""
    stmt = select(ChatLink).where(ChatLink.channel == channel, ChatLink.chat_user_id == chat_user_id)
    link = (await session.execute(stmt)).scalar_one_or_none()
    if link is None:
        link = ChatLink(channel=channel, chat_user_id=chat_user_id)
        session.add(link)
    link.account_id, link.verified_by, link.linked_by, link.created_at = account_id, by, actor, now
    await session.flush()
    return link


def _user_key(channel: str, chat_user_id: str) -> str:
    return f"link:{channel}:{chat_user_id}"


async def request_link_code(
    *,
    sessions: Sessions,
    policy: Policy,
    mail: MailDispatcher,
    channel: str,
    chat_user_id: str,
    email: str,
    lang: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Done[CodeSent] | Refused:
    """Mail a 6-digit code to the account registered under `email`, if any; a new code replaces
    the chat user's earlier one. Refusals (the same for registered and unknown addresses):
    EMAIL_INVALID, CHAT_IDENTITY_INVALID, RATE_LIMITED."""
    now = now or utcnow()
    actor = f"chat:{channel}:{chat_user_id}"

    async def work(session: AsyncSession) -> Outcome[CodeSent]:
        violations = chat_identity_violations(channel, chat_user_id)
        if not is_valid_email(email):
            violations.append(Violation(Rule.EMAIL_INVALID, {"email": clean_email(email)}))
        if violations:
            return Outcome(refuse(*violations))
        await lock_key(session, _user_key(channel, chat_user_id))
        recent = await session.execute(
            select(LinkCode.created_at).where(
                LinkCode.channel == channel,
                LinkCode.chat_user_id == chat_user_id,
                LinkCode.created_at > window_start(now),
            )
        )
        if (limited := hourly_limit_violation(recent.scalars(), policy.link_codes_per_hour, now)) is not None:
            return Outcome(refuse(limited))
        account = (
            await session.execute(select(Account).where(Account.email_key == email_key(email)))
        ).scalar_one_or_none()
        await session.execute(
            update(LinkCode)
            .where(
                LinkCode.channel == channel,
                LinkCode.chat_user_id == chat_user_id,
                LinkCode.closed_at.is_(None),
            )
            .values(closed_at=now)
        )
        code, salt = new_code(), new_salt()
        session.add(
            LinkCode(
                channel=channel,
                chat_user_id=chat_user_id,
                account_id=account.id if account is not None else None,
                code_hash=code_hash(code, salt),
                salt=salt,
                attempts=0,
                created_at=now,
                expires_at=now + timedelta(minutes=policy.link_code_minutes),
            )
        )
        # Composed in both cases so both cost the same; sent only to a registered address.
        message = compose(
            "link_code",
            lang,
            to=account.email if account is not None else clean_email(email),
            code=code,
            minutes=policy.link_code_minutes,
        )
        await session.flush()
        return Outcome(
            Done(CodeSent(minutes=policy.link_code_minutes, attempts=policy.link_code_attempts)),
            account_id=account.id if account is not None else None,
            details={"registered": account is not None},
            mail=[message] if account is not None else [],
        )

    async def replay(session: AsyncSession, _: int | None) -> CodeSent:
        return CodeSent(minutes=policy.link_code_minutes, attempts=policy.link_code_attempts)

    return await run_action(
        sessions,
        action="request_link_code",
        actor=actor,
        params={"channel": channel, "chat_user_id": chat_user_id, "email": email_key(email)},
        work=work,
        replay=replay,
        now=now,
        idempotency_key=idempotency_key,
        mail=mail,
    )


def _clean_code(text: str) -> str:
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", text))


async def verify_link_code(
    *,
    sessions: Sessions,
    policy: Policy,
    channel: str,
    chat_user_id: str,
    code: str,
    now: datetime | None = None,
) -> Done[ChatLinkView] | Refused:
    """Check the code the user typed. Done: the chat user is now linked. Refusals: CODE_WRONG
    (with `attempts_left`; the try is counted), CODE_ATTEMPTS_EXHAUSTED, CODE_EXPIRED (also when
    no code is pending: ask for a new one)."""
    now = now or utcnow()
    actor = f"chat:{channel}:{chat_user_id}"

    async def work(session: AsyncSession) -> Outcome[ChatLinkView]:
        violations = chat_identity_violations(channel, chat_user_id)
        if violations:
            return Outcome(refuse(*violations))
        await lock_key(session, _user_key(channel, chat_user_id))
        stmt = (
            select(LinkCode)
            .where(
                LinkCode.channel == channel,
                LinkCode.chat_user_id == chat_user_id,
                LinkCode.closed_at.is_(None),
            )
            .order_by(LinkCode.id.desc())
            .limit(1)
            .with_for_update()
        )
        pending = (await session.execute(stmt)).scalar_one_or_none()
        if pending is None:
            return Outcome(refuse(Violation(Rule.CODE_EXPIRED, {"minutes": policy.link_code_minutes})))
        if pending.expires_at <= now:
            pending.closed_at = now
            return Outcome(
                refuse(Violation(Rule.CODE_EXPIRED, {"minutes": policy.link_code_minutes})),
                keep_refusal_changes=True,
            )
        # Compared even for an unknown address (where every guess is wrong), so both take as long.
        matches = code_matches(_clean_code(code), pending.salt, pending.code_hash)
        if pending.account_id is None or not matches:
            pending.attempts += 1
            left = policy.link_code_attempts - pending.attempts
            if left <= 0:
                pending.closed_at = now
                violation = Violation(Rule.CODE_ATTEMPTS_EXHAUSTED, {"attempts": policy.link_code_attempts})
            else:
                violation = Violation(Rule.CODE_WRONG, {"attempts_left": left})
            return Outcome(refuse(violation), account_id=pending.account_id, keep_refusal_changes=True)
        pending.closed_at = now
        link = await _link(
            session,
            channel=channel,
            chat_user_id=chat_user_id,
            account_id=pending.account_id,
            by=LinkVerifiedBy.CODE,
            actor=actor,
            now=now,
        )
        return Outcome(Done(_view(link)), account_id=link.account_id, result_id=link.id)

    async def replay(session: AsyncSession, link_id: int | None) -> ChatLinkView:
        link = await session.get(ChatLink, link_id)
        assert link is not None
        return _view(link)

    return await run_action(
        sessions,
        action="verify_link_code",
        actor=actor,
        params={"channel": channel, "chat_user_id": chat_user_id},
        work=work,
        replay=replay,
        now=now,
    )


async def link_by_operator(
    *,
    sessions: Sessions,
    account_id: int,
    channel: str,
    chat_user_id: str,
    actor: str,
    now: datetime | None = None,
) -> Done[ChatLinkView] | Refused:
    """An operator links the chat user to the account (verified_by operator), replacing any
    earlier link of that chat user."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Outcome[ChatLinkView]:
        violations = chat_identity_violations(channel, chat_user_id)
        account = await session.get(Account, account_id)
        if account is None:
            violations.append(Violation(Rule.ACCOUNT_NOT_FOUND, {"account_id": account_id}))
        if violations:
            return Outcome(refuse(*violations))
        link = await _link(
            session,
            channel=channel,
            chat_user_id=chat_user_id,
            account_id=account_id,
            by=LinkVerifiedBy.OPERATOR,
            actor=actor,
            now=now,
        )
        return Outcome(Done(_view(link)), account_id=account_id, result_id=link.id)

    async def replay(session: AsyncSession, link_id: int | None) -> ChatLinkView:
        link = await session.get(ChatLink, link_id)
        assert link is not None
        return _view(link)

    return await run_action(
        sessions,
        action="link_by_operator",
        actor=actor,
        params={"account_id": account_id, "channel": channel, "chat_user_id": chat_user_id},
        work=work,
        replay=replay,
        now=now,
        account_id=account_id,
    )


async def unlink(
    *, sessions: Sessions, channel: str, chat_user_id: str, actor: str, now: datetime | None = None
) -> Done[bool] | Refused:
    """Remove the chat user's link. Done(True) if there was one; NOT_LINKED otherwise."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Outcome[bool]:
        account_id = await linked_account_id(session, channel=channel, chat_user_id=chat_user_id)
        if account_id is None:
            return Outcome(refuse(Violation(Rule.NOT_LINKED, {})))
        await session.execute(
            delete(ChatLink).where(ChatLink.channel == channel, ChatLink.chat_user_id == chat_user_id)
        )
        return Outcome(Done(True), account_id=account_id)

    async def replay(session: AsyncSession, _: int | None) -> bool:
        return True

    return await run_action(
        sessions,
        action="unlink",
        actor=actor,
        params={"channel": channel, "chat_user_id": chat_user_id},
        work=work,
        replay=replay,
        now=now,
    )
