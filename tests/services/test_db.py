"""Persistence: migrations build the schema the models describe, on both backends; the
database itself enforces the uniqueness rules; datetimes come back timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from services.db import (
    Database,
    create_engine,
    current_revision,
    head_revision,
    open_database,
    write_transaction,
)
from services.models import (
    Account,
    AccountState,
    Base,
    KycStatus,
    PayoutStatus,
    QuotaRequest,
    Rating,
    RequestKind,
    RequestStatus,
    Store,
)
from tests.services.conftest import make_licence

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _account(email: str = "a@example.com", licence: str | None = None) -> Account:
    return Account(
        email=email,
        email_key=email.lower(),
        company="Example Co.",
        licence=licence or make_licence(),
        country="CN",
        state=AccountState.ACTIVE,
        kyc=KycStatus.APPROVED,
        payout=PayoutStatus.BOUND,
        rating=Rating.AVERAGE,
        store_limit=1,
        listing_limit=500,
    )


async def test_open_database_creates_the_folder_and_migrates_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new' / 'deeper' / 'sellerbot.db'}"
    # auto_migrate=False is ignored for the embedded default: it always migrates itself.
    db = await open_database(url, auto_migrate=False)
    try:
        assert await current_revision(db.engine) == head_revision()
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() >= 5000
    finally:
        await db.close()
    # A second start finds the schema current and leaves it alone.
    again = await open_database(url)
    assert await current_revision(again.engine) == head_revision()
    await again.close()


@pytest.mark.postgres
async def test_open_database_on_postgres_migrates_only_when_asked(postgres_schema: str) -> None:
    from sqlalchemy.engine import make_url

    from tests.conftest import POSTGRES_URL

    name = f"{postgres_schema}_open"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        db = await open_database(url, auto_migrate=False)
        assert await current_revision(db.engine) is None
        await db.close()
        db = await open_database(url, auto_migrate=True)
        assert await current_revision(db.engine) == head_revision()
        await db.close()
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        await admin.dispose()


async def test_migrations_and_models_agree(db: Database) -> None:
    """Autogenerate finds nothing to add: the migrations build exactly what the models say."""

    def diff(sync_conn) -> list:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []
    assert await current_revision(db.engine) == head_revision()


async def test_datetimes_round_trip_as_aware_utc(db: Database) -> None:
    beijing = timezone(timedelta(hours=8))
    async with db.sessions() as session, session.begin():
        account = _account()
        account.created_at = datetime(2025, 3, 1, 20, 0, tzinfo=beijing)
        account.updated_at = NOW
        session.add(account)
    async with db.sessions() as session:
        loaded = (await session.execute(select(Account))).scalar_one()
        assert loaded.created_at == NOW
        assert loaded.created_at.tzinfo is not None and loaded.created_at.utcoffset() == timedelta(0)
        # Comparisons in SQL follow time order across offsets.
        later = await session.execute(
            select(Account.id).where(Account.created_at > NOW - timedelta(seconds=1))
        )
        assert later.scalar_one() == loaded.id


async def test_naive_datetimes_are_refused(db: Database) -> None:
    async with db.sessions() as session:
        account = _account()
        account.created_at = datetime(2025, 3, 1, 12, 0)
        session.add(account)
        with pytest.raises(StatementError, match="naive datetime"):
            await session.flush()


async def test_the_database_keeps_one_open_request_per_kind(db: Database) -> None:
    async with db.sessions() as session, session.begin():
        account = _account()
        session.add(account)
        await session.flush()
        account_id = account.id

    def request(kind: RequestKind, status: RequestStatus) -> QuotaRequest:
        return QuotaRequest(
            account_id=account_id, kind=kind, status=status, requested_by="test", requested_at=NOW
        )

    async with db.sessions() as session, session.begin():
        session.add(request(RequestKind.STORE_QUOTA, RequestStatus.OPEN))
        session.add(request(RequestKind.STORE_QUOTA, RequestStatus.APPROVED))
        session.add(request(RequestKind.STORE_QUOTA, RequestStatus.REJECTED))
        session.add(request(RequestKind.LISTING_CAPACITY, RequestStatus.OPEN))
    with pytest.raises(IntegrityError):
        async with db.sessions() as session, session.begin():
            session.add(request(RequestKind.STORE_QUOTA, RequestStatus.OPEN))


async def test_the_database_keeps_emails_licences_and_titles_unique(db: Database) -> None:
    licence = make_licence()
    async with db.sessions() as session, session.begin():
        session.add(_account("one@example.com", licence))
    with pytest.raises(IntegrityError):
        async with db.sessions() as session, session.begin():
            session.add(_account("ONE@example.com"))
    with pytest.raises(IntegrityError):
        async with db.sessions() as session, session.begin():
            session.add(_account("two@example.com", licence))
    async with db.sessions() as session, session.begin():
        account_id = (await session.execute(select(Account.id))).scalar_one()
        session.add(
            Store(account_id=account_id, title="Shop", title_key="shop", rating=Rating.UNKNOWN, enabled=True)
        )
    with pytest.raises(IntegrityError):
        async with db.sessions() as session, session.begin():
            session.add(
                Store(
                    account_id=account_id, title="SHOP", title_key="shop", rating=Rating.UNKNOWN, enabled=True
                )
            )


async def test_check_constraints_refuse_values_outside_the_enums(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.sessions() as session, session.begin():
            await session.execute(
                text(
                    "INSERT INTO accounts (email, email_key, company, licence, country, state, kyc, payout,"
                    " rating, store_limit, listing_limit, created_at, updated_at) VALUES ('x@y.cn', 'x@y.cn',"
                    " 'c', 'L', 'CN', 'deleted', 'approved', 'bound', 'average', 1, 500,"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )


async def test_write_transaction_retries_a_unique_key_race_then_gives_up(db: Database) -> None:
    calls = 0

    async def always_conflicts(session) -> None:
        nonlocal calls
        calls += 1
        session.add(_account("same@example.com", "SAMELICENCE0000000"))
        await session.flush()

    await write_transaction(db.sessions, always_conflicts)
    with pytest.raises(IntegrityError):
        await write_transaction(db.sessions, always_conflicts, attempts=3)
    assert calls == 1 + 3
