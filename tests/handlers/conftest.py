"""The conversation tests run scripted conversations (tests/conversation.py) against the session's
matcher (tests/conftest.py), on a fresh SQLite file per test (`bot`), or on each backend (`bot_any`);
`tie_bot` has a matcher of its own, for which some questions are near ties."""

from tests.conversation import bot, bot_any, tie_bot, tie_matcher

__all__ = ["bot", "bot_any", "tie_bot", "tie_matcher"]
