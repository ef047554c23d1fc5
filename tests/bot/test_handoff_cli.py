"""`sellerbot admin handoffs | reply | close` and `sellerbot report unanswered`, against a
conversation held through the real conversation core on the embedded default."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.app import build_app
from bot.cli import main
from bot.config import load_settings
from bot.console import ConsoleSession
from tests.conftest import prepare_data_dir


@pytest.fixture
def data_dir(tmp_path: Path, matcher_cache: Path) -> Path:
    """A fresh data folder with the session's trained matcher (no training per test)."""
    prepare_data_dir(tmp_path, matcher_cache)
    return tmp_path


def cli(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--data-dir", str(data_dir)], catch_exceptions=False)


def talk(data_dir: Path, *texts: str, user: str = "seller1") -> list[list[str]]:
    """Send messages as a console user; returns the reply texts of each, deliveries first."""

    async def run() -> list[list[str]]:
        app = await build_app(load_settings(data_dir=data_dir))
        try:
            session = ConsoleSession(core=app.core, user_id=user)
            out = []
            for text in texts:
                delivered = await session.deliveries()
                replies = await session.send_text(text)
                out.append([r.text for r in delivered + replies])
            return out
        finally:
            await app.close()

    return asyncio.run(run())


@pytest.fixture
def handed_off(data_dir: Path) -> Path:
    replies = talk(data_dir, "我要转人工", "我的店铺被封了怎么办")
    assert "人工" in replies[0][0]
    assert replies[1] == []  # silent while a person has the conversation
    return data_dir


def test_agent_sees_the_waiting_conversation_with_its_context(handed_off: Path) -> None:
    listed = cli(handed_off, "admin", "handoffs")
    assert listed.exit_code == 0
    assert "handoff 1 [waiting]" in listed.stdout and "我的店铺被封了怎么办" in listed.stdout
    data = json.loads(cli(handed_off, "admin", "handoffs", "--json").stdout)
    assert [h["status"] for h in data] == ["waiting"]
    assert data[0]["last_turns"][-1]["text"] == "我的店铺被封了怎么办"


def test_agent_reply_reaches_the_seller_and_close_returns_to_the_bot(handed_off: Path) -> None:
    assert cli(handed_off, "admin", "reply", "1", "您好,请问店铺名称?", "--agent", "wang").exit_code == 0
    replies = talk(handed_off, "Sunny Gadgets")
    assert replies == [["您好,请问店铺名称?"]]  # the agent's message; the bot stays silent
    assert cli(handed_off, "admin", "close", "1", "--agent", "wang").exit_code == 0
    back = talk(handed_off, "佣金多少")[0]
    assert "人工客服已结束" in back[0]  # the notice, in the seller's language
    assert "打分" in back[1]  # the agent had answered: the seller is asked to rate the help
    assert "15" in back[2]  # and the bot answers again
    assert "no conversations are waiting" in cli(handed_off, "admin", "handoffs").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("admin", "reply", "7", "hi"), "no handoff no. 7"),
        (("admin", "reply", "1", "   "), "message is empty"),
        (("admin", "close", "7"), "no handoff no. 7"),
    ],
)
def test_bad_agent_commands_exit_2_and_change_nothing(
    handed_off: Path, args: tuple[str, ...], message: str
) -> None:
    result = cli(handed_off, *args)
    assert result.exit_code == 2 and message in result.stderr.lower()
    assert json.loads(cli(handed_off, "admin", "handoffs", "--json").stdout)[0]["status"] == "waiting"


def test_closing_twice_is_refused(handed_off: Path) -> None:
    assert cli(handed_off, "admin", "close", "1").exit_code == 0
    second = cli(handed_off, "admin", "close", "1")
    assert second.exit_code == 2 and "already closed" in second.stderr


def test_report_groups_unanswered_questions_by_similarity(data_dir: Path) -> None:
    talk(
        data_dir,
        "how do i register a trademark",
        "how to register a trademark?",
        "商标怎么注册",
        "佣金多少",  # answered: not in the report
        "how do i register on amazon",  # declined by saying where to go: not in the report either
    )
    report = cli(data_dir, "report", "unanswered", "--json")
    groups = json.loads(report.stdout)
    assert [(g["count"], g["language"]) for g in groups] == [(2, "en"), (1, "zh")]
    assert all("佣金" not in q and "amazon" not in q for g in groups for q in g["examples"])
    text = cli(data_dir, "report", "unanswered", "--min-count", "2").stdout
    assert "2 ×" in text and "商标" not in text
