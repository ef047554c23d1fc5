"""The console channel in process: numbered buttons chosen by number or label, `/file PATH`, the
group chat and its private-chat buttons, agent messages, JSON lines and the interactive loop."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from bot.console import (
    GROUP_CHAT_ID,
    ConsoleSession,
    InputError,
    render,
    run_interactive,
    run_jsonl,
)
from handlers.commands import COMMANDS
from handlers.handoff import close_as_agent, reply_as_agent
from services.models import Handoff, PickupBooking, Store
from tests.conftest import prepare_data_dir
from tests.conversation import Bot, png, t


def session(bot: Bot, user: str = "console-user", **kw) -> ConsoleSession:
    return ConsoleSession(core=bot.core, user_id=user, **kw)


async def test_buttons_are_chosen_by_number_or_label(bot: Bot) -> None:
    s = session(bot, language_hint="en")
    account = await bot.seller(link=bot.chat("console-user"))
    replies = await s.send_text("/start open_store")
    assert s.buttons == []
    await s.send_text("Sunrise Gadgets")
    assert [b.label for b in s.buttons] == ["Apparel", "Health & beauty", "Electronics", "Adult", "Other"]
    replies = await s.send_text("3")  # electronics, by number
    assert replies[0].text == t("open_store.ask_icon", "en", min=550, max_mb="5")
    replies = await s.send_text("SKIP FOR NOW")  # by label, ignoring case
    assert replies[0].text.startswith("Please check the new store")
    # words the step cannot use: the buttons come again, so a number still picks one
    replies = await s.send_text("hmm")
    assert replies[0].text == t("flows.use_buttons", "en") and s.buttons[0].label == "Confirm"
    replies = await s.send_text("1")
    assert replies[0].text.startswith("Your store “Sunrise Gadgets”")
    assert [st.title for st in await bot.rows(Store, Store.account_id == account.id)] == ["Sunrise Gadgets"]


async def test_numbers_outside_the_shown_buttons_are_text(bot: Bot) -> None:
    s = session(bot, language_hint="en")
    await bot.seller(link=bot.chat("console-user"))
    await s.send_text("/start pickup")
    await s.send_text("1")  # Shenzhen, the only button
    await s.send_text("Room 301, 1 Keji Road, Nanshan")
    await s.send_text("13800138000")  # a phone number, not a button
    replies = await s.send_text("2")  # a parcel count: no buttons are shown
    assert replies[0].text == t("pickup.ask_date", "en")
    assert len(s.buttons) == 3
    replies = await s.send_text("7")  # beyond the three date buttons: text (not a date)
    assert replies[0].text == t("pickup.date_not_date", "en")
    await s.send_text("1")
    await s.send_text("Confirm")
    [booking] = await bot.rows(PickupBooking)
    assert booking.parcels == 2 and booking.phone == "13800138000"


async def test_file_sends_a_file(bot: Bot, tmp_path: Path) -> None:
    s = session(bot, language_hint="zh")
    await bot.seller(link=bot.chat("console-user"))
    icon = tmp_path / "logo.png"
    icon.write_bytes(png(600, 600))
    await s.send_text("/start open_store")
    await s.send_text("深圳好物")
    await s.send_text("电子产品")
    replies = await s.send_text(f"/file {icon}")
    assert replies[0].text == t("open_store.icon_ok", "zh", format="PNG", width=600, height=600)
    with pytest.raises(InputError, match="usage") as usage:
        await s.send_text("/file")
    # shown in the chat's language at the terminal
    assert usage.value.message("zh") == "用法:/file 文件路径(例如 /file ~/logo.png)"
    with pytest.raises(InputError, match=r"missing\.png") as missing:
        await s.send_text(f"/file {tmp_path / 'missing.png'}")
    assert missing.value.message("zh").startswith(f"{tmp_path / 'missing.png'}:无法读取")
    with pytest.raises(InputError, match="folder") as folder:
        await s.send_text(f"/file {tmp_path}")
    assert folder.value.message("zh") == f"{tmp_path}:这是文件夹,不是文件"
    # only "/file" itself is the file command
    replies = await s.send_text("/files")
    assert replies[0].text == t("commands.unknown", "zh", command="files", commands=COMMANDS)


async def test_a_too_large_file_is_not_read(
    bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.console.MAX_FILE_BYTES", 10)
    big = tmp_path / "big.png"
    big.write_bytes(b"x" * 11)
    with pytest.raises(InputError, match="too large"):
        await session(bot).send_text(f"/file {big}")


async def test_the_group_chat_and_its_private_chat_button(bot: Bot) -> None:
    s = session(bot, is_group=True, language_hint="en")
    assert s.chat_id == GROUP_CHAT_ID
    assert not s.addressed("how do I open a store?")
    assert not s.addressed("/help@otherbot") and not s.addressed("hi @sellerbot_fan")
    assert (
        s.addressed("/help") and s.addressed("/help@sellerbot") and s.addressed("Hi @SellerBot, a question")
    )
    assert await s.send_text("how do I open a store?") == []
    replies = await s.send_text("@sellerbot how can I get more stores?")
    assert replies[0].text == bot.knowledge.render("quota_increase", "en", bot.policy)
    replies = await s.send_text("Request an increase")  # the private-chat button, by label
    assert s.is_group is False and s.chat_id == "console-user"
    assert replies[-1].text == t("link.ask_email", "en")  # not linked yet: linking first


async def test_agent_messages_are_delivered_once(bot: Bot) -> None:
    s = session(bot, language_hint="en")
    await s.send_text("/agent")
    assert await s.deliveries() == []
    [handoff] = await bot.rows(Handoff)
    await reply_as_agent(
        sessions=bot.sessions, handoff_id=handoff.id, text="Hello, this is Anna.", agent="anna"
    )
    assert [r.text for r in await s.deliveries()] == ["Hello, this is Anna."]
    assert await s.deliveries() == []
    # someone else's delivery is not shown here
    other = session(bot, "someone-else")
    await other.send_text("/agent")
    [_, theirs] = await bot.rows(Handoff)
    await reply_as_agent(sessions=bot.sessions, handoff_id=theirs.id, text="For someone else", agent="anna")
    assert await s.deliveries() == []
    await close_as_agent(sessions=bot.sessions, handoff_id=handoff.id, agent="anna")
    closed, rate = await s.deliveries()
    assert [closed.text, rate.text] == [t("handoff.closed", "en"), t("handoff.rate", "en")]
    # the rating buttons are numbered like any others: "4" picks the fourth
    assert [b.label for b in rate.buttons] == [t("handoff.rate_label", "en", stars=n) for n in range(1, 6)]
    assert [r.text for r in await s.send_text("4")] == [t("handoff.rated", "en", stars=4)]
    [rated] = await bot.rows(Handoff, Handoff.id == handoff.id)
    assert rated.rating == 4


async def jsonl(s: ConsoleSession, *lines: str) -> list[list[dict]]:
    """Run JSON lines; the output split into turns (each ending with its turn_end)."""
    out = io.StringIO()
    await run_jsonl(s, io.StringIO("".join(line + "\n" for line in lines)), out)
    turns, current = [], []
    for raw in out.getvalue().splitlines():
        item = json.loads(raw)
        current.append(item)
        if item["type"] == "turn_end":
            turns.append(current)
            current = []
    assert current == [], "output after the last turn_end"
    return turns


async def test_jsonl_turns_errors_and_deliveries(bot: Bot, tmp_path: Path) -> None:
    s = session(bot, language_hint="en")
    turns = await jsonl(
        s,
        json.dumps({"text": "/lang"}),
        "",  # blank lines are skipped
        "this is not json",
        json.dumps(["a", "list"]),
        json.dumps({"unknown": 1}),
        json.dumps({"file": str(tmp_path / "missing.png")}),
        json.dumps({"button": "made-up"}),
        json.dumps({"text": "{{7*7}}"}),
    )
    assert len(turns) == 7
    [message, end] = turns[0]
    assert message["type"] == "message" and message["text"] == t("commands.lang_choose", "en")
    assert [b["label"] for b in message["buttons"]] == ["中文", "English"]
    assert all(set(b) == {"id", "label"} for b in message["buttons"]) and end == {"type": "turn_end"}
    assert turns[1][0]["type"] == "error" and turns[1][0]["error"].startswith("not JSON")
    assert turns[2][0]["type"] == "error" and turns[3][0]["type"] == "error"
    assert turns[4] == [{"type": "error", "error": turns[4][0]["error"]}, {"type": "turn_end"}]
    assert "missing.png" in turns[4][0]["error"]
    assert turns[5][0]["text"] == t("buttons.expired", "en")
    assert all("49" not in item["text"] for item in turns[6] if item["type"] == "message")
    # a button pressed by id, then an agent's message before the next turn_end
    button = next(b for b in message["buttons"] if b["label"] == "English")
    turns = await jsonl(s, json.dumps({"button": button["id"]}), json.dumps({"text": "/agent"}))
    assert turns[0][0]["text"] == "OK, I'll reply in English."
    [handoff] = await bot.rows(Handoff)
    await reply_as_agent(sessions=bot.sessions, handoff_id=handoff.id, text="Anna here", agent="anna")
    turns = await jsonl(s, json.dumps({"text": "anyone there?"}))
    assert turns == [[{"type": "message", "text": "Anna here", "buttons": []}, {"type": "turn_end"}]]


async def test_jsonl_marks_private_chat_buttons(bot: Bot) -> None:
    s = session(bot, is_group=True, language_hint="en")
    [turn] = await jsonl(s, json.dumps({"text": "/stores"}))
    [button] = turn[0]["buttons"]
    assert button == {"id": "stores-en", "label": "My stores", "kind": "private_chat"}


def test_render_numbers_the_buttons_across_replies() -> None:
    from handlers.types import Button, ButtonKind, Reply

    lines: list[str] = []
    render(
        [
            Reply("one\ntwo", (Button("a", "First"),)),
            Reply("three", (Button("b", "Second"), Button("c", "Private", ButtonKind.PRIVATE_CHAT))),
        ],
        lines.append,
    )
    assert lines == [
        "bot> one\n     two",
        "     [1] First",
        "bot> three",
        "     [2] Second",
        "     [3] Private  (opens a private chat)",
    ]


async def test_the_interactive_loop(
    bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    icon = tmp_path / "logo.png"
    icon.write_bytes(png(600, 600))
    await bot.seller(link=bot.chat("console-user"))
    typed = iter(
        [
            "how do I open a store?",  # not addressed in the group
            "@sellerbot how do I open a store?",
            "1",  # the private-chat button
            "Sunrise Gadgets",
            "electronics",
            "/file /no/such/file.png",
            f"/file {icon}",
            "",
            "1",  # confirm
            "/quit",
            "never read",
        ]
    )

    def fake_input(prompt: str = "") -> str:
        return next(typed)

    monkeypatch.setattr("builtins.input", fake_input)
    s = session(bot, is_group=True, language_hint="en")
    await asyncio.wait_for(run_interactive(s, intro="hello there", poll_seconds=0.05), 30)
    out = capsys.readouterr().out
    assert out.startswith("hello there\n")
    assert "(not addressed to the bot" in out
    assert "     [1] Open a store  (opens a private chat)" in out
    assert "— now in your private chat with the bot —" in out
    assert "!    /no/such/file.png" in out
    assert "Icon accepted: PNG, 600×600 pixels." in out
    assert "bot> Your store “Sunrise Gadgets” (electronics) is open." in out
    assert out.rstrip().endswith("bye")
    assert next(typed) == "never read"


async def test_the_interactive_loop_shows_agent_messages_as_they_come(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    s = session(bot, language_hint="en")
    await s.send_text("/agent")
    [handoff] = await bot.rows(Handoff)
    lines = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def fake_input(prompt: str = "") -> str:
        return asyncio.run_coroutine_threadsafe(lines.get(), loop).result(10)

    monkeypatch.setattr("builtins.input", fake_input)
    task = asyncio.create_task(run_interactive(s, intro="", poll_seconds=0.02))
    await reply_as_agent(
        sessions=bot.sessions, handoff_id=handoff.id, text="Anna here, how can I help?", agent="a"
    )
    seen = ""
    for _ in range(250):
        await asyncio.sleep(0.02)
        seen += capsys.readouterr().out
        if "Anna here" in seen:
            break
    assert "bot> Anna here, how can I help?" in seen
    await lines.put("/quit")
    await asyncio.wait_for(task, 10)


async def test_a_new_app_on_the_same_data_folder_goes_on_with_the_conversation(
    tmp_path: Path, matcher_cache: Path
) -> None:
    """A restart through the composition root (bot/app.py), as `sellerbot chat` starts."""

    from bot.app import build_app
    from bot.config import load_settings
    from bot.demo import ensure_demo_seller

    data = tmp_path / "data"
    prepare_data_dir(data, matcher_cache)
    app = await build_app(load_settings(data_dir=data))
    try:
        await ensure_demo_seller(
            sessions=app.database.sessions, policy=app.settings.policy, channel="console", chat_user_id="u"
        )
        first = ConsoleSession(core=app.core, user_id="u", language_hint="en")
        await first.send_text("/start open_store")
        await first.send_text("Sunrise Gadgets")
    finally:
        await app.close()
    app = await build_app(load_settings(data_dir=data))
    try:
        second = ConsoleSession(core=app.core, user_id="u")
        replies = await second.send_text("electronics")
        assert replies[0].text == t("open_store.ask_icon", "en", min=550, max_mb="5")
        await second.send_text("Skip for now")
        replies = await second.send_text("Confirm")
        assert replies[0].text.startswith("Your store “Sunrise Gadgets” (electronics) is open.")
    finally:
        await app.close()


async def test_the_consoles_own_hints_are_in_the_sessions_language(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    typed = iter(["你们好", "@sellerbot 我的店铺有哪些", "1", "/quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(typed))
    s = session(bot, is_group=True)  # no --lang: the bot's default, Chinese
    await asyncio.wait_for(run_interactive(s, intro="", poll_seconds=0.05), 30)
    out = capsys.readouterr().out
    assert t("channel.console.not_addressed", "zh", bot_username="sellerbot") in out
    assert f"     [1] {t('actions.stores', 'zh')}  {t('channel.console.opens_private_chat', 'zh')}" in out
    assert t("channel.console.now_private", "zh") in out
