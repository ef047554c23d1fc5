"""Changing the login e-mail: a licence match sends a confirmation link to the NEW address;
opening it changes the login and tells the OLD address; no match hands over to an agent and
changes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from services.accounts import get_account
from services.db import Database
from services.email_change import ConfirmationSent, NeedsAgent, confirm_email_change, request_email_change
from services.mail import OutboxMailer
from services.mail_dispatch import MailDispatcher
from services.password_reset import request_password_reset, use_reset_token
from services.policy import Policy
from services.results import Rule
from tests.services.conftest import make_account, make_licence

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)


async def ask(
    db: Database, policy: Policy, mail: MailDispatcher, licence: str, new_email: str, now: datetime = T0
):
    return await request_email_change(
        sessions=db.sessions,
        policy=policy,
        mail=mail,
        licence=licence,
        new_email=new_email,
        lang="zh",
        actor="chat:test:1",
        now=now,
    )


async def confirm(db: Database, policy: Policy, mail: MailDispatcher, token: str, now: datetime = T0):
    return await confirm_email_change(
        sessions=db.sessions, policy=policy, mail=mail, token=token, lang="en", actor="page", now=now
    )


async def sent(mail: MailDispatcher, outbox: OutboxMailer) -> list:
    await mail.drain()
    return outbox.messages()


def token_of(message) -> str:
    return re.search(r"token=([\w-]+)", message.get_content()).group(1)


async def email_of(db: Database, account_id: int) -> str:
    async with db.sessions() as session:
        return (await get_account(session, account_id=account_id, policy=Policy())).email


async def test_a_licence_match_mails_the_new_address_and_changes_nothing_yet(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="old@example.com")
    result = await ask(db, policy, mail, account.licence.lower(), "New@Example.org")
    assert result.ok and result.value == ConfirmationSent(new_email_masked="N***@Example.org", minutes=1440)
    message, warning = await sent(mail, outbox)
    assert message["To"] == "New@Example.org"
    assert "/confirm-email?token=" in message.get_content()
    # the current address is warned at once (a licence number is no secret), with no link
    assert warning["To"] == "old@example.com"
    assert "N***@Example.org" in warning.get_content() and "token=" not in warning.get_content()
    assert await email_of(db, account.id) == "old@example.com"


async def test_confirming_changes_the_login_and_tells_the_old_address(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="old@example.com")
    await ask(db, policy, mail, account.licence, "new@example.org")
    confirmation, _warning = await sent(mail, outbox)
    result = await confirm(db, policy, mail, token_of(confirmation), now=T0 + timedelta(minutes=5))
    assert result.ok and result.value.new_email == "new@example.org"
    assert await email_of(db, account.id) == "new@example.org"
    *_, notice = await sent(mail, outbox)
    assert notice["To"] == "old@example.com"
    assert "n***@example.org" in notice.get_content()
    # the link works once
    again = await confirm(db, policy, mail, token_of(confirmation), now=T0 + timedelta(minutes=6))
    assert again.rules == {Rule.TOKEN_INVALID}


async def test_no_licence_match_needs_an_agent_and_changes_nothing(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="old@example.com")
    result = await ask(db, policy, mail, make_licence(987654), "new@example.org")
    assert result.ok and result.value == NeedsAgent(reason="licence_not_found")
    assert await sent(mail, outbox) == []
    assert await email_of(db, account.id) == "old@example.com"


@pytest.mark.parametrize(
    ("licence", "new_email", "rules"),
    [
        ("123", "new@example.org", {Rule.LICENCE_INVALID}),
        (None, "not-an-address", {Rule.EMAIL_INVALID}),
        ("ABC", "", {Rule.LICENCE_INVALID, Rule.EMAIL_INVALID}),
        (None, "OLD@example.com", {Rule.EMAIL_UNCHANGED}),
    ],
)
async def test_bad_requests_are_refused(
    db: Database,
    policy: Policy,
    mail: MailDispatcher,
    outbox: OutboxMailer,
    licence: str | None,
    new_email: str,
    rules: set[Rule],
) -> None:
    account = await make_account(db, policy, email="old@example.com")
    result = await ask(db, policy, mail, licence or account.licence, new_email)
    assert result.rules == rules
    assert await sent(mail, outbox) == []


async def test_the_confirmation_link_expires(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="old@example.com")
    await ask(db, policy, mail, account.licence, "new@example.org")
    confirmation, _warning = await sent(mail, outbox)
    late = T0 + timedelta(minutes=policy.email_change_token_minutes)
    assert (await confirm(db, policy, mail, token_of(confirmation), now=late)).rules == {Rule.TOKEN_INVALID}
    assert await email_of(db, account.id) == "old@example.com"


async def test_a_newer_request_replaces_the_older_link(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="old@example.com")
    await ask(db, policy, mail, account.licence, "first@example.org")
    await ask(db, policy, mail, account.licence, "second@example.org", now=T0 + timedelta(minutes=1))
    older, _, newer, _ = await sent(mail, outbox)
    assert (await confirm(db, policy, mail, token_of(older))).rules == {Rule.TOKEN_INVALID}
    assert (await confirm(db, policy, mail, token_of(newer))).ok
    assert await email_of(db, account.id) == "second@example.org"


async def test_three_requests_an_hour_per_account_so_nobody_can_flood_its_mailboxes(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="old@example.com")
    other = await make_account(db, policy, email="other@example.com")
    results = [
        await ask(db, policy, mail, account.licence, f"new{m}@example.org", now=T0 + timedelta(minutes=m))
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
    messages = await sent(mail, outbox)
    assert len(messages) == 6  # the refused request mailed nobody
    assert "new30@example.org" not in {m["To"] for m in messages}
    # the refused request did not replace the pending link either
    assert (await confirm(db, policy, mail, token_of(messages[4]), now=T0 + timedelta(minutes=31))).ok
    assert await email_of(db, account.id) == "new20@example.org"
    # another account is not affected, and an hour after the first request a slot is free again
    assert (await ask(db, policy, mail, other.licence, "x@example.org", now=T0 + timedelta(minutes=30))).ok
    assert (await ask(db, policy, mail, account.licence, "y@example.org", now=T0 + timedelta(minutes=61))).ok


async def test_requests_per_hour_is_policy(db: Database, mail: MailDispatcher) -> None:
    policy = Policy(email_changes_per_hour=1)
    account = await make_account(db, policy, email="old@example.com")
    assert (await ask(db, policy, mail, account.licence, "a@example.org")).ok
    later = T0 + timedelta(minutes=5)
    assert (await ask(db, policy, mail, account.licence, "b@example.org", now=later)).rules == {
        Rule.RATE_LIMITED
    }


async def test_an_address_taken_meanwhile_is_refused_at_confirmation(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="old@example.com")
    await ask(db, policy, mail, account.licence, "wanted@example.org")
    # the request itself does not reveal that the address is free or taken
    await make_account(db, policy, email="Wanted@example.org")
    confirmation, _warning = await sent(mail, outbox)
    result = await confirm(db, policy, mail, token_of(confirmation))
    assert result.rules == {Rule.EMAIL_TAKEN}
    assert await email_of(db, account.id) == "old@example.com"


async def test_confirming_retires_reset_links_sent_to_the_old_address(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="old@example.com")
    await request_password_reset(
        sessions=db.sessions, policy=policy, mail=mail, email="old@example.com", lang="en", actor="t", now=T0
    )
    await ask(db, policy, mail, account.licence, "new@example.org")
    reset, confirmation, _warning = await sent(mail, outbox)
    assert (await confirm(db, policy, mail, token_of(confirmation))).ok
    used = await use_reset_token(sessions=db.sessions, token=token_of(reset), actor="page", now=T0)
    assert used.rules == {Rule.TOKEN_INVALID}
