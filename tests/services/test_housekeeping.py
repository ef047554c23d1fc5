"""Housekeeping: expired links and codes, old idempotency keys and icons of unfinished flows are
deleted once older than `keep_days`; everything that is a record stays."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.db import Database
from services.email_change import confirm_email_change, request_email_change
from services.housekeeping import Purged, purge_expired
from services.linking import request_link_code
from services.mail import OutboxMailer
from services.mail_dispatch import MailDispatcher
from services.models import (
    AuditEvent,
    Conversation,
    EmailChangeRequest,
    IdempotencyKey,
    LinkCode,
    ResetToken,
    Turn,
    TurnDirection,
    Upload,
)
from services.password_reset import request_password_reset
from services.policy import Policy
from services.uploads import save_upload
from tests.services.conftest import make_account

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)


async def purge(db: Database, policy: Policy, *, days_later: float, keep_days: int = 30) -> Purged:
    return await purge_expired(
        sessions=db.sessions, policy=policy, keep_days=keep_days, now=T0 + timedelta(days=days_later)
    )


async def count(db: Database, model) -> int:
    async with db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def conversation_with_files(db: Database) -> tuple[int, int]:
    """A conversation with an icon sent during a flow (no turn) and a file kept with its
    transcript (a turn); returns their upload ids."""
    async with db.sessions() as session, session.begin():
        conversation = Conversation(channel="console", chat_id="1", user_id="1", version=1, created_at=T0)
        session.add(conversation)
        await session.flush()
        turn = Turn(conversation_id=conversation.id, direction=TurnDirection.IN, text="[file]", created_at=T0)
        session.add(turn)
        await session.flush()
        kept = Upload(
            conversation_id=conversation.id,
            turn_id=turn.id,
            sha256="0" * 64,
            size=1,
            data=b"x",
            created_at=T0,
        )
        session.add(kept)
        await session.flush()
        conversation_id, kept_id = conversation.id, kept.id
    icon_id = await save_upload(sessions=db.sessions, conversation_id=conversation_id, data=b"png", now=T0)
    return icon_id, kept_id


async def test_what_expired_long_ago_is_deleted_and_records_stay(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    owner = await make_account(db, policy, email="owner@example.com")
    mover = await make_account(db, policy, email="mover@example.com")
    common = {"sessions": db.sessions, "policy": policy, "mail": mail, "lang": "en"}
    await request_password_reset(**common, email="owner@example.com", actor="t", idempotency_key="k1", now=T0)
    await request_link_code(**common, channel="telegram", chat_user_id="7", email="owner@example.com", now=T0)
    await request_email_change(
        **common, licence=owner.licence, new_email="new@example.org", actor="t", now=T0
    )
    await request_email_change(
        **common, licence=mover.licence, new_email="moved@example.org", actor="t", now=T0
    )
    await mail.drain()
    token = re.search(r"token=([\w-]+)", outbox.messages()[-2].get_content()).group(1)
    assert (await confirm_email_change(**common, token=token, actor="page", now=T0)).ok
    icon_id, transcript_file_id = await conversation_with_files(db)
    audit_before = await count(db, AuditEvent)

    # Within the kept days nothing goes, though every link and code has expired by now.
    kept = await purge(db, policy, days_later=30)
    assert kept == Purged() and kept.total == 0

    purged = await purge_expired(
        sessions=db.sessions, policy=policy, keep_days=30, now=T0 + timedelta(days=32)
    )
    assert purged == Purged(
        reset_tokens=1, link_codes=1, email_change_requests=1, idempotency_keys=1, uploads=1
    )
    assert await count(db, ResetToken) == await count(db, LinkCode) == await count(db, IdempotencyKey) == 0
    async with db.sessions() as session:
        [change] = (await session.scalars(select(EmailChangeRequest))).all()
        assert change.account_id == mover.id and change.confirmed_at is not None  # a record: kept
        assert await session.get(Upload, icon_id) is None
        assert await session.get(Upload, transcript_file_id) is not None  # part of a transcript
    assert await count(db, AuditEvent) == audit_before
    # a second run finds nothing more
    assert (
        await purge_expired(sessions=db.sessions, policy=policy, keep_days=30, now=T0 + timedelta(days=32))
    ).total == 0


async def test_purging_never_lifts_a_rate_limit(db: Database, policy: Policy, mail: MailDispatcher) -> None:
    await make_account(db, policy, email="owner@example.com")
    common = {"sessions": db.sessions, "policy": policy, "mail": mail, "lang": "en", "actor": "t"}
    for minutes in (0, 1, 2):
        assert (
            await request_password_reset(
                **common, email="owner@example.com", now=T0 + timedelta(minutes=minutes)
            )
        ).ok
    later = T0 + timedelta(minutes=40)  # the links have expired (30 minutes); the hour has not passed
    await purge_expired(sessions=db.sessions, policy=policy, keep_days=1, now=later)
    assert not (await request_password_reset(**common, email="owner@example.com", now=later)).ok


async def test_keep_days_must_be_positive(db: Database) -> None:
    with pytest.raises(ValueError):
        await purge_expired(sessions=db.sessions, policy=Policy(), keep_days=0, now=T0)


async def test_a_login_change_request_stays_while_its_stop_link_may_be_used(
    db: Database, policy: Policy, mail: MailDispatcher
) -> None:
    account = await make_account(db, policy, email="owner@example.com")
    await request_email_change(
        sessions=db.sessions,
        policy=policy,
        mail=mail,
        licence=account.licence,
        new_email="new@example.org",
        lang="en",
        actor="t",
        now=T0,
    )
    # expired after a day, but its warning's stop link works for email_change_undo_days (7)
    assert (await purge(db, policy, days_later=3, keep_days=1)).email_change_requests == 0
    assert (await purge(db, policy, days_later=8, keep_days=1)).email_change_requests == 1
