"""`sellerbot run qq` as a real process, on each protocol: it refuses to start with settings that
cannot work and says what is missing; it serves; it stops cleanly on SIGTERM; and after a kill -9
and a restart the conversation goes on where it was."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from handlers import replies
from tests.conftest import clean_environment
from tests.qq.conftest import ONEBOT_TOKEN
from tests.qq.fake_official import FakeOfficialAPI
from tests.qq.fake_onebot import FakeOneBotClient

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


def test_the_official_api_without_its_credentials_says_which_are_missing(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "qq", "--protocol", "official", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "app_id (SELLERBOT_QQ__APP_ID)" in result.output
    assert "app_secret (SELLERBOT_QQ__APP_SECRET)" in result.output


def test_a_onebot_listener_open_to_other_machines_needs_a_token(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SELLERBOT_QQ__ONEBOT_LISTEN", "0.0.0.0:6700")
    result = CliRunner().invoke(main, ["run", "qq", "--protocol", "onebot", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "SELLERBOT_QQ__ONEBOT_ACCESS_TOKEN" in result.output
    assert "Traceback" not in result.output


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    return clean_environment(
        SELLERBOT_DATA_DIR=str(data_dir),
        SELLERBOT_QQ__CHAT_BURST="1000",
        SELLERBOT_QQ__CHAT_MESSAGES_PER_SECOND="1000",
        **extra,
    )


def official_environment(fake: FakeOfficialAPI, data_dir: Path, **extra: str) -> dict[str, str]:
    return environment(
        data_dir,
        SELLERBOT_QQ__PROTOCOL="official",
        SELLERBOT_QQ__APP_ID=fake.app_id,
        SELLERBOT_QQ__APP_SECRET=fake.secret,
        SELLERBOT_QQ__API_BASE_URL=fake.url,
        SELLERBOT_QQ__TOKEN_URL=f"{fake.url}/app/getAppAccessToken",
        SELLERBOT_QQ__WEBHOOK_LISTEN="127.0.0.1:0",
        **extra,
    )


class Process:
    """`sellerbot run qq` in a process of its own, and what it logged."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.log: list[str] = []
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> int:
        """Start it; returns the port it listens on."""
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "qq",
            cwd=ROOT, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        line = await self.read_until("listening on")
        found = _LISTENING.search(line)
        assert found, line
        return int(found.group(1))

    async def read_until(self, marker: str) -> str:
        assert self.process is not None and self.process.stderr is not None
        async with asyncio.timeout(60):
            while True:
                line = (await self.process.stderr.readline()).decode()
                if not line:
                    raise AssertionError(f"the process ended before {marker!r}:\n{''.join(self.log)}")
                self.log.append(line)
                if marker in line:
                    return line

    async def terminate(self) -> int:
        assert self.process is not None and self.process.stderr is not None
        self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            rest = await self.process.stderr.read()
            code = await self.process.wait()
        self.log.append(rest.decode())
        return code

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@pytest.mark.slow
async def test_official_serves_and_goes_on_after_a_kill_and_a_restart(
    fake: FakeOfficialAPI, data_dir: Path
) -> None:
    env = official_environment(fake, data_dir)
    first = Process(env)
    second = Process(env)
    try:
        fake.webhook_url = f"http://127.0.0.1:{await first.start()}/qq/webhook"
        kind, data = fake.message_event(group=None, user="u-run", text="/lang")
        assert (await fake.post_webhook(fake.envelope(kind, data)))[0] == 200
        await fake.wait_for(lambda: len(fake.sent_to("u-run")) == 1)
        assert "1. 中文" in fake.sent_to("u-run")[0].text
        await first.kill()  # kill -9 in the middle of the conversation

        fake.webhook_url = f"http://127.0.0.1:{await second.start()}/qq/webhook"
        kind, data = fake.message_event(group=None, user="u-run", text="2")
        assert (await fake.post_webhook(fake.envelope(kind, data)))[0] == 200
        lang_set = replies.say("commands.lang_set", "en")
        await fake.wait_for(lambda: any(s.text == lang_set for s in fake.sent_to("u-run")))
        # If the kill came between the answer and its mark in the outbox, the restart sends that
        # answer once more (whether it had gone is not known); nothing else comes between.
        first_answer = fake.sent_to("u-run")[0].text
        between = [s.text for s in fake.sent_to("u-run")[1:-1]]
        assert between in ([], [first_answer]), between
        assert await second.terminate() == 0, "".join(second.log)
        assert "stopped" in "".join(second.log)
    finally:
        await first.kill()
        await second.kill()


@pytest.mark.slow
async def test_onebot_serves_and_goes_on_after_a_kill_and_a_restart(data_dir: Path) -> None:
    env = environment(
        data_dir,
        SELLERBOT_QQ__PROTOCOL="onebot",
        SELLERBOT_QQ__ONEBOT_LISTEN="127.0.0.1:0",
        SELLERBOT_QQ__ONEBOT_ACCESS_TOKEN=ONEBOT_TOKEN,
    )
    first, second = Process(env), Process(env)
    client = FakeOneBotClient(token=ONEBOT_TOKEN)
    try:
        port = await first.start()
        assert await client.connect(f"ws://127.0.0.1:{port}/onebot/v11/ws") == 101
        await first.read_until("OneBot 10001 connected")
        await client.send_event(client.message_event(group=None, user="7777", text="/lang"))
        await client.wait_for(lambda: len(client.posted_to("7777")) == 1)
        assert "1. 中文" in client.posted_to("7777")[0].text
        await first.kill()
        await client.closed_by_server.wait()

        port = await second.start()
        assert await client.connect(f"ws://127.0.0.1:{port}/onebot/v11/ws") == 101
        await second.read_until("OneBot 10001 connected")
        await client.send_event(client.message_event(group=None, user="7777", text="2"))
        lang_set = replies.say("commands.lang_set", "en")
        await client.wait_for(lambda: any(p.text == lang_set for p in client.posted_to("7777")))
        # (The answer the kill may have caught before its mark is sent once more.)
        first_answer = client.posted_to("7777")[0].text
        between = [p.text for p in client.posted_to("7777")[1:-1]]
        assert between in ([], [first_answer]), between
        assert await second.terminate() == 0, "".join(second.log)
    finally:
        await client.close()
        await first.kill()
        await second.kill()
