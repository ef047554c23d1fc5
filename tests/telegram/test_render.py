"""Replies as Bot API calls (long text split, keyboards, deep links) and messages as the core's
input (who is addressed in a group, with Telegram's UTF-16 entity offsets)."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.telegram.render import Renderer, keyboard, split_text, utf16_len
from bot.telegram.translate import BotIdentity, button_id, callback_data, is_addressed
from handlers.types import Button, ButtonKind, Reply

ME = BotIdentity(id=42, username="sellerbot_test")

text_strategy = st.text(alphabet=st.sampled_from(list("ab cd\n中文字😀 ,.")), min_size=0, max_size=400)


@given(text_strategy, st.integers(min_value=2, max_value=60))
def test_split_parts_fit_and_keep_every_character(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(utf16_len(part) <= limit for part in parts)
    assert re.sub(r"\s", "", "".join(parts)) == re.sub(r"\s", "", text)
    assert len(parts) == 1 or all(part.strip() for part in parts)


def test_split_prefers_paragraphs_then_lines_then_words() -> None:
    paragraph = "word " * 150  # 750 characters
    text = "\n\n".join([paragraph.strip()] * 8)  # ~6,000 characters
    parts = split_text(text)
    assert len(parts) == 2 and all(utf16_len(p) <= 4096 for p in parts)
    assert all(p.endswith("word") and p.startswith("word") for p in parts)
    emoji = "😀" * 3000  # 6,000 UTF-16 units: cut between characters, never inside one
    parts = split_text(emoji)
    assert [utf16_len(p) for p in parts] == [4096, 1904]


def test_a_reply_becomes_messages_with_the_keyboard_on_the_last_part() -> None:
    reply = Reply(
        text="x " * 3000,
        buttons=(Button("1a2b", "OK"), Button("open_store", "Open", ButtonKind.PRIVATE_CHAT)),
    )
    methods = Renderer(ME).replies(7, [reply])
    assert [m.method for m in methods] == ["sendMessage", "sendMessage"]
    assert "reply_markup" not in methods[0].params
    rows = methods[1].params["reply_markup"]["inline_keyboard"]
    assert rows[0][0]["callback_data"] == "b:1a2b"
    assert rows[1][0]["url"] == "https://t.me/sellerbot_test?start=open_store"


def test_keyboards() -> None:
    markup = keyboard(
        [
            Button("a1", "Yes"),
            Button("a2", "No"),
            Button("a3", "A much longer label here"),
            Button("x" * 80, "Bad"),
        ],
        ME,
    )
    assert markup is not None
    assert [[b["text"] for b in row] for row in markup["inline_keyboard"]] == [
        ["Yes", "No"],
        ["A much longer label here"],
    ]
    bad_payload = keyboard([Button("has space", "Go", ButtonKind.PRIVATE_CHAT)], ME)
    assert bad_payload is not None
    assert bad_payload["inline_keyboard"][0][0]["url"] == "https://t.me/sellerbot_test"
    assert keyboard([], ME) is None


def test_callback_data_fits_in_64_bytes_and_only_ours_is_read() -> None:
    assert callback_data("1a2b") == "b:1a2b"
    assert callback_data("x" * 63) is None
    assert button_id("b:1a2b") == "1a2b"
    assert button_id("zz") is None and button_id("b:") is None and button_id(None) is None
    assert button_id("b:" + "x" * 70) is None


def group_message(text: str, entities: list[dict[str, Any]], **extra: object) -> dict[str, Any]:
    return {
        "message_id": 5,
        "date": 0,
        "chat": {"id": -100, "type": "supergroup", "title": "G"},
        "from": {"id": 7, "is_bot": False, "first_name": "U"},
        "text": text,
        "entities": entities,
        **extra,
    }


def test_group_addressing_reads_entities_in_utf16_units() -> None:
    text = "😀😀 @SellerBot_Test 你好"
    mention = {"type": "mention", "offset": 5, "length": 15}  # two emoji are four UTF-16 units
    assert is_addressed(group_message(text, [mention]), ME)
    assert not is_addressed(group_message(text, [{"type": "mention", "offset": 4, "length": 15}]), ME)
    assert is_addressed(
        group_message("/help@sellerbot_test", [{"type": "bot_command", "offset": 0, "length": 20}]), ME
    )
    assert not is_addressed(
        group_message("/help@other_bot", [{"type": "bot_command", "offset": 0, "length": 15}]), ME
    )
    assert not is_addressed(
        group_message("see /help", [{"type": "bot_command", "offset": 4, "length": 5}]), ME
    )
    text_mention = {
        "type": "text_mention",
        "offset": 0,
        "length": 3,
        "user": {"id": 42, "is_bot": True, "first_name": "B"},
    }
    assert is_addressed(group_message("bot, hi", [text_mention]), ME)
    bot = {"id": 42, "is_bot": True, "first_name": "B"}
    reply = {
        "message_id": 4,
        "date": 0,
        "chat": {"id": -100, "type": "supergroup"},
        "from": bot,
        "text": "hi",
    }
    assert is_addressed(group_message("thanks", [], reply_to_message=reply), ME)
