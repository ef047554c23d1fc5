"""Agents of the web desk: password links, sign-in, sessions (services.agents)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services import agents
from services.audit import events
from services.db import Database
from services.models import AgentRole, AgentToken
from services.results import Refused, Rule

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


async def agent_with_password(db: Database, email: str = "li@support.example") -> agents.AgentView:
    link = (
        await agents.create_agent(sessions=db.sessions, email=email, name="Li Na", actor="op", now=NOW)
    ).value
    done = await agents.set_password(sessions=db.sessions, token=link.token, password=PASSWORD, now=NOW)
    return done.value


async def test_a_password_link_is_hashed_at_rest_single_use_and_expires(db: Database) -> None:
    link = (
        await agents.create_agent(
            sessions=db.sessions,
            email="Li@Support.example",
            name=" Li  Na ",
            role=AgentRole.LEAD,
            actor="op",
            now=NOW,
        )
    ).value
    assert link.agent.email == "li@support.example" and link.agent.name == "Li Na" and link.agent.is_lead
    async with db.sessions() as session:
        stored = (await session.scalars(select(AgentToken.token_hash))).all()
        assert link.token not in stored and len(stored) == 1
        # Looking at the link spends nothing
        assert (
            await agents.password_link_agent(session, token=link.token, now=NOW)
        ).email == link.agent.email
        assert await agents.password_link_agent(session, token=link.token, now=link.expires_at) is None
    short = await agents.set_password(sessions=db.sessions, token=link.token, password="short", now=NOW)
    assert isinstance(short, Refused) and short.rules == {Rule.PASSWORD_INVALID}
    done = await agents.set_password(sessions=db.sessions, token=link.token, password=PASSWORD, now=NOW)
    assert done.value.has_password
    again = await agents.set_password(sessions=db.sessions, token=link.token, password=PASSWORD, now=NOW)
    assert isinstance(again, Refused) and again.rules == {Rule.TOKEN_INVALID}
    dup = await agents.create_agent(
        sessions=db.sessions, email="li@support.example", name="x", actor="op", now=NOW
    )
    assert isinstance(dup, Refused) and dup.rules == {Rule.AGENT_EXISTS}


async def test_sign_in_says_the_same_for_a_wrong_address_and_a_wrong_password(db: Database) -> None:
    await agent_with_password(db)
    wrong_password = await agents.sign_in(
        sessions=db.sessions, email="li@support.example", password="nope nope nope", ip="10.0.0.1", now=NOW
    )
    wrong_address = await agents.sign_in(
        sessions=db.sessions, email="who@support.example", password=PASSWORD, ip="10.0.0.1", now=NOW
    )
    assert wrong_password.violations == wrong_address.violations
    assert wrong_password.rules == {Rule.SIGN_IN_FAILED}
    signed = await agents.sign_in(
        sessions=db.sessions, email="LI@support.example", password=PASSWORD, ip="10.0.0.1", now=NOW
    )
    live = await agents.session_of(db.sessions, signed.value.session_token, idle_minutes=30, now=NOW)
    assert live is not None and live.agent.name == "Li Na" and live.csrf_matches(signed.value.csrf_token)
    assert not live.csrf_matches("") and not live.csrf_matches("forged")
    async with db.sessions() as session:
        actions = [(e.action, e.outcome.value) for e in await events(session, action="agent_sign_in")]
    assert actions.count(("agent_sign_in", "refused")) == 2 and actions.count(("agent_sign_in", "done")) == 1


@pytest.mark.slow  # a password hash per attempt, many attempts
async def test_sign_in_is_rate_limited_per_address_and_per_ip(db: Database) -> None:
    await agent_with_password(db)
    for n in range(agents.SIGN_IN_FAILURES_PER_HOUR):
        await agents.sign_in(
            sessions=db.sessions, email="li@support.example", password="bad", ip=f"10.0.0.{n}", now=NOW
        )
    # Even the right password waits: the address has had too many failures
    limited = await agents.sign_in(
        sessions=db.sessions, email="li@support.example", password=PASSWORD, ip="10.9.9.9", now=NOW
    )
    assert isinstance(limited, Refused) and limited.rules == {Rule.RATE_LIMITED}
    later = await agents.sign_in(
        sessions=db.sessions,
        email="li@support.example",
        password=PASSWORD,
        ip="10.9.9.9",
        now=NOW + timedelta(hours=1, minutes=1),
    )
    assert not isinstance(later, Refused)
    # Per IP: one address after another from the same place
    for n in range(agents.SIGN_IN_FAILURES_PER_HOUR):
        await agents.sign_in(
            sessions=db.sessions, email=f"x{n}@a.example", password="bad", ip="10.1.1.1", now=NOW
        )
    from_ip = await agents.sign_in(
        sessions=db.sessions, email="li@support.example", password=PASSWORD, ip="10.1.1.1", now=NOW
    )
    assert isinstance(from_ip, Refused) and from_ip.rules == {Rule.RATE_LIMITED}


async def test_sessions_end_when_idle_at_sign_out_and_when_the_agent_is_disabled(db: Database) -> None:
    await agent_with_password(db)

    async def signed_in() -> str:
        done = await agents.sign_in(
            sessions=db.sessions, email="li@support.example", password=PASSWORD, ip="10.0.0.1", now=NOW
        )
        return done.value.session_token

    idle = await signed_in()
    assert (
        await agents.session_of(db.sessions, idle, idle_minutes=30, now=NOW + timedelta(minutes=31)) is None
    )
    out = await signed_in()
    live = await agents.session_of(db.sessions, out, idle_minutes=30, now=NOW)
    await agents.sign_out(db.sessions, live.id, now=NOW)
    assert await agents.session_of(db.sessions, out, idle_minutes=30, now=NOW) is None
    kept = await signed_in()
    await agents.disable_agent(sessions=db.sessions, email="li@support.example", actor="op", now=NOW)
    assert await agents.session_of(db.sessions, kept, idle_minutes=30, now=NOW) is None
    refused = await agents.sign_in(
        sessions=db.sessions, email="li@support.example", password=PASSWORD, ip="10.0.0.1", now=NOW
    )
    assert isinstance(refused, Refused) and refused.rules == {Rule.SIGN_IN_FAILED}


async def test_a_blank_or_overlong_name_and_an_unknown_agent_are_refused(db: Database) -> None:
    for name in ("   ", "x" * 121):
        refused = await agents.create_agent(
            sessions=db.sessions, email="li@support.example", name=name, actor="op", now=NOW
        )
        assert isinstance(refused, Refused) and refused.rules == {Rule.NAME_INVALID}
    async with db.sessions() as session:
        assert await agents.list_agents(session) == []
    for change in (agents.new_password_link, agents.disable_agent):
        unknown = await change(sessions=db.sessions, email="nobody@support.example", actor="op", now=NOW)
        assert isinstance(unknown, Refused) and unknown.rules == {Rule.AGENT_NOT_FOUND}
