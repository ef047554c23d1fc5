"""The web application on loopback, driven over HTTP by aiohttp's client (a browser's view without
the browser; tests/web/test_browser.py has the browser)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.app import App, build_app
from bot.config import load_settings
from bot.web.app import build_web_app
from services import agents
from tests.conftest import channel_data_dir

PASSWORD = "correct horse battery"


@dataclass
class Site:
    app: App
    url: str

    def client(self) -> aiohttp.ClientSession:
        # Each client keeps its own cookies, like a browser of its own.
        return aiohttp.ClientSession(self.url, cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def agent(self, email: str, name: str, *, lead: bool = False, lang: str = "en") -> str:
        from services.models import AgentRole

        link = await agents.create_agent(
            sessions=self.app.database.sessions,
            email=email,
            name=name,
            role=AgentRole.LEAD if lead else AgentRole.AGENT,
            language=lang,
            actor="test",
        )
        await agents.set_password(
            sessions=self.app.database.sessions, token=link.value.token, password=PASSWORD
        )
        return link.value.agent.label


@pytest.fixture
def data_dir(tmp_path: Path, matcher_cache: Path, sqlite_template: Path) -> Path:
    return channel_data_dir(tmp_path, matcher_cache, sqlite_template)


@pytest.fixture
async def site(data_dir: Path) -> AsyncIterator[Site]:
    settings = load_settings(data_dir=data_dir)
    settings.web = settings.web.model_copy(update={"live_poll_seconds": 0.2})
    app = await build_app(settings)
    runner = web.AppRunner(build_web_app(app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield Site(app=app, url=f"http://{host}:{port}")
    finally:
        await runner.cleanup()
        await app.close()


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} field"
    return found.group(1)


async def sign_in(
    client: aiohttp.ClientSession, email: str, password: str = PASSWORD
) -> aiohttp.ClientResponse:
    async with client.get("/desk/sign-in?lang=en") as page:
        form = hidden(await page.text(), "form")
    return await client.post(
        "/desk/sign-in?lang=en", data={"form": form, "email": email, "password": password}
    )
