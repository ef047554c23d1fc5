"""A seller on QQ, on either protocol: FAQ answers, numbered choices, the group etiquette."""

from __future__ import annotations

from handlers import replies
from tests.qq.harness import Harness


def t(key: str, lang: str, **context: object) -> str:
    return replies.say(key, lang, **context)


async def test_a_question_in_a_private_chat_is_answered(qq: Harness) -> None:
    seller = qq.private("2001")
    turn = await seller.send("佣金是多少")
    assert "%" in turn.text and turn.texts, turn
    assert len(turn.texts) == 1  # one message: the platform allows only a few answers per message


async def test_help_shows_numbered_choices_and_a_number_picks_one(qq: Harness) -> None:
    seller = qq.private("2002")
    menu = await seller.send("/help")
    assert len(menu.choices) >= 3, menu
    assert t("channel.qq.choose_private", "zh") in menu.text
    picked = await seller.send("2")
    other = qq.private("2003")
    await other.send("/help")
    by_label = await other.send(menu.choices[1])
    assert picked.texts == by_label.texts and picked.texts
