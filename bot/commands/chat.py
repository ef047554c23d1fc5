"""`sellerbot chat`: talk to the bot in a terminal (or drive it with JSON lines)."""

from __future__ import annotations

import asyncio
import getpass
import re
import sys

import click

from bot.app import App, build_app, configure_logging
from bot.commands.shared import fail, with_settings
from bot.config import Settings
from bot.console import CHANNEL, ConsoleSession, run_interactive, run_jsonl
from bot.demo import DemoError, ensure_demo_icon, ensure_demo_seller
from faq.knowledge import KnowledgeBaseError
from services.linking import linked_account_id

_USER_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def _default_user() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = ""
    return name if _USER_ID.match(name or "") else "console-user"


@click.command()
@with_settings
@click.option("--user", "user_id", default=None, help="Chat user id (default: your login name).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None, help="Language of the first replies.")
@click.option(
    "--group", is_flag=True, help="Play a group chat: address the bot as @sellerbot or with /commands."
)
@click.option("--demo", is_flag=True, help="Create and link a demo seller to try the actions at once.")
@click.option("--jsonl", is_flag=True, help="Read JSON lines on stdin, write JSON lines (for scripts).")
def chat(
    settings: Settings, user_id: str | None, lang: str | None, group: bool, demo: bool, jsonl: bool
) -> None:
    """Chat with the bot in this terminal, on the embedded default unless configured otherwise."""
    user_id = user_id or _default_user()
    if not _USER_ID.match(user_id):
        fail("--user takes 1–64 letters, digits or _ . @ -")
    if not jsonl:
        configure_logging(
            settings.model_copy(update={"app": settings.app.model_copy(update={"log_level": "WARNING"})})
        )
    try:
        asyncio.run(_chat(settings, user_id=user_id, lang=lang, group=group, demo=demo, jsonl=jsonl))
    except KnowledgeBaseError as exc:
        fail(f"knowledge base: {exc}")
    except DemoError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        click.echo()  # run_interactive has said goodbye; end the line the prompt left open


async def _chat(
    settings: Settings, *, user_id: str, lang: str | None, group: bool, demo: bool, jsonl: bool
) -> None:
    if lang:
        settings.app = settings.app.model_copy(update={"default_language": lang})
    app = await build_app(settings)
    try:
        session = ConsoleSession(
            core=app.core,
            user_id=user_id,
            is_group=group,
            language_hint=lang,
            received_dir=settings.data_path / "received",
        )
        # The console's own notes are in the language of its hints (--lang, else the default).
        notes = [session.say("intro_data", data=str(settings.data_path), outbox=str(settings.outbox_path))]
        if demo:
            seller = await ensure_demo_seller(
                sessions=app.database.sessions, policy=settings.policy, channel=CHANNEL, chat_user_id=user_id
            )
            notes.append(session.say("intro_demo", email=seller.email, user=user_id))
            icon = ensure_demo_icon(settings.data_path, policy=settings.policy)
            notes.append(session.say("intro_icon", path=str(icon)))
        elif not await _linked(app, user_id):
            notes.append(session.say("intro_try_demo"))
        if jsonl:
            await run_jsonl(session, sys.stdin, sys.stdout)
            return
        if group:
            notes.append(session.say("intro_group"))
        notes.append(session.say("intro_help"))
        await run_interactive(session, intro="\n".join(notes))
    finally:
        await app.close()


async def _linked(app: App, user_id: str) -> bool:
    async with app.database.sessions() as session:
        return await linked_account_id(session, channel=CHANNEL, chat_user_id=user_id) is not None
