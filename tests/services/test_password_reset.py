"""Password reset: the link goes only to the registered address; the token is random, hashed,
single use and short-lived; at most 3 links an hour; and nothing tells a registered address
from an unknown one — not the result, not the rate limit, not the time taken."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.db import Database
from services.mail import OutboxMailer, OutgoingMail
from services.mail_dispatch import MailDispatcher
from services.models import ResetToken
from services.password_reset import request_password_reset, use_reset_token
from services.policy import Policy
from services.results import Rule
from services.tokens import token_hash
from tests.services.conftest import make_account

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)


async def ask(db: Database, policy: Policy, mail: MailDispatcher, email: str, *, now: datetime = T0, **kw):
    return await request_password_reset(
        sessions=db.sessions,
        policy=policy,
        mail=mail,
        email=email,
        lang="en",
        actor="chat:test:1",
        now=now,
        **kw,
    )


def tokens_in(outbox: OutboxMailer) -> list[str]:
    return [re.search(r"token=([\w-]+)", m.get_content()).group(1) for m in outbox.messages()]


async def test_the_link_goes_to_the_registered_address_only(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    await make_account(db, policy, email="Owner@Example.com")
    result = await ask(db, policy, mail, " owner@EXAMPLE.com ")
    assert result.ok and result.value.minutes == 30
    await mail.drain()
    (message,) = outbox.messages()
    assert message["To"] == "Owner@Example.com"  # the stored address, not the one typed
    assert "https://merchant.example/sellerbot/reset-password?token=" in message.get_content()


async def test_an_unknown_address_gets_the_same_result_and_no_mail(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    await make_account(db, policy, email="owner@example.com")
    known = await ask(db, policy, mail, "owner@example.com")
    unknown = await ask(db, policy, mail, "stranger@example.com")
    assert known == unknown
    await mail.drain()
    assert [m["To"] for m in outbox.messages()] == ["owner@example.com"]


async def test_the_token_is_random_hashed_and_long(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    await make_account(db, policy, email="owner@example.com")
    for minute in range(3):
        await ask(db, policy, mail, "owner@example.com", now=T0 + timedelta(minutes=minute))
    await mail.drain()
    tokens = tokens_in(outbox)
    assert len(set(tokens)) == 3
    assert all(len(t) >= 43 for t in tokens)  # 32 bytes of randomness, URL-safe base64
    async with db.sessions() as session:
        stored = list((await session.execute(select(ResetToken.token_hash))).scalars())
    assert set(stored) == {token_hash(t) for t in tokens}
    assert not set(stored) & set(tokens)


async def test_a_token_works_once_and_retires_the_others(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="owner@example.com")
    await ask(db, policy, mail, "owner@example.com")
    await ask(db, policy, mail, "owner@example.com", now=T0 + timedelta(minutes=1))
    await mail.drain()
    first, second = tokens_in(outbox)
    used = await use_reset_token(
        sessions=db.sessions, token=first, actor="page", now=T0 + timedelta(minutes=2)
    )
    assert used.ok and used.value == account.id
    for token in (first, second, "made-up-token"):
        again = await use_reset_token(
            sessions=db.sessions, token=token, actor="page", now=T0 + timedelta(minutes=3)
        )
        assert again.rules == {Rule.TOKEN_INVALID}


@pytest.mark.parametrize(("minutes", "valid"), [(29, True), (30, False), (31, False)])
async def test_a_token_lives_30_minutes(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer, minutes: int, valid: bool
) -> None:
    await make_account(db, policy, email="owner@example.com")
    await ask(db, policy, mail, "owner@example.com")
    await mail.drain()
    (token,) = tokens_in(outbox)
    result = await use_reset_token(
        sessions=db.sessions, token=token, actor="page", now=T0 + timedelta(minutes=minutes)
    )
    assert result.ok is valid


async def test_concurrent_uses_of_one_token_succeed_once(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    await make_account(db, policy, email="owner@example.com")
    await ask(db, policy, mail, "owner@example.com")
    await mail.drain()
    (token,) = tokens_in(outbox)
    results = await asyncio.gather(
        *(use_reset_token(sessions=db.sessions, token=token, actor="page", now=T0) for _ in range(8))
    )
    assert sum(r.ok for r in results) == 1


@pytest.mark.parametrize("registered", [True, False])
async def test_three_links_an_hour_alike_for_known_and_unknown_addresses(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer, registered: bool
) -> None:
    if registered:
        await make_account(db, policy, email="owner@example.com")
    results = [
        await ask(db, policy, mail, "owner@example.com", now=T0 + timedelta(minutes=m))
        for m in (0, 10, 20, 30)
    ]
    assert [r.ok for r in results] == [True, True, True, False]
    limited = results[-1]
    assert limited.rules == {Rule.RATE_LIMITED}
    assert limited.violation(Rule.RATE_LIMITED).params == {
        "limit": 3,
        "per": "hour",
        "retry_after_minutes": 30,
    }
    # an hour after the first request one slot is free again
    assert (await ask(db, policy, mail, "Owner@Example.com", now=T0 + timedelta(minutes=61))).ok
    await mail.drain()
    assert len(outbox.messages()) == (4 if registered else 0)


async def test_links_per_hour_is_policy(db: Database, mail: MailDispatcher) -> None:
    policy = Policy(reset_links_per_hour=1)
    await make_account(db, policy, email="owner@example.com")
    assert (await ask(db, policy, mail, "owner@example.com")).ok
    assert (await ask(db, policy, mail, "owner@example.com", now=T0 + timedelta(minutes=5))).rules == {
        Rule.RATE_LIMITED
    }


@pytest.mark.parametrize("email", ["", "not an address", "owner@", "@example.com"])
async def test_a_malformed_address_is_refused(
    db: Database, policy: Policy, mail: MailDispatcher, email: str
) -> None:
    assert (await ask(db, policy, mail, email)).rules == {Rule.EMAIL_INVALID}


async def test_the_reply_does_not_wait_for_delivery(db: Database, policy: Policy) -> None:
    """A registered address's reply must not be slower than an unknown one's: delivery happens
    after the reply, however slow the mail server is."""
    release = asyncio.Event()
    delivered: list[OutgoingMail] = []

    class StuckMailer:
        async def send(self, message: OutgoingMail) -> None:
            await release.wait()
            delivered.append(message)

    mail = MailDispatcher(StuckMailer(), public_base_url="https://x.example")
    await make_account(db, policy, email="owner@example.com")
    result = await asyncio.wait_for(ask(db, policy, mail, "owner@example.com"), timeout=10)
    assert result.ok and delivered == []
    release.set()
    await mail.drain()
    assert [m.to for m in delivered] == ["owner@example.com"]


async def test_a_failed_delivery_is_logged_not_raised(db: Database, policy: Policy, caplog) -> None:
    class BrokenMailer:
        async def send(self, message: OutgoingMail) -> None:
            raise OSError("connection refused")

    mail = MailDispatcher(BrokenMailer(), public_base_url="https://x.example")
    await make_account(db, policy, email="owner@example.com")
    assert (await ask(db, policy, mail, "owner@example.com")).ok
    await mail.drain()
    assert mail.failures == 1
    assert "mail delivery failed" in caplog.text and "token=" not in caplog.text


async def test_a_repeated_idempotency_key_sends_one_link(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    await make_account(db, policy, email="owner@example.com")
    results = [
        await ask(db, policy, mail, "owner@example.com", idempotency_key="tg:update:5") for _ in range(3)
    ]
    assert all(r.ok for r in results)
    await mail.drain()
    assert len(outbox.messages()) == 1
