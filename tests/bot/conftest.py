"""The conversation tests run scripted conversations (tests/conversation.py) against the session's
matcher (tests/conftest.py), on a fresh SQLite file per test (`bot`), or on each backend (`bot_any`)."""

from tests.conversation import bot, bot_any

__all__ = ["bot", "bot_any"]
