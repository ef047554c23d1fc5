"""Concurrency and idempotency, on SQLite and PostgreSQL, with real concurrency: each call runs
in its own session on its own connection, all started together.

* 20 concurrent open-store calls for an account with one free slot create exactly one store;
* two concurrent requests of one kind leave one open request;
* an action repeated with the same idempotency key has one effect, even when the repeats race.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import func, select

from services.db import Database
from services.idempotency import IdempotencyKeyReused
from services.mail import OutboxMailer
from services.mail_dispatch import MailDispatcher
from services.models import QuotaRequest, RequestKind, RequestStatus, Store
from services.password_reset import request_password_reset
from services.policy import Policy
from services.quota import request_increase
from services.results import Rule
from services.stores import open_store
from tests.services.conftest import make_account


async def warm_pool(db: Database, connections: int = 20) -> None:
    """Open the connections the racers will use beforehand. Otherwise the racer that gets the one
    already open connection finishes before the others have connected, and the race never
    happens (the tests would pass even without any locking). No statement is run: on SQLite
    that would begin a write transaction on each connection."""
    async with contextlib.AsyncExitStack() as stack:
        conns = await asyncio.gather(
            *(stack.enter_async_context(db.engine.connect()) for _ in range(connections))
        )
        await asyncio.gather(*(c.get_raw_connection() for c in conns))


async def count(db: Database, model, *where) -> int:
    async with db.sessions() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def test_twenty_concurrent_openings_with_one_free_slot_create_one_store(
    db: Database, policy: Policy
) -> None:
    account = await make_account(db, policy, store_limit=2)
    assert (
        await open_store(
            sessions=db.sessions,
            policy=policy,
            account_id=account.id,
            title="Existing",
            specialization="other",
            actor="t",
        )
    ).ok

    await warm_pool(db)
    results = await asyncio.gather(
        *(
            open_store(
                sessions=db.sessions,
                policy=policy,
                account_id=account.id,
                title=f"Racer {i}",
                specialization="apparel",
                actor=f"chat:test:{i}",
            )
            for i in range(20)
        )
    )
    assert sum(r.ok for r in results) == 1
    assert all(r.rules == {Rule.STORE_LIMIT_REACHED} for r in results if not r.ok)
    assert await count(db, Store, Store.account_id == account.id) == 2


async def test_concurrent_openings_with_one_title_create_one_store(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy, store_limit=20)
    await warm_pool(db)
    results = await asyncio.gather(
        *(
            open_store(
                sessions=db.sessions,
                policy=policy,
                account_id=account.id,
                title=title,
                specialization="apparel",
                actor="t",
            )
            for title in ["Same", "SAME", "same", " Same ", "sAmE"] * 2
        )
    )
    assert sum(r.ok for r in results) == 1
    assert all(r.rules == {Rule.TITLE_DUPLICATE} for r in results if not r.ok)


@pytest.mark.parametrize("kind", list(RequestKind))
async def test_two_concurrent_requests_of_one_kind_leave_one_open(db: Database, kind: RequestKind) -> None:
    policy = Policy(auto_approve=False)
    account = await make_account(db, policy)
    await warm_pool(db)
    results = await asyncio.gather(
        *(
            request_increase(
                sessions=db.sessions, policy=policy, account_id=account.id, kind=kind, actor=f"t{i}"
            )
            for i in range(2)
        )
    )
    assert sorted(r.ok for r in results) == [False, True]
    (refused,) = [r for r in results if not r.ok]
    assert refused.rules == {Rule.REQUEST_ALREADY_OPEN}
    open_requests = QuotaRequest.status == RequestStatus.OPEN
    assert await count(db, QuotaRequest, QuotaRequest.account_id == account.id, open_requests) == 1


async def test_a_racing_repeated_idempotency_key_has_one_effect(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy, store_limit=10)
    await warm_pool(db)
    results = await asyncio.gather(
        *(
            open_store(
                sessions=db.sessions,
                policy=policy,
                account_id=account.id,
                title="Only Once",
                specialization="apparel",
                actor="t",
                idempotency_key="telegram:update:991",
            )
            for _ in range(10)
        )
    )
    # every repeat gets the first result, not a "duplicate title" refusal
    assert all(r.ok for r in results)
    assert len({r.value.id for r in results}) == 1
    assert await count(db, Store, Store.account_id == account.id) == 1


async def test_a_racing_repeated_key_without_an_account_lock_sends_one_mail(
    db: Database, policy: Policy, mail: MailDispatcher, outbox: OutboxMailer
) -> None:
    await make_account(db, policy, email="owner@example.com")
    await warm_pool(db)
    results = await asyncio.gather(
        *(
            request_password_reset(
                sessions=db.sessions,
                policy=policy,
                mail=mail,
                email="owner@example.com",
                lang="zh",
                actor="t",
                idempotency_key="qq:msg:5",
            )
            for _ in range(5)
        )
    )
    assert all(r.ok for r in results)
    await mail.drain()
    assert len(outbox.messages()) == 1


async def test_a_key_reused_for_something_else_is_a_caller_bug(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy, store_limit=5)

    async def open_titled(title: str):
        return await open_store(
            sessions=db.sessions,
            policy=policy,
            account_id=account.id,
            title=title,
            specialization="apparel",
            actor="t",
            idempotency_key="k-1",
        )

    assert (await open_titled("First")).ok
    with pytest.raises(IdempotencyKeyReused):
        await open_titled("Second")
    with pytest.raises(IdempotencyKeyReused):
        await request_increase(
            sessions=db.sessions,
            policy=policy,
            account_id=account.id,
            kind=RequestKind.STORE_QUOTA,
            actor="t",
            idempotency_key="k-1",
        )


async def test_a_refused_action_does_not_use_up_its_key(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy)

    async def attempt():
        return await open_store(
            sessions=db.sessions,
            policy=policy,
            account_id=account.id,
            title="Later",
            specialization="apparel",
            actor="t",
            idempotency_key="k-2",
        )

    await open_store(
        sessions=db.sessions,
        policy=policy,
        account_id=account.id,
        title="Blocker",
        specialization="apparel",
        actor="t",
    )
    assert (await attempt()).rules == {Rule.STORE_LIMIT_REACHED}
    from services.accounts import update_account

    assert (
        await update_account(
            sessions=db.sessions, policy=policy, account_id=account.id, store_limit=2, actor="t"
        )
    ).ok
    assert (await attempt()).ok
