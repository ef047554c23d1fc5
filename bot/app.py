"""The composition root: settings in, a running conversation core out.

Every channel (console, Telegram, ...) starts the same way: open the database (migrating the
embedded default), choose the mailer, load the knowledge base, build the matcher once, and
wire them into the conversation core.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from faq.knowledge import KnowledgeBase, load_knowledge_base
from faq.matcher import Matcher
from handlers.core import ConversationCore, CoreOptions
from services.db import Database, open_database
from services.mail import build_mailer
from services.mail_dispatch import MailDispatcher


@dataclass
class App:
    settings: Settings
    database: Database
    mail: MailDispatcher
    knowledge: KnowledgeBase
    matcher: Matcher
    core: ConversationCore

    async def close(self) -> None:
        """Deliver the mail still in flight, then close the database."""
        await self.mail.drain()
        await self.database.close()


def matcher_cache_dir(settings: Settings) -> Path:
    return settings.data_path / "cache"


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.app.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def build_app(settings: Settings, *, bot_username: str = "sellerbot") -> App:
    settings.data_path.mkdir(parents=True, exist_ok=True)
    database = await open_database(
        settings.database_url, auto_migrate=settings.database.auto_migrate, echo=settings.database.echo
    )
    try:
        mail = MailDispatcher(
            build_mailer(settings.mail, outbox=settings.outbox_path),
            public_base_url=settings.mail.public_base_url,
        )
        knowledge = load_knowledge_base(settings.matcher.knowledge_base_dir or None)
        matcher = Matcher.from_knowledge_base(
            knowledge, settings.matcher, cache_dir=matcher_cache_dir(settings)
        )
        core = ConversationCore(
            sessions=database.sessions,
            policy=settings.policy,
            knowledge=knowledge,
            matcher=matcher,
            mail=mail,
            options=CoreOptions(
                bot_username=bot_username,
                default_language=settings.app.default_language,
                handoff=settings.handoff,
            ),
        )
    except BaseException:
        await database.close()
        raise
    return App(
        settings=settings, database=database, mail=mail, knowledge=knowledge, matcher=matcher, core=core
    )
