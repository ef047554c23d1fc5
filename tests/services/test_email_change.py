"""Changing the login e-mail: a licence match sends a confirmation link to the NEW address;
opening it changes the login and tells the OLD address; no match hands over to an agent and
changes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from services.accounts import get_account
from services.db import Database
from services.email_change import (
    ChangeStopped,
    ConfirmationSent,
    NeedsAgent,
    confirm_email_change,
    request_email_change,
    stop_email_change,
)
from services.linking import link_by_operator, linked_account_id
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
    # the current address is warned at once (a licence number is no secret), with a link that
    # stops the change, not the one that confirms it
    assert warning["To"] == "old@example.com"
    assert (
        "N***@Example.org" in warning.get_content() and "/stop-email-change?token=" in warning.get_content()
    )
    assert "/confirm-email" not in warning.get_content()
    assert token_of(warning) != token_of(message)
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


# --- the link in the warning: stop the change, or undo it -------------------------------------


async def stop(db: Database, policy: Policy, mail: MailDispatcher, token: str, now: datetime = T0):
    return await stop_email_change(
        sessions=db.sessions, policy=policy, mail=mail, token=token, lang="en", actor="page", now=now
    )


async def warned(db, policy, mail, outbox, account, new_email: str, now: datetime = T0) -> tuple[str, str]:
    """Request a change; the (confirmation, stop) tokens of the two mails it sent."""
    before = len(await sent(mail, outbox))
    assert (await ask(db, policy, mail, account.licence, new_email, now=now)).ok
    confirmation, warning = (await sent(mail, outbox))[before:]
    return token_of(confirmation), token_of(warning)


async def test_the_warning_link_stops_a_pending_change(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="old@example.com")
    confirm_token, stop_token = await warned(db, policy, mail, outbox, account, "thief@example.org")
    stopped = await stop(db, policy, mail, stop_token, now=T0 + timedelta(minutes=5))
    assert stopped.ok and stopped.value == ChangeStopped(account_id=account.id, restored_email=None)
    assert (await confirm(db, policy, mail, confirm_token, now=T0 + timedelta(minutes=6))).rules == {
        Rule.TOKEN_INVALID
    }
    assert await email_of(db, account.id) == "old@example.com"
    assert len(await sent(mail, outbox)) == 2  # nothing more to tell: nothing had changed
    # once only
    assert (await stop(db, policy, mail, stop_token)).rules == {Rule.TOKEN_INVALID}


async def test_the_warning_link_undoes_a_confirmed_change_and_what_came_with_it(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="old@example.com")
    confirm_token, stop_token = await warned(db, policy, mail, outbox, account, "thief@example.org")
    # whoever holds the new address confirms at once, asks for a reset link and links a chat
    assert (await confirm(db, policy, mail, confirm_token, now=T0 + timedelta(minutes=1))).ok
    assert await email_of(db, account.id) == "thief@example.org"
    common = {"sessions": db.sessions, "policy": policy, "mail": mail, "lang": "en", "actor": "t"}
    later = T0 + timedelta(minutes=2)
    assert (await request_password_reset(**common, email="thief@example.org", now=later)).ok
    reset_token = token_of((await sent(mail, outbox))[-1])
    assert (
        await link_by_operator(
            sessions=db.sessions,
            account_id=account.id,
            channel="telegram",
            chat_user_id="666",
            actor="t",
            now=later,
        )
    ).ok
    # the owner opens the link from the warning the next day
    undone = await stop(db, policy, mail, stop_token, now=T0 + timedelta(days=1))
    assert undone.ok and undone.value.restored_email == "old@example.com"
    assert await email_of(db, account.id) == "old@example.com"
    assert (await use_reset_token(sessions=db.sessions, token=reset_token, actor="t")).rules == {
        Rule.TOKEN_INVALID
    }
    async with db.sessions() as session:
        assert await linked_account_id(session, channel="telegram", chat_user_id="666") is None
    told = (await sent(mail, outbox))[-1]
    assert told["To"] == "old@example.com" and "log in with this address again" in told.get_content()
    # the owner can reset the password at the restored address
    assert (await request_password_reset(**common, email="old@example.com", now=T0 + timedelta(days=1))).ok
    assert (await sent(mail, outbox))[-1]["To"] == "old@example.com"


async def test_an_older_warning_still_stops_a_newer_request(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="old@example.com")
    _, first_stop = await warned(db, policy, mail, outbox, account, "a@example.org")
    second_confirm, _ = await warned(
        db, policy, mail, outbox, account, "b@example.org", now=T0 + timedelta(minutes=1)
    )
    assert (await stop(db, policy, mail, first_stop, now=T0 + timedelta(minutes=2))).ok
    assert (await confirm(db, policy, mail, second_confirm, now=T0 + timedelta(minutes=3))).rules == {
        Rule.TOKEN_INVALID
    }


async def test_the_warning_link_expires_after_the_undo_days(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="old@example.com")
    confirm_token, stop_token = await warned(db, policy, mail, outbox, account, "new@example.org")
    assert (await confirm(db, policy, mail, confirm_token, now=T0 + timedelta(minutes=1))).ok
    too_late = T0 + timedelta(days=policy.email_change_undo_days)
    assert (await stop(db, policy, mail, stop_token, now=too_late)).rules == {Rule.TOKEN_INVALID}
    assert await email_of(db, account.id) == "new@example.org"
    assert (await stop(db, policy, mail, "not-a-token")).rules == {Rule.TOKEN_INVALID}


async def test_an_old_address_taken_meanwhile_is_not_restored(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    account = await make_account(db, policy, email="old@example.com")
    confirm_token, stop_token = await warned(db, policy, mail, outbox, account, "new@example.org")
    assert (await confirm(db, policy, mail, confirm_token, now=T0 + timedelta(minutes=1))).ok
    await make_account(db, policy, email="old@example.com")  # someone registered the freed address
    refused = await stop(db, policy, mail, stop_token, now=T0 + timedelta(hours=1))
    assert refused.rules == {Rule.EMAIL_TAKEN}
    assert await email_of(db, account.id) == "new@example.org"  # nothing changed; support decides
