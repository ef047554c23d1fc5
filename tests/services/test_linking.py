"""Linking a chat user: a 6-digit code mailed to the registered address (hashed, 10 minutes,
5 tries), the same reply for unknown addresses, a per-user rate limit, and operator links."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.db import Database
from services.linking import (
    chat_links,
    link_by_operator,
    linked_account_id,
    request_link_code,
    unlink,
    verify_link_code,
)
from services.mail import OutboxMailer
from services.mail_dispatch import MailDispatcher
from services.models import LinkCode, LinkVerifiedBy
from services.policy import Policy
from services.results import Rule
from tests.services.conftest import make_account

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
USER = {"channel": "telegram", "chat_user_id": "424242"}


async def ask(db: Database, policy: Policy, mail: MailDispatcher, email: str, now: datetime = T0, **user):
    return await request_link_code(
        sessions=db.sessions, policy=policy, mail=mail, email=email, lang="en", now=now, **(user or USER)
    )


async def verify(db: Database, policy: Policy, code: str, now: datetime = T0, **user):
    return await verify_link_code(sessions=db.sessions, policy=policy, code=code, now=now, **(user or USER))


async def codes(mail: MailDispatcher, outbox: OutboxMailer) -> list[str]:
    await mail.drain()
    return [re.search(r"^\s+(\d{6})\s*$", m.get_content(), re.M).group(1) for m in outbox.messages()]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def linked(db: Database, **user) -> int | None:
    async with db.sessions() as session:
        return await linked_account_id(session, **(user or USER))


async def test_the_right_code_links_the_chat_user(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="owner@example.com")
    result = await ask(db, policy, mail, "OWNER@example.com")
    assert result.ok and (result.value.minutes, result.value.attempts) == (10, 5)
    (code,) = await codes(mail, outbox)
    assert outbox.messages()[0]["To"] == "owner@example.com"
    async with db.sessions() as session:
        stored = (await session.execute(select(LinkCode))).scalar_one()
    assert code not in (stored.code_hash, stored.salt)
    done = await verify(db, policy, f" {code[:3]} {code[3:]} ", now=T0 + timedelta(minutes=9))
    assert done.ok and done.value.account_id == account.id and done.value.verified_by is LinkVerifiedBy.CODE
    assert await linked(db) == account.id
    # the code is used up
    assert (await verify(db, policy, code, now=T0 + timedelta(minutes=9))).rules == {Rule.CODE_EXPIRED}


async def test_an_unknown_address_gets_the_same_reply_and_every_code_fails(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    await make_account(db, policy, email="owner@example.com")
    known = await ask(db, policy, mail, "owner@example.com", channel="qq", chat_user_id="1")
    unknown = await ask(db, policy, mail, "nobody@example.com")
    assert known == unknown
    assert len(await codes(mail, outbox)) == 1
    for attempt in range(4):
        result = await verify(db, policy, f"{attempt:06d}")
        assert result.rules == {Rule.CODE_WRONG}
    assert await linked(db) is None


async def test_five_wrong_tries_block_the_code(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    await make_account(db, policy, email="owner@example.com")
    await ask(db, policy, mail, "owner@example.com")
    (code,) = await codes(mail, outbox)
    lefts = []
    for _ in range(4):
        result = await verify(db, policy, wrong(code))
        lefts.append(result.violation(Rule.CODE_WRONG).params["attempts_left"])
    assert lefts == [4, 3, 2, 1]
    fifth = await verify(db, policy, wrong(code))
    assert fifth.rules == {Rule.CODE_ATTEMPTS_EXHAUSTED}
    # even the right code is useless now
    assert not (await verify(db, policy, code)).ok
    assert await linked(db) is None


async def test_the_code_expires_after_ten_minutes(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    await make_account(db, policy, email="owner@example.com")
    await ask(db, policy, mail, "owner@example.com")
    (code,) = await codes(mail, outbox)
    result = await verify(db, policy, code, now=T0 + timedelta(minutes=10))
    assert result.rules == {Rule.CODE_EXPIRED}
    assert await linked(db) is None


async def test_a_new_code_replaces_the_old_one(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="owner@example.com")
    await ask(db, policy, mail, "owner@example.com")
    await ask(db, policy, mail, "owner@example.com", now=T0 + timedelta(minutes=1))
    old, new = await codes(mail, outbox)
    if old != new:
        assert (await verify(db, policy, old)).rules == {Rule.CODE_WRONG}
    assert (await verify(db, policy, new)).value.account_id == account.id


async def test_codes_per_chat_user_per_hour_are_limited(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    await make_account(db, policy, email="owner@example.com")
    results = [
        await ask(db, policy, mail, f"probe{i}@example.com", now=T0 + timedelta(minutes=i)) for i in range(6)
    ]
    assert [r.ok for r in results] == [True] * 5 + [False]
    assert results[-1].rules == {Rule.RATE_LIMITED}
    # the limit is per chat user: another user may still ask
    assert (await ask(db, policy, mail, "owner@example.com", channel="telegram", chat_user_id="7")).ok


@pytest.mark.parametrize(
    ("channel", "user"),
    [("", "1"), ("Telegram", "1"), ("telegram", ""), ("telegram", "a b"), ("qq", "x" * 129)],
)
async def test_chat_identity_must_be_valid(
    db: Database, policy: Policy, mail: MailDispatcher, channel: str, user: str
) -> None:
    result = await ask(db, policy, mail, "owner@example.com", channel=channel, chat_user_id=user)
    assert result.rules == {Rule.CHAT_IDENTITY_INVALID}


async def test_a_malformed_address_is_refused(db: Database, policy: Policy, mail: MailDispatcher) -> None:
    assert (await ask(db, policy, mail, "owner at example")).rules == {Rule.EMAIL_INVALID}


async def test_operator_links_and_relinks(db: Database, policy: Policy) -> None:
    first = await make_account(db, policy)
    second = await make_account(db, policy)
    result = await link_by_operator(sessions=db.sessions, account_id=first.id, actor="operator:li", **USER)
    assert result.ok and result.value.verified_by is LinkVerifiedBy.OPERATOR
    assert (
        await link_by_operator(sessions=db.sessions, account_id=second.id, actor="operator:li", **USER)
    ).ok
    assert await linked(db) == second.id
    async with db.sessions() as session:
        assert await chat_links(session, account_id=first.id) == []
    missing = await link_by_operator(
        sessions=db.sessions, account_id=999, actor="op", channel="qq", chat_user_id=""
    )
    assert missing.rules == {Rule.ACCOUNT_NOT_FOUND, Rule.CHAT_IDENTITY_INVALID}
    assert (await unlink(sessions=db.sessions, actor="op", **USER)).ok
    assert (await unlink(sessions=db.sessions, actor="op", **USER)).rules == {Rule.NOT_LINKED}
    assert await linked(db) is None
