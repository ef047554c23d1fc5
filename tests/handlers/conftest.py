"""The conversation tests run scripted conversations (tests/conversation.py) against the real
matcher, trained once per session, on a fresh SQLite file per test (`bot`), or on each backend
(`bot_any`)."""

from tests.conversation import bot, bot_any, knowledge, matcher, matcher_cache, tie_bot, tie_matcher

__all__ = ["bot", "bot_any", "knowledge", "matcher", "matcher_cache", "tie_bot", "tie_matcher"]
