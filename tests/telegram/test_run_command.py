"""`sellerbot run telegram` as a real process: it refuses to start without a usable token
(without printing the token), lets the update being handled finish on SIGTERM, and never writes
the token to its log."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from services.db import create_engine, session_factory
from services.models import InboundUpdate, UpdateStatus
from tests.conftest import clean_environment
from tests.telegram.fake_api import FakeBotAPI

ROOT = Path(__file__).resolve().parents[2]


def test_without_a_token_it_says_how_to_give_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "telegram", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "SELLERBOT_TELEGRAM__TOKEN" in result.output


def test_a_malformed_token_is_refused_without_being_printed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SELLERBOT_TELEGRAM__TOKEN", "not-a-token-s3cr3t")
    result = CliRunner().invoke(main, ["run", "telegram", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "malformed" in result.output and "s3cr3t" not in result.output


def bot_environment(fake: FakeBotAPI, data_dir: Path, **extra: str) -> dict[str, str]:
    return clean_environment(
        SELLERBOT_DATA_DIR=str(data_dir),
        SELLERBOT_TELEGRAM__TOKEN=fake.token,
        SELLERBOT_TELEGRAM__API_BASE_URL=fake.url,
        SELLERBOT_TELEGRAM__POLL_TIMEOUT_SECONDS="2",
        SELLERBOT_TELEGRAM__CHAT_BURST="1000",
        SELLERBOT_TELEGRAM__CHAT_MESSAGES_PER_SECOND="1000",
        **extra,
    )


async def start_process(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "telegram", *args,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def read_until(stream: asyncio.StreamReader, marker: str, seen: list[str]) -> None:
    async with asyncio.timeout(60):
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"the process ended before {marker!r}:\n{''.join(seen)}")
            seen.append(line)
            if marker in line:
                return


@pytest.mark.slow
async def test_sigterm_lets_the_update_being_handled_finish(fake: FakeBotAPI, data_dir: Path) -> None:
    process = await start_process(env=bot_environment(fake, data_dir))
    log: list[str] = []
    try:
        assert process.stderr is not None
        await read_until(process.stderr, "long polling", log)
        user = fake.user("Rex", language_code="en")
        chat = fake.private_chat(user)
        gate = fake.hold("sendMessage")
        update_id = fake.send(chat, user, "/help")
        await gate.arrived.wait()  # the answer is being sent…
        process.send_signal(signal.SIGTERM)
        await read_until(process.stderr, "stopping", log)  # …when the process is told to stop
        gate.open()
        async with asyncio.timeout(60):
            rest = await process.stderr.read()
            code = await process.wait()
        log.append(rest.decode())
        assert code == 0, "".join(log)
        [answer] = fake.sent(chat.id)
        assert answer.text.startswith("Here is what I can help with")
        engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'sellerbot.db'}")
        async with session_factory(engine)() as session:
            status = await session.scalar(
                select(InboundUpdate.status).where(InboundUpdate.update_id == update_id)
            )
        await engine.dispose()
        assert status is UpdateStatus.DONE
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.slow
async def test_the_token_never_appears_in_the_log(fake: FakeBotAPI, data_dir: Path) -> None:
    env = bot_environment(fake, data_dir, SELLERBOT_APP__LOG_LEVEL="DEBUG")
    process = await start_process(env=env)
    log: list[str] = []
    try:
        assert process.stderr is not None
        await read_until(process.stderr, "long polling", log)
        user = fake.user("Sam", language_code="en")
        chat = fake.private_chat(user)
        fake.fail("download", status=404)  # the error quotes the file URL, which holds the token
        fake.send_document(chat, user, b"\x89PNG", name="logo.png", mime_type="image/png")
        await fake.wait_until(lambda: len(fake.sent(chat.id)) == 1)
        reference = fake.sent(chat.id)[0].text.rsplit(" ", 1)[-1].rstrip(".")
        fake.fail("sendMessage", status=0)  # a network error while sending, retried
        fake.send(chat, user, "/help")
        await fake.wait_until(lambda: len(fake.sent(chat.id)) == 2)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            rest = await process.stderr.read()
            await process.wait()
        log.append(rest.decode())
        text = "".join(log)
        assert reference in text  # the failure is in the log, with its reference …
        secret = fake.token.split(":", 1)[1]
        assert secret not in text  # … and the token is not
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
