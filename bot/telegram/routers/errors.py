"""An update whose handling failed: the user gets an apology quoting a reference id (the same
id is in the log with the traceback), and the bot goes on with the next update. A database that
cannot be reached gets its own answer: send it again in a few minutes."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.methods import TelegramMethod
from aiogram.types import ErrorEvent

from bot.runtime.languages import Languages
from bot.telegram.processor import message_about
from bot.telegram.render import Renderer
from handlers.apology import Apology

log = logging.getLogger(__name__)


async def apology(event: ErrorEvent, render: Renderer, languages: Languages) -> list[TelegramMethod]:
    said = Apology.for_error(event.exception, log, f"update {event.update.update_id}")
    return await message_about(event.update, said, render=render, languages=languages)


def errors_router() -> Router:
    router = Router(name="errors")
    router.errors()(apology)
    return router
