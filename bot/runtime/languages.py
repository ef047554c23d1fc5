"""The language of what a channel's adapter says by itself (a file too large, someone else's
button, an apology): the conversation's language if it has one, else the user's app language
(where the channel tells it), else the default."""

from __future__ import annotations

import logging

from sqlalchemy import select

from handlers.replies import LANGUAGES
from services.db import Sessions
from services.models import Conversation

log = logging.getLogger(__name__)


def language_from_hint(hint: str | None, default: str) -> str:
    code = (hint or "").lower()
    for lang in LANGUAGES:
        if code.startswith(lang):
            return lang
    return default


class Languages:
    """The language of one channel's conversations, for what its adapter says itself."""

    def __init__(self, sessions: Sessions, default: str, *, channel: str) -> None:
        self.sessions = sessions
        self.default = default
        self.channel = channel

    async def of(
        self, *, chat_id: int | str, user_id: int | str, thread_id: str = "", hint: str | None
    ) -> str:
        try:
            async with self.sessions() as session:
                stored = await session.scalar(
                    select(Conversation.language).where(
                        Conversation.channel == self.channel,
                        Conversation.chat_id == str(chat_id),
                        Conversation.thread_id == thread_id,
                        Conversation.user_id == str(user_id),
                    )
                )
        except Exception as exc:  # the database is down: the hint will do
            log.debug("conversation language unavailable: %r", exc)
            stored = None
        return stored if stored in LANGUAGES else language_from_hint(hint, self.default)
