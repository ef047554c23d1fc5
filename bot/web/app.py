"""`sellerbot serve`: one aiohttp application for the agents' desk, the pages behind the links in
mails, /healthz and /metrics (and, where channels use webhooks, their endpoints can be mounted
on it: `bot.commands.serve`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from bot.app import App
from bot.web import auth, desk, health, mail_links
from bot.web.context import CONTEXT, WebContext
from bot.web.pages import HERE
from bot.web.security import security_middleware, session_middleware


async def _home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/desk")


def build_web_app(app: App) -> web.Application:
    web_app = web.Application(
        middlewares=[security_middleware, session_middleware],
        # The reply form's file, with the form around it.
        client_max_size=app.settings.web.max_upload_bytes + 64 * 1024,
    )
    web_app[CONTEXT] = WebContext(app=app)
    web_app.router.add_get("/", _home)
    for module in (health, mail_links, auth, desk):
        web_app.add_routes(module.routes)
    web_app.router.add_static("/static", HERE / "static", append_version=True)
    return web_app


async def serve_web_until_cancelled(
    app: App, host: str, port: int, *, on_listening: Callable[[str], None]
) -> None:
    """Serve the web application on host:port until cancelled; `on_listening` gets the URL it is
    reached at (the port bound when `port` is 0)."""
    runner = web.AppRunner(build_web_app(app), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound = runner.addresses[0] if runner.addresses else (host, port)
        on_listening(f"http://{bound[0]}:{bound[1]}")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
