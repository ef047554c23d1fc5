"""Fixtures of the Telegram tests: the fake Bot API server, settings that point the real
aiogram client at it, and a running adapter on a fresh SQLite database (the `tg` harness).

The matcher is trained once per session into a cache folder that every test's data folder
links to, and each test's database is a copy of the migrated template, so a test starts in a
fraction of a second.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.telegram.runtime import TelegramRuntime, start_telegram
from tests.conftest import channel_data_dir
from tests.telegram.fake_api import FakeBotAPI
from tests.telegram.harness import Harness

# Loose smoothing per chat in the functional tests (a flow sends several messages a turn);
# the limiter has tests of its own.
FAST_LIMITS: dict[str, Any] = {"chat_messages_per_second": 1000.0, "chat_burst": 1000}


def telegram_settings(
    data_dir: Path, fake: FakeBotAPI, *, db_url: str | None = None, **telegram: Any
) -> Settings:
    settings = load_settings(data_dir=data_dir, db_url=db_url)
    values = {
        "token": fake.token,
        "api_base_url": fake.url,
        "poll_timeout_seconds": 5,
        "delivery_poll_seconds": 0.2,
        "shutdown_grace_seconds": 10.0,
        **telegram,
    }
    settings.telegram = settings.telegram.model_validate({**settings.telegram.model_dump(), **values})
    return settings


data_dir = pytest.fixture(channel_data_dir)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    try:
        yield api
    finally:
        await api.close()


@pytest.fixture
async def runtime(fake: FakeBotAPI, data_dir: Path) -> AsyncIterator[TelegramRuntime]:
    running = await start_telegram(telegram_settings(data_dir, fake, **FAST_LIMITS))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
def tg(fake: FakeBotAPI, runtime: TelegramRuntime) -> Harness:
    return Harness(fake, runtime)


# -- PostgreSQL and Redis ----------------------------------------------------------------------
# -- the agents' desk --------------------------------------------------------------------------
@pytest.fixture
def forum(fake: FakeBotAPI):
    """The agents' group: a forum supergroup where the bot is an administrator managing topics."""
    chat = fake.group("Seller support desk", forum=True)
    fake.promote(chat, can_manage_topics=True, can_delete_messages=True, can_pin_messages=True)
    return chat


def desk_settings(
    data_dir: Path, fake: FakeBotAPI, forum: Any, *, db_url: str | None = None, **handoff: Any
) -> Settings:
    """Settings with the desk in `forum`: around-the-clock support unless a test says otherwise
    (what sellers are told then does not depend on when the tests run), and room in the group's
    per-minute limit (the limiter has tests of its own)."""
    from services.handoff_settings import HandoffSettings

    settings = telegram_settings(
        data_dir,
        fake,
        db_url=db_url,
        agents_chat_id=forum.id,
        group_messages_per_minute=10_000,
        **FAST_LIMITS,
    )
    settings.handoff = HandoffSettings(**{"support_hours": "", **handoff})
    return settings


@pytest.fixture
async def desk_runtime(fake: FakeBotAPI, data_dir: Path, forum: Any) -> AsyncIterator[TelegramRuntime]:
    running = await start_telegram(desk_settings(data_dir, fake, forum))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
def desk(fake: FakeBotAPI, desk_runtime: TelegramRuntime, forum: Any):
    from tests.telegram.desk_harness import DeskHarness

    return DeskHarness(fake, desk_runtime, forum)
