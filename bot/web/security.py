"""Security of every request: headers on every response, the agent's session from its cookie,
and CSRF tokens on every form that changes something.

Signed-in forms carry the session's CSRF token. Forms shown before there is a session (sign-in,
setting a password, the pages behind mail links) carry a token that must match a cookie of its
own (SameSite=Strict, HttpOnly): another site can neither read it nor make the browser send it.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.web.context import AGENT, CSRF, SESSION, context_of
from bot.web.pages import SECURITY_HEADERS, page, pick_language
from handlers.apology import Apology
from services import agents

log = logging.getLogger(__name__)

SESSION_COOKIE = "sellerbot_desk"
FORM_COOKIE = "sellerbot_form"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _secure(request: web.Request) -> bool:
    return context_of(request).settings.web.cookies_secure or request.secure


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="Lax", secure=_secure(request), path="/"
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


def form_token(request: web.Request, response_cookies: dict[str, str]) -> str:
    """The token of a form shown before sign-in: the one the browser holds, or a new one (set as
    a cookie by `with_form_cookie`)."""
    token = request.cookies.get(FORM_COOKIE, "")
    if len(token) < 32:
        token = secrets.token_urlsafe(32)
        response_cookies[FORM_COOKIE] = token
    return token


def with_form_cookie(request: web.Request, response: web.StreamResponse, cookies: dict[str, str]) -> None:
    for name, value in cookies.items():
        response.set_cookie(name, value, httponly=True, samesite="Strict", secure=_secure(request), path="/")


def page_with_form(
    request: web.Request, template: str, *, lang: str, status: int = 200, **values: Any
) -> web.Response:
    """A page whose form is shown before sign-in: its token (`form` in the template) and the
    cookie it must match."""
    cookies: dict[str, str] = {}
    response = page(request, template, lang=lang, status=status, form=form_token(request, cookies), **values)
    with_form_cookie(request, response, cookies)
    return response


def form_token_ok(request: web.Request, offered: str) -> bool:
    held = request.cookies.get(FORM_COOKIE, "")
    return len(held) >= 32 and bool(offered) and hmac.compare_digest(held, offered)


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Headers on every response; an unexpected error becomes a page with a reference id, never a
    traceback."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        for name, value in SECURITY_HEADERS.items():
            exc.headers.setdefault(name, value)
        raise
    except Exception as exc:
        apology = Apology.for_error(exc, log, f"web {request.method} {request.path}")
        lang = pick_language(request.query.get("lang"))
        agent = request.get(AGENT)
        if agent is not None:
            lang = agent.language
        response = page(request, "error.html.j2", lang=lang, status=500, reference=apology.reference)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The signed-in agent (request[AGENT]) and their session, if the cookie is live."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        context = context_of(request)
        live = await agents.session_of(
            context.sessions, token, idle_minutes=context.settings.web.session_idle_minutes
        )
        if live is not None:
            request[SESSION] = live
            request[AGENT] = live.agent
            request[CSRF] = live.csrf_token
    return await handler(request)


def signed_in(handler: Handler) -> Handler:
    """Only for a signed-in agent; a POST must carry the session's CSRF token."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        live = request.get(SESSION)
        if live is None:
            if request.method == "GET" and not request.path.endswith((".json", "/events")):
                raise web.HTTPSeeOther("/desk/sign-in?ended=1")
            raise web.HTTPUnauthorized(text="signed out")
        if request.method == "POST":
            form = await request.post()
            offered = str(form.get("csrf", "")) or request.headers.get("X-CSRF-Token", "")
            if not live.csrf_matches(offered):
                raise web.HTTPForbidden(text="form expired")
        return await handler(request)

    return wrapped
