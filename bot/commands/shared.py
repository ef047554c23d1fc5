"""What every `sellerbot` subcommand shares: settings from the command line, the way bad input
stops a command, and running work on the configured database.

The command modules import this one and nothing imports them but `bot/cli.py`, which only
assembles them: a command module can be imported on its own, in any order.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from bot.config import ConfigError, Settings, load_settings
from bot.extras import missing_extra_message
from services.db import Database, open_database, sqlite_file
from services.explain import explain
from services.policy import Policy
from services.results import Done, Refused, Violation

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

EXIT_BAD_INPUT = 2


def fail(message: str, *, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Stop the command with a message on stderr (exit 2: the input was wrong)."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def require_extra(extra: str, needed_for: str) -> None:
    """Stop with the install command if the extra `extra` is not installed."""
    message = missing_extra_message(extra, needed_for)
    if message is not None:
        fail(message)


def with_settings(func: F) -> F:
    """Give a command `--config`, `--data-dir` and `--db`, and pass it `settings`."""

    @click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        default=None,
        help="TOML configuration file (default: $SELLERBOT_CONFIG, else built-in defaults).",
    )
    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="Data folder for the SQLite database and the mail outbox (default: $SELLERBOT_DATA_DIR, "
        "else a per-user data folder).",
    )
    @click.option("--db", "db_url", default=None, help="Database URL, overriding the configuration.")
    @functools.wraps(func)
    def wrapper(*args: Any, config_file: str | None, data_dir: str | None, db_url: str | None, **kw: Any):
        try:
            settings = load_settings(config_file, data_dir=data_dir, db_url=db_url)
        except ConfigError as exc:
            fail(str(exc))
        if settings.database_url.startswith("postgresql"):
            require_extra("postgres", "a PostgreSQL database")
        return func(*args, settings=settings, **kw)

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


# -- the database ---------------------------------------------------------------------------------
class BadInput(Exception):
    """Raised inside the database work; `run_on_database` turns it into the message and exit 2."""


async def open_settings_database(settings: Settings) -> Database:
    """Open (and, by the settings, migrate) the configured database."""
    return await open_database(
        settings.database_url, auto_migrate=settings.database.auto_migrate, echo=settings.database.echo
    )


def embedded_database_missing(settings: Settings) -> Path | None:
    """The SQLite file when it does not exist yet (a read-only command then has nothing to read and
    must not create it), else None."""
    path = sqlite_file(settings.database_url)
    return path if path is not None and not path.exists() else None


def run_on_database(
    settings: Settings, work: Callable[[Database], Awaitable[T]], *, needs_existing: bool = True
) -> T:
    """Open the configured database, run `work`, close it. With `needs_existing`, a missing
    embedded database is an error instead of being created (nothing to find in it)."""
    missing = embedded_database_missing(settings) if needs_existing else None
    if missing is not None:
        fail(f"no database yet at {missing}: create an account first (sellerbot admin account create)")

    async def main() -> T:
        db = await open_settings_database(settings)
        try:
            return await work(db)
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except BadInput as exc:
        fail(str(exc))


# -- the platform's refusals ------------------------------------------------------------------------
def explained(violations: list[Violation] | tuple[Violation, ...], policy: Policy) -> str:
    """One English explanation per failed rule, one a line under the `error: ` prefix."""
    return "\n       ".join(explain(v, "en", policy=policy) for v in violations)


def value_or_fail(result: Done[T] | Refused, policy: Policy) -> T:
    """The action's value; a refusal stops the command with the failed rules."""
    if isinstance(result, Refused):
        raise BadInput(explained(result.violations, policy))
    return result.value
