"""Support agents of the web desk: accounts, passwords, sign-in and sessions.

* An operator creates an agent (`sellerbot admin agent create`); the agent sets a password
  through a one-time link with the rules of reset links (256 random bits, stored as a hash,
  single use, expiring). Passwords are hashed with argon2id.
* Sign-in never says whether the address or the password was wrong, and costs the same either
  way (an unknown address is checked against a dummy hash). Failures are counted per address and
  per IP; past `SIGN_IN_FAILURES_PER_HOUR` of either, sign-in is refused for a while.
* A session is a random token in an HttpOnly cookie, stored here as its hash, with the CSRF token
  of its forms. It ends at sign-out, after `idle_minutes` without a request, or when its agent is
  disabled.
* Every change is in the audit log.

The rules, with their tests: docs/domain.md#password_invalid, docs/domain.md#sign_in_failed.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services import audit
from services.db import Sessions, write_transaction
from services.email_address import clean_email, email_key, is_valid_email
from services.models import Agent, AgentRole, AgentSession, AgentToken, AuditOutcome, SignInAttempt, utcnow
from services.rate_limits import hourly_limit_violation, window_start
from services.results import Done, Refused, Rule, Violation, refuse
from services.tokens import new_token, token_hash

PASSWORD_LINK_HOURS = 24
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 200
SIGN_IN_FAILURES_PER_HOUR = 10
SET_PASSWORD_PAGE = "desk/set-password"

_hasher = PasswordHasher()  # argon2id, the library's current parameters
# Checked when the address is unknown, so that a wrong address costs what a wrong password does.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class AgentView:
    id: int
    email: str
    name: str
    role: AgentRole
    language: str
    disabled: bool
    has_password: bool

    @property
    def label(self) -> str:
        """Who the agent is in the records (the handoff's agent, the transcript, the report)."""
        return f"{self.name} (web {self.email})"

    @property
    def is_lead(self) -> bool:
        return self.role is AgentRole.LEAD


def _view(agent: Agent) -> AgentView:
    return AgentView(
        id=agent.id,
        email=agent.email,
        name=agent.name,
        role=agent.role,
        language=agent.language,
        disabled=agent.disabled_at is not None,
        has_password=agent.password_hash is not None,
    )


@dataclass(frozen=True)
class PasswordLink:
    agent: AgentView
    token: str
    expires_at: datetime


def _link_token(session: AsyncSession, agent: Agent, now: datetime) -> tuple[str, datetime]:
    token = new_token()
    expires = now + timedelta(hours=PASSWORD_LINK_HOURS)
    session.add(
        AgentToken(agent_id=agent.id, token_hash=token_hash(token), created_at=now, expires_at=expires)
    )
    return token, expires


async def create_agent(
    *,
    sessions: Sessions,
    email: str,
    name: str,
    role: AgentRole = AgentRole.AGENT,
    language: str = "zh",
    actor: str,
    now: datetime | None = None,
) -> Done[PasswordLink] | Refused:
    """A new agent, without a password yet, and the one-time link to set it.
    Refusals: EMAIL_INVALID, AGENT_EXISTS, NAME_INVALID."""
    now = now or utcnow()
    address = clean_email(email)
    if not is_valid_email(address):
        return refuse(Violation(Rule.EMAIL_INVALID, {}))
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > 120:
        return refuse(Violation(Rule.NAME_INVALID, {"max": 120}))

    async def work(session: AsyncSession) -> Done[PasswordLink] | Refused:
        key = email_key(address)
        if await session.scalar(select(Agent.id).where(Agent.email == key)) is not None:
            return refuse(Violation(Rule.AGENT_EXISTS, {"email": key}))
        agent = Agent(email=key, name=cleaned, role=role, language=language, created_at=now)
        session.add(agent)
        await session.flush()
        token, expires = _link_token(session, agent, now)
        audit.record(
            session,
            actor=actor,
            action="agent_create",
            outcome=AuditOutcome.DONE,
            account_id=None,
            details={"agent_id": agent.id, "email": key, "role": role.value},
            now=now,
        )
        return Done(PasswordLink(_view(agent), token, expires))

    return await write_transaction(sessions, work)


async def new_password_link(
    *, sessions: Sessions, email: str, actor: str, now: datetime | None = None
) -> Done[PasswordLink] | Refused:
    """A new link for an existing agent (a forgotten password, an expired link): earlier links
    stop working. Refusals: AGENT_NOT_FOUND."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Done[PasswordLink] | Refused:
        agent = await session.scalar(select(Agent).where(Agent.email == email_key(clean_email(email))))
        if agent is None or agent.disabled_at is not None:
            return refuse(Violation(Rule.AGENT_NOT_FOUND, {}))
        await session.execute(
            update(AgentToken)
            .where(AgentToken.agent_id == agent.id, AgentToken.used_at.is_(None))
            .values(used_at=now)
        )
        token, expires = _link_token(session, agent, now)
        audit.record(
            session,
            actor=actor,
            action="agent_password_link",
            outcome=AuditOutcome.DONE,
            account_id=None,
            details={"agent_id": agent.id},
            now=now,
        )
        return Done(PasswordLink(_view(agent), token, expires))

    return await write_transaction(sessions, work)


async def password_link_agent(
    session: AsyncSession, *, token: str, now: datetime | None = None
) -> AgentView | None:
    """The agent a password link is for, if it can still be used (looking spends nothing)."""
    now = now or utcnow()
    row = await session.scalar(select(AgentToken).where(AgentToken.token_hash == token_hash(token)))
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    agent = await session.get(Agent, row.agent_id)
    if agent is None or agent.disabled_at is not None:
        return None
    return _view(agent)


def password_violation(password: str) -> Violation | None:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        return Violation(Rule.PASSWORD_INVALID, {"min": MIN_PASSWORD_CHARS, "max": MAX_PASSWORD_CHARS})
    return None


async def set_password(
    *, sessions: Sessions, token: str, password: str, now: datetime | None = None
) -> Done[AgentView] | Refused:
    """Spend a password link: the agent's password becomes `password`, and their sessions end.
    Refusals: TOKEN_INVALID (unknown, used or expired), PASSWORD_INVALID (length)."""
    now = now or utcnow()
    if (violation := password_violation(password)) is not None:
        return refuse(violation)
    hashed = _hasher.hash(password)  # slow on purpose: outside the transaction

    async def work(session: AsyncSession) -> Done[AgentView] | Refused:
        spent = await session.execute(
            update(AgentToken)
            .where(
                AgentToken.token_hash == token_hash(token),
                AgentToken.used_at.is_(None),
                AgentToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(AgentToken.agent_id)
        )
        agent_id = spent.scalar_one_or_none()
        agent = await session.get(Agent, agent_id) if agent_id is not None else None
        if agent is None or agent.disabled_at is not None:
            return refuse(Violation(Rule.TOKEN_INVALID, {}))
        agent.password_hash = hashed
        await _end_sessions(session, agent.id, now)
        audit.record(
            session,
            actor=f"agent:{agent.email}",
            action="agent_password_set",
            outcome=AuditOutcome.DONE,
            account_id=None,
            details={"agent_id": agent.id},
            now=now,
        )
        return Done(_view(agent))

    return await write_transaction(sessions, work)


async def _end_sessions(session: AsyncSession, agent_id: int, now: datetime) -> None:
    await session.execute(
        update(AgentSession)
        .where(AgentSession.agent_id == agent_id, AgentSession.ended_at.is_(None))
        .values(ended_at=now)
    )


async def disable_agent(
    *, sessions: Sessions, email: str, actor: str, now: datetime | None = None
) -> Done[AgentView] | Refused:
    """The agent can no longer sign in; their sessions end at once. Refusals: AGENT_NOT_FOUND."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Done[AgentView] | Refused:
        agent = await session.scalar(select(Agent).where(Agent.email == email_key(clean_email(email))))
        if agent is None:
            return refuse(Violation(Rule.AGENT_NOT_FOUND, {}))
        agent.disabled_at = agent.disabled_at or now
        await _end_sessions(session, agent.id, now)
        audit.record(
            session,
            actor=actor,
            action="agent_disable",
            outcome=AuditOutcome.DONE,
            account_id=None,
            details={"agent_id": agent.id},
            now=now,
        )
        return Done(_view(agent))

    return await write_transaction(sessions, work)


async def list_agents(session: AsyncSession) -> list[AgentView]:
    return [_view(a) for a in (await session.scalars(select(Agent).order_by(Agent.id))).all()]


@dataclass(frozen=True)
class SignedIn:
    agent: AgentView
    session_token: str
    csrf_token: str


def _attempt_keys(email: str, ip: str) -> list[str]:
    return [f"email:{email_key(clean_email(email))}"[:300], f"ip:{ip}"[:300]]


async def sign_in(
    *, sessions: Sessions, email: str, password: str, ip: str, now: datetime | None = None
) -> Done[SignedIn] | Refused:
    """A new session if the address and password are right. Refusals: SIGN_IN_FAILED (either was
    wrong, or the agent is disabled: deliberately one rule), RATE_LIMITED (too many failures from
    this address or this IP in the last hour)."""
    now = now or utcnow()
    keys = _attempt_keys(email, ip)
    async with sessions() as session:
        for key in keys:
            recent = await session.scalars(
                select(SignInAttempt.at).where(SignInAttempt.key == key, SignInAttempt.at > window_start(now))
            )
            if (violation := hourly_limit_violation(recent, SIGN_IN_FAILURES_PER_HOUR, now)) is not None:
                return refuse(violation)
        agent = await session.scalar(select(Agent).where(Agent.email == email_key(clean_email(email))))
    stored = agent.password_hash if agent is not None and agent.password_hash else _DUMMY_HASH
    try:
        matches = _hasher.verify(stored, password) and stored is not _DUMMY_HASH
    except (VerificationError, InvalidHashError):
        matches = False
    usable = matches and agent is not None and agent.disabled_at is None

    async def work(session: AsyncSession) -> Done[SignedIn] | Refused:
        if not usable or agent is None:
            for key in keys:
                session.add(SignInAttempt(key=key, at=now))
            audit.record(
                session,
                actor=f"web:{ip}",
                action="agent_sign_in",
                outcome=AuditOutcome.REFUSED,
                account_id=None,
                details={"email": keys[0].removeprefix("email:")},
                now=now,
            )
            return refuse(Violation(Rule.SIGN_IN_FAILED, {}))
        token, csrf = new_token(), secrets.token_urlsafe(32)
        session.add(
            AgentSession(
                token_hash=token_hash(token),
                agent_id=agent.id,
                csrf_token=csrf,
                created_at=now,
                last_seen_at=now,
            )
        )
        audit.record(
            session,
            actor=f"agent:{agent.email}",
            action="agent_sign_in",
            outcome=AuditOutcome.DONE,
            account_id=None,
            details={"ip": ip},
            now=now,
        )
        return Done(SignedIn(_view(agent), token, csrf))

    return await write_transaction(sessions, work)


@dataclass(frozen=True)
class ActiveSession:
    id: int
    agent: AgentView
    csrf_token: str

    def csrf_matches(self, offered: str) -> bool:
        return bool(offered) and hmac.compare_digest(offered, self.csrf_token)


async def session_of(
    sessions: Sessions, token: str, *, idle_minutes: int, now: datetime | None = None
) -> ActiveSession | None:
    """The live session a cookie's token stands for (its idle clock restarted), or None: unknown,
    ended, idle too long, or its agent disabled."""
    if not token:
        return None
    now = now or utcnow()
    async with sessions() as session, session.begin():
        row = await session.scalar(select(AgentSession).where(AgentSession.token_hash == token_hash(token)))
        if row is None or row.ended_at is not None:
            return None
        agent = await session.get(Agent, row.agent_id)
        if agent is None or agent.disabled_at is not None:
            return None
        if row.last_seen_at + timedelta(minutes=idle_minutes) <= now:
            row.ended_at = now
            return None
        # Written at most once a minute: a page's requests do not each write.
        if now - row.last_seen_at >= timedelta(minutes=1):
            row.last_seen_at = now
        return ActiveSession(row.id, _view(agent), row.csrf_token)


async def sign_out(sessions: Sessions, session_id: int, *, now: datetime | None = None) -> None:
    now = now or utcnow()
    async with sessions() as session, session.begin():
        row = await session.get(AgentSession, session_id)
        if row is not None and row.ended_at is None:
            row.ended_at = now
            agent = await session.get(Agent, row.agent_id)
            audit.record(
                session,
                actor=f"agent:{agent.email if agent else row.agent_id}",
                action="agent_sign_out",
                outcome=AuditOutcome.DONE,
                account_id=None,
                details={},
                now=now,
            )


async def set_language(sessions: Sessions, agent_id: int, language: str) -> None:
    async with sessions() as session, session.begin():
        await session.execute(update(Agent).where(Agent.id == agent_id).values(language=language))


async def prune(sessions: Sessions, *, now: datetime | None = None, keep_days: int = 30) -> int:
    """Housekeeping: forget failed attempts older than an hour and sessions ended long ago."""
    now = now or utcnow()
    async with sessions() as session, session.begin():
        attempts = await session.execute(delete(SignInAttempt).where(SignInAttempt.at <= window_start(now)))
        ended = await session.execute(
            delete(AgentSession).where(
                func.coalesce(AgentSession.ended_at, AgentSession.last_seen_at)
                < now - timedelta(days=keep_days)
            )
        )
        return int(attempts.rowcount or 0) + int(ended.rowcount or 0)
