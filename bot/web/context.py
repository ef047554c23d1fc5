"""What every request handler of the web application reaches through `request.app[CONTEXT]`."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.app import App
from bot.config import Settings
from services.agents import ActiveSession, AgentView
from services.db import Sessions


@dataclass
class WebContext:
    app: App

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def sessions(self) -> Sessions:
        return self.app.database.sessions


CONTEXT = web.AppKey("sellerbot", WebContext)
# The signed-in agent's session, their view and the session's CSRF token (set by the session
# middleware when the cookie is live).
SESSION = web.RequestKey("session", ActiveSession)
AGENT = web.RequestKey("agent", AgentView)
CSRF = web.RequestKey("csrf", str)


def context_of(request: web.Request) -> WebContext:
    return request.app[CONTEXT]
