"""Alembic environment: runs the migrations on a connection handed over by services/db.py, or,
from the `alembic` command line, on the database named by `-x url=…` or SELLERBOT_DATABASE__URL."""

from __future__ import annotations

import asyncio
import os
from typing import Any, Literal

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from services.models import Base, UTCDateTime

target_metadata = Base.metadata
# Any constant: the PostgreSQL advisory lock that makes concurrent start-ups migrate one at a time.
MIGRATION_LOCK_ID = 7_345_211


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write project column types into migrations as the plain SQLAlchemy types they stand for,
    so a migration keeps working whatever later happens to services/models.py."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=render_item,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several bot processes may start together: the second waits here, then finds the
            # schema already at head and does nothing.
            connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
        context.run_migrations()


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("SELLERBOT_DATABASE__URL")
    if not url:
        raise SystemExit(
            "give the database: alembic -x url=sqlite+aiosqlite:///file.db … (or SELLERBOT_DATABASE__URL)"
        )
    return url


async def _run_with_own_engine() -> None:
    from services.db import create_engine

    engine = create_engine(_url())
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run_migrations)
    finally:
        await engine.dispose()


connection = context.config.attributes.get("connection")
if context.is_offline_mode():
    run_offline()
elif connection is not None:
    run_migrations(connection)
else:
    asyncio.run(_run_with_own_engine())
