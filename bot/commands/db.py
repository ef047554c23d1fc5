"""`sellerbot db …`: the database schema.

`sellerbot db upgrade` applies the migrations (needed on PostgreSQL when `auto_migrate` is off;
the embedded SQLite default migrates itself at start-up), `sellerbot db current` tells where the
database stands, `sellerbot db purge` deletes what has expired (`services.housekeeping`).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict

import click
from sqlalchemy.engine import make_url

from bot.commands.shared import embedded_database_missing, fail, open_settings_database, with_settings
from bot.config import Settings
from services.db import (
    create_engine,
    current_revision,
    head_revision,
    sqlite_file,
    upgrade_schema,
)
from services.housekeeping import Purged, purge_expired
from services.models import utcnow


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


@click.group("db")
def db() -> None:
    """The database: migrations and housekeeping."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Migrate up to this revision.")
@with_settings
def upgrade(settings: Settings, revision: str) -> None:
    """Apply the database migrations (creates the SQLite file and its folder if needed)."""

    async def run() -> str | None:
        path = sqlite_file(settings.database_url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.database_url)
        try:
            await upgrade_schema(engine, revision)
            return await current_revision(engine)
        finally:
            await engine.dispose()

    try:
        reached = asyncio.run(run())
    except Exception as exc:  # a bad URL, an unreachable server, an unknown revision
        fail(f"cannot upgrade {shown_url(settings.database_url)}: {exc}")
    click.echo(f"{shown_url(settings.database_url)} is at revision {reached} (head: {head_revision()})")


@db.command("current")
@with_settings
def current(settings: Settings) -> None:
    """Show the database's migration revision and the latest one."""
    if embedded_database_missing(settings):
        fail(f"no database yet at {shown_url(settings.database_url)}; run `sellerbot db upgrade`")

    async def run() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    try:
        revision = asyncio.run(run())
    except Exception as exc:
        fail(f"cannot read {shown_url(settings.database_url)}: {exc}")
    state = "up to date" if revision == head_revision() else "needs `sellerbot db upgrade`"
    click.echo(
        f"{shown_url(settings.database_url)}: revision {revision or '(empty)'},"
        f" head {head_revision()}: {state}"
    )


@db.command("purge")
@click.option(
    "--keep-days",
    type=click.IntRange(min=1),
    default=None,
    help="Keep what expired fewer days ago than this (default: database.keep_expired_days).",
)
@with_settings
def purge(settings: Settings, keep_days: int | None) -> None:
    """Delete expired links and codes, old idempotency keys and icons of unfinished flows."""
    if embedded_database_missing(settings):
        fail(f"no database yet at {shown_url(settings.database_url)}; nothing to purge")
    days = keep_days or settings.database.keep_expired_days

    async def run() -> Purged:
        database = await open_settings_database(settings)
        try:
            return await purge_expired(
                sessions=database.sessions, keep_days=days, now=utcnow(), policy=settings.policy
            )
        finally:
            await database.close()

    try:
        purged = asyncio.run(run())
    except Exception as exc:
        fail(f"cannot purge {shown_url(settings.database_url)}: {exc}")
    parts = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in asdict(purged).items())
    click.echo(f"deleted {purged.total} expired row(s), keeping the last {days} day(s): {parts}")
