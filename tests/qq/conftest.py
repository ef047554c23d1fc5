"""Fixtures of the QQ tests: the fakes (the official API, a OneBot client), settings that point the
adapter at them, and a running adapter on a fresh SQLite database for each protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.qq.runtime import QQRuntime, start_qq
from services.handoff_settings import HandoffSettings
from tests.conftest import channel_data_dir
from tests.qq.fake_official import FakeOfficialAPI
from tests.qq.fake_onebot import FakeOneBotClient
from tests.qq.harness import OfficialHarness, OneBotHarness

ONEBOT_TOKEN = "onebot-test-token"
# Loose smoothing per chat in the functional tests (a flow sends several messages a turn); the
# limiter has tests of its own.
FAST: dict[str, Any] = {
    "chat_messages_per_second": 1000.0,
    "chat_burst": 1000,
    "group_messages_per_minute": 10_000,
}


def qq_settings(data_dir: Path, *, db_url: str | None = None, **qq: Any) -> Settings:
    settings = load_settings(data_dir=data_dir, db_url=db_url)
    values = {"delivery_poll_seconds": 0.2, "shutdown_grace_seconds": 10.0, **FAST, **qq}
    settings.qq = settings.qq.model_validate({**settings.qq.model_dump(), **values})
    # Support around the clock: what a seller handed to a person is told does not depend on when
    # the tests run.
    settings.handoff = HandoffSettings(support_hours="")
    return settings


def official_settings(data_dir: Path, fake: FakeOfficialAPI, **qq: Any) -> Settings:
    values = {
        "protocol": "official",
        "app_id": fake.app_id,
        "app_secret": fake.secret,
        "api_base_url": fake.url,
        "token_url": f"{fake.url}/app/getAppAccessToken",
        "webhook_listen": "127.0.0.1:0",
        **qq,
    }
    return qq_settings(data_dir, **values)


def onebot_settings(data_dir: Path, **qq: Any) -> Settings:
    values = {
        "protocol": "onebot",
        "onebot_listen": "127.0.0.1:0",
        "onebot_access_token": ONEBOT_TOKEN,
        "onebot_action_timeout_seconds": 5.0,
        **qq,
    }
    return qq_settings(data_dir, **values)


data_dir = pytest.fixture(channel_data_dir)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOfficialAPI]:
    api = FakeOfficialAPI()
    await api.start()
    try:
        yield api
    finally:
        await api.close()


async def start_official(fake: FakeOfficialAPI, settings: Settings) -> QQRuntime:
    runtime = await start_qq(settings)
    fake.webhook_url = f"http://127.0.0.1:{runtime.port}{settings.qq.webhook_path}"
    return runtime


@pytest.fixture
async def official_runtime(fake: FakeOfficialAPI, data_dir: Path) -> AsyncIterator[QQRuntime]:
    running = await start_official(fake, official_settings(data_dir, fake))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
def official(fake: FakeOfficialAPI, official_runtime: QQRuntime) -> OfficialHarness:
    return OfficialHarness(fake, official_runtime)


@pytest.fixture
async def client() -> AsyncIterator[FakeOneBotClient]:
    onebot = FakeOneBotClient(token=ONEBOT_TOKEN)
    await onebot.start_image_host()
    try:
        yield onebot
    finally:
        await onebot.close()


def onebot_url(runtime: QQRuntime) -> str:
    return f"ws://127.0.0.1:{runtime.port}{runtime.settings.qq.onebot_path}"


async def connected(client: FakeOneBotClient, runtime: QQRuntime) -> None:
    """Connect the client and wait until the server has it."""
    assert await client.connect(onebot_url(runtime)) == 101
    assert runtime.onebot is not None
    assert await runtime.onebot.connection(client.self_id, wait=30) is not None


@pytest.fixture
async def onebot_runtime(client: FakeOneBotClient, data_dir: Path) -> AsyncIterator[QQRuntime]:
    running = await start_qq(onebot_settings(data_dir))
    try:
        await connected(client, running)
        yield running
    finally:
        await running.stop()


@pytest.fixture
def onebot(client: FakeOneBotClient, onebot_runtime: QQRuntime) -> OneBotHarness:
    return OneBotHarness(client, onebot_runtime)


@pytest.fixture(params=["official", "onebot"])
def qq(request: pytest.FixtureRequest) -> OfficialHarness | OneBotHarness:
    """The adapter on each protocol in turn: what a seller sees must not depend on it."""
    return request.getfixturevalue(request.param)
