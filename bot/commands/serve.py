"""`sellerbot serve`: the web application (the agents' desk, the pages behind mail links,
/healthz, /metrics) — see `bot.web.app`."""

from __future__ import annotations

import asyncio
import logging

import click

from bot.commands.shared import fail, require_extra, with_settings
from bot.config import Settings, split_host_port

log = logging.getLogger(__name__)


@click.command("serve")
@with_settings
@click.option("--listen", default=None, help="host:port to listen on (default: [web] listen).")
def serve(settings: Settings, listen: str | None) -> None:
    """Serve the agents' desk in a browser and the pages behind the links in mails."""
    require_extra("web", "sellerbot serve")
    if listen:
        try:
            settings.web = settings.web.model_validate({**settings.web.model_dump(), "listen": listen})
        except ValueError:
            fail("--listen: use host:port, e.g. 127.0.0.1:8000")
    try:
        asyncio.run(_serve(settings))
    except KeyboardInterrupt:
        pass


async def _serve(settings: Settings) -> None:
    from bot.app import build_app, configure_logging
    from bot.web.app import serve_web_until_cancelled

    configure_logging(settings)
    app = await build_app(settings)
    host, port = split_host_port(settings.web.listen)
    try:
        # Scripts (and the tests) read this line to learn the port when --listen asks for any (0).
        await serve_web_until_cancelled(
            app, host, port, on_listening=lambda url: click.echo(f"serving on {url}", err=True)
        )
    finally:
        await app.close()
