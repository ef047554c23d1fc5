"""The `sellerbot` command line.

Each concern keeps its commands in its own module under `bot/commands/`, sharing their helpers
through `bot.commands.shared`; this page only assembles them. Bad input prints the problem on
stderr and exits 2, having written nothing.
"""

from __future__ import annotations

import click

from bot.commands.admin import admin
from bot.commands.chat import chat
from bot.commands.db import db
from bot.commands.faq import classify, faq
from bot.commands.handoffs import close, handoffs, reply
from bot.commands.report import report
from bot.commands.run import run
from bot.commands.serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sellerbot")
def main() -> None:
    """Support bot for Joom merchants: answers in Chinese and English, and acts by the platform's rules."""


main.add_command(admin)
for command in (handoffs, reply, close):
    admin.add_command(command)
for command in (chat, db, classify, faq, report, run, serve):
    main.add_command(command)

__all__ = ["main"]
