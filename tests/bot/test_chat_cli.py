"""`sellerbot chat` through the installed console script, as real processes: JSON lines read turn
by turn while the process runs (flushed, exactly one turn_end per line), bad lines, a missing
file, an agent's message arriving between turns, --demo (twice), --group, and the interactive
mode on piped stdin (buttons by number and label, /file, /quit)."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.demo import DEMO_EMAIL, DEMO_STORE
from handlers.handoff import reply_as_agent
from services.db import create_engine, session_factory
from tests.conftest import prepare_data_dir
from tests.conversation import t

SCRIPT = shutil.which("sellerbot", path=str(Path(sys.executable).parent))
TIMEOUT = 60


@pytest.fixture
def data(tmp_path: Path, matcher_cache: Path) -> Path:
    """A fresh data folder with the session's trained matcher in its cache (no training per run)."""
    data = tmp_path / "data"
    prepare_data_dir(data, matcher_cache)
    return data


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SELLERBOT_")}


class JsonlChat:
    """A running `sellerbot chat --jsonl`, spoken to one line at a time."""

    def __init__(self, data: Path, *args: str) -> None:
        assert SCRIPT, "the sellerbot console script is not installed in this environment"
        self.proc = subprocess.Popen(
            [SCRIPT, "chat", "--jsonl", "--data-dir", str(data), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=environment(),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send_raw(self, line: str) -> list[dict[str, Any]]:
        """Write one line and read that turn's output, while the process keeps running."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        turn = []
        while True:
            raw = self.lines.get(timeout=TIMEOUT)
            assert raw is not None, f"the process ended: {self.proc.wait()} {self.proc.stderr.read()}"
            item = json.loads(raw)
            turn.append(item)
            if item["type"] == "turn_end":
                break
        assert self.proc.poll() is None, "the process stopped after the turn"
        assert self.lines.empty(), "output after turn_end"
        return turn

    def send(self, **item: Any) -> list[dict[str, Any]]:
        return self.send_raw(json.dumps(item, ensure_ascii=False))

    def close(self) -> tuple[int, str]:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=TIMEOUT)
        assert self.lines.get(timeout=TIMEOUT) is None  # nothing after the last turn
        return code, self.proc.stderr.read()


def messages(turn: list[dict[str, Any]]) -> list[str]:
    assert turn[-1] == {"type": "turn_end"} and all(i["type"] != "turn_end" for i in turn[:-1])
    return [i["text"] for i in turn if i["type"] == "message"]


def button(turn: list[dict[str, Any]], label: str) -> str:
    return next(b["id"] for i in turn if i["type"] == "message" for b in i["buttons"] if b["label"] == label)


async def agent_says(data: Path, text: str) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{data / 'sellerbot.db'}")
    try:
        sessions = session_factory(engine)
        async with sessions() as session:
            [handoff_id] = (
                await session.execute(__import__("sqlalchemy").text("SELECT id FROM handoffs"))
            ).scalars()
        done = await reply_as_agent(sessions=sessions, handoff_id=handoff_id, text=text, agent="anna")
        assert done.ok
    finally:
        await engine.dispose()


@pytest.mark.slow  # a `sellerbot chat` process
def test_jsonl_turn_by_turn_with_a_running_process(data: Path) -> None:
    chat = JsonlChat(data, "--user", "script", "--lang", "en")
    try:
        turn = chat.send(text="/start")
        assert messages(turn) == [t("menu.welcome", "en")]
        assert len(turn[0]["buttons"]) == 10 and set(turn[0]["buttons"][0]) == {"id", "label"}
        turn = chat.send(button=button(turn, "Fees and commission"))
        assert "15%" in messages(turn)[0]
        # bad lines: an error, then the turn's end; the process goes on
        turn = chat.send_raw("{not json")
        assert turn[0]["type"] == "error" and turn[0]["error"].startswith("not JSON") and len(turn) == 2
        turn = chat.send(file=str(data / "missing.png"))
        assert turn[0]["type"] == "error" and "missing.png" in turn[0]["error"]
        turn = chat.send(text="{{7*7}}")
        assert all("49" not in text for text in messages(turn))
        # an agent's message arrives before the end of the next turn
        turn = chat.send(text="/agent")
        # then when a person will answer: the support hours (by the clock, on duty or not)
        [started] = messages(turn)
        hours = "\nSupport hours: Monday to Friday, 09:00–18:00 (Beijing time)."
        assert started.startswith(t("handoff.started", "en") + hours)
        asyncio.run(agent_says(data, "Hello from Anna"))
        turn = chat.send(text="are you there?")
        assert messages(turn) == ["Hello from Anna"]
        turn = chat.send(text="/cancel")
        assert messages(turn) == [t("handoff.left", "en")]
    finally:
        code, stderr = chat.close()
    assert code == 0, stderr
    assert "Traceback" not in stderr


@pytest.mark.slow  # a `sellerbot chat` process
def test_group_mode_answers_only_what_is_addressed_to_it(data: Path) -> None:
    chat = JsonlChat(data, "--group", "--demo", "--user", "member", "--lang", "en")
    try:
        assert chat.send(text="what are the fees?") == [{"type": "turn_end"}]
        assert chat.send(text="/help@otherbot") == [{"type": "turn_end"}]
        turn = chat.send(text="@sellerbot show my stores")
        assert DEMO_STORE not in messages(turn)[0]
        [private] = turn[0]["buttons"]
        assert private == {"id": "stores-en", "label": "My stores", "kind": "private_chat"}
        turn = chat.send(button=private["id"])  # moves to the private chat
        assert DEMO_STORE in messages(turn)[0]
    finally:
        assert chat.close()[0] == 0


@pytest.mark.slow  # `sellerbot chat` processes
def test_the_newcomers_path_with_the_demo_seller_then_interactive(data: Path) -> None:
    """--demo in a fresh data folder: open a store with an icon, more stores granted, a reset link
    in the outbox (JSON lines); then --demo again, interactive on piped stdin: the same seller,
    buttons by number and by label, /file, /quit."""
    chat = JsonlChat(data, "--demo", "--user", "newcomer", "--lang", "en")
    try:
        chat.send(text="/start open_store")
        turn = chat.send(text="Sunrise Gadgets")
        turn = chat.send(button=button(turn, "Electronics"))
        turn = chat.send(file=str(data / "demo-icon.png"))
        assert messages(turn)[0] == t("open_store.icon_ok", "en", format="PNG", width=550, height=550)
        turn = chat.send(button=button(turn, "Confirm"))
        assert messages(turn) == [
            t("open_store.opened", "en", title="Sunrise Gadgets", specialization="electronics", blockers=[])
        ]
        chat.send(text="I want more stores")
        chat.send(text="/start quota")
        turn = chat.send(text="more stores")
        turn = chat.send(button=button(turn, "Confirm"))
        assert messages(turn) == [t("quota.approved_store_quota", "en", before=2, after=12)]
        turn = chat.send(text="/start password_reset")
        assert messages(turn) == [t("reset.confirm_linked", "en", masked="d***@example.com")]
        turn = chat.send(button=button(turn, "Send the link"))
        assert messages(turn) == [
            t(
                "reset.sent_linked",
                "en",
                masked="d***@example.com",
                minutes=30,
                support_email="merchant@joom.com",
            )
        ]
    finally:
        assert chat.close()[0] == 0
    [mail] = list((data / "outbox").glob("*.eml"))
    assert f"To: {DEMO_EMAIL}" in mail.read_text(encoding="utf-8")

    typed = [
        "/stores",
        "/start open_store",
        "Moonlight Apparel",
        "1",  # apparel, by number
        f"/file {data / 'demo-icon.png'}",
        "confirm",  # by label (any case)
        "/quit",
        "never read",
    ]
    assert SCRIPT
    done = subprocess.run(
        [SCRIPT, "chat", "--demo", "--data-dir", str(data), "--user", "newcomer"],
        input="\n".join(typed) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environment(),
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    # the console's notes are in the bot's default language (Chinese) without --lang
    assert f"演示商家 {DEMO_EMAIL} 已绑定到您(用户 newcomer)" in out
    assert f"可以试用的店铺图标:/file {data / 'demo-icon.png'}" in out
    # the conversation goes on in the language it had (English)
    assert "• Sunrise Gadgets — electronics" in out
    assert "     [1] Apparel" in out
    assert "Icon accepted: PNG, 550×550 pixels." in out
    assert "Your store “Moonlight Apparel” (apparel) is open." in out
    assert out.rstrip().endswith("再见") and "never read" not in out
    with sqlite3.connect(data / "sellerbot.db") as db:
        assert db.execute("SELECT email FROM accounts").fetchall() == [(DEMO_EMAIL,)]
        assert db.execute("SELECT title, icon_format FROM stores ORDER BY id").fetchall() == [
            (DEMO_STORE, None),
            ("Sunrise Gadgets", "PNG"),
            ("Moonlight Apparel", "PNG"),
        ]
        assert db.execute("SELECT chat_user_id FROM chat_links").fetchall() == [("newcomer",)]


def test_bad_options_are_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["chat", "--data-dir", str(tmp_path), "--user", "not a valid id!"])
    assert result.exit_code == 2 and "--user" in result.output


def test_without_the_demo_an_unlinked_user_is_told_how_to_try_the_actions(data: Path) -> None:
    result = CliRunner().invoke(main, ["chat", "--data-dir", str(data), "--user", "newbie"], input="/quit\n")
    assert result.exit_code == 0, result.output
    assert "请加 --demo 启动" in result.output and result.output.rstrip().endswith("再见")
    english = CliRunner().invoke(
        main, ["chat", "--data-dir", str(data), "--user", "newbie", "--lang", "en"], input="/quit\n"
    )
    assert english.exit_code == 0, english.output
    assert "start with --demo" in english.output and f"data in {data}" in english.output
    assert english.output.rstrip().endswith("bye")
