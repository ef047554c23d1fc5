"""The `sellerbot` command line.

Each concern keeps its commands in its own module under `bot/commands/`; this page only
assembles them. Bad input prints the problem on stderr and exits 2, having written nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from bot.config import ConfigError, Settings, load_settings
from bot.extras import missing_extra_message

F = TypeVar("F", bound=Callable[..., Any])

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sellerbot")
def main() -> None:
    """Support bot for Joom merchants: answers in Chinese and English, and acts by the platform's rules."""


# The subcommand modules use the helpers above, so they are imported once those exist.
from bot.commands.admin import admin  # noqa: E402
from bot.commands.chat import chat  # noqa: E402
from bot.commands.db import db  # noqa: E402
from bot.commands.faq import classify, faq  # noqa: E402
from bot.commands.handoffs import close, handoffs, reply  # noqa: E402
from bot.commands.report import report  # noqa: E402
from bot.commands.run import run  # noqa: E402
from bot.commands.serve import serve  # noqa: E402

main.add_command(admin)
for command in (handoffs, reply, close):
    admin.add_command(command)
main.add_command(chat)
main.add_command(db)
main.add_command(classify)
main.add_command(faq)
main.add_command(report)
main.add_command(run)
main.add_command(serve)

__all__ = ["EXIT_BAD_INPUT", "Settings", "fail", "main", "with_settings"]
