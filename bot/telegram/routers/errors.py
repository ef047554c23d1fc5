"""An update whose handling failed: the user gets an apology quoting a reference id (the same
id is in the log with the traceback), and the bot goes on with the next update. A database that
cannot be reached gets its own answer: send it again in a few minutes."""

from __future__ import annotations

import logging
import secrets

from aiogram import Router
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.types import ErrorEvent

from bot.telegram.middleware import Languages
from bot.telegram.render import Renderer
from bot.telegram.translate import BotIdentity, is_addressed, language_hint, reply_target, update_user
from handlers import replies
from services.db import is_unavailable

log = logging.getLogger(__name__)


async def apology(
    event: ErrorEvent, render: Renderer, languages: Languages, identity: BotIdentity
) -> list[TelegramMethod]:
    update, exc = event.update, event.exception
    reference = secrets.token_hex(4)
    unavailable = is_unavailable(exc)
    if unavailable:
        log.error("update %s: database unavailable [ref %s]: %r", update.update_id, reference, exc)
    else:
        log.error("update %s failed [ref %s]", update.update_id, reference, exc_info=exc)
    if update.message is not None and not is_addressed(update.message, identity):
        return []  # a group message the bot was not asked about: no apology in the group
    target = reply_target(update)
    methods: list[TelegramMethod] = []
    if update.callback_query is not None:
        methods.append(AnswerCallbackQuery(callback_query_id=update.callback_query.id))
    if target is None:
        return methods
    user = update_user(update)
    lang = await languages.of(chat_id=target[0], user_id=user.id if user else 0, hint=language_hint(user))
    key = "errors.database_unavailable" if unavailable else "errors.internal"
    return methods + render.text(target[0], replies.say(key, lang, reference=reference), thread_id=target[1])


def errors_router() -> Router:
    router = Router(name="errors")
    router.errors()(apology)
    return router
