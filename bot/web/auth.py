"""Signing in and out of the desk, setting a password through its one-time link, and the desk's
language."""

from __future__ import annotations

from aiohttp import web

from bot.web.context import AGENT, SESSION, context_of
from bot.web.pages import pick_language
from bot.web.security import (
    clear_session_cookie,
    form_token_ok,
    page_with_form,
    set_session_cookie,
    signed_in,
)
from services import agents
from services.results import Refused, Rule

routes = web.RouteTableDef()


def _lang(request: web.Request) -> str:
    return pick_language(request.query.get("lang") or request.cookies.get("sellerbot_lang"))


def _sign_in_page(
    request: web.Request, *, status: int = 200, message: str = "", email: str = ""
) -> web.Response:
    return page_with_form(
        request, "sign_in.html.j2", lang=_lang(request), status=status, message=message, email=email
    )


@routes.get("/desk/sign-in")
async def sign_in_form(request: web.Request) -> web.StreamResponse:
    if request.get(AGENT) is not None:
        raise web.HTTPSeeOther("/desk")
    message = ""
    if request.query.get("ended"):
        message = "session_ended"
    elif request.query.get("out"):
        message = "signed_out"
    elif request.query.get("password"):
        message = "password_set"
    return _sign_in_page(request, message=message)


@routes.post("/desk/sign-in")
async def sign_in(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    if not form_token_ok(request, str(form.get("form", ""))):
        return _sign_in_page(request, status=403, message="form_expired")
    email = str(form.get("email", ""))[:254]
    context = context_of(request)
    result = await agents.sign_in(
        sessions=context.sessions,
        email=email,
        password=str(form.get("password", ""))[: agents.MAX_PASSWORD_CHARS + 1],
        ip=request.remote or "unknown",
    )
    if isinstance(result, Refused):
        # The same words whether the address or the password was wrong, or too many tries
        # were made (then the message says to wait).
        message = "rate_limited" if Rule.RATE_LIMITED in result.rules else "sign_in_failed"
        return _sign_in_page(
            request, status=401 if message == "sign_in_failed" else 429, message=message, email=email
        )
    response = web.HTTPSeeOther("/desk")
    set_session_cookie(request, response, result.value.session_token)
    raise response


@routes.post("/desk/sign-out")
@signed_in
async def sign_out(request: web.Request) -> web.StreamResponse:
    await agents.sign_out(context_of(request).sessions, request[SESSION].id)
    response = web.HTTPSeeOther(f"/desk/sign-in?out=1&lang={request[AGENT].language}")
    clear_session_cookie(response)
    raise response


@routes.post("/desk/language")
@signed_in
async def language(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    chosen = pick_language(str(form.get("language", "")), request[AGENT].language)
    await agents.set_language(context_of(request).sessions, request[AGENT].id, chosen)
    raise web.HTTPSeeOther(
        str(form.get("back", "/desk")) if str(form.get("back", "")).startswith("/desk") else "/desk"
    )


@routes.get("/desk/set-password")
async def set_password_form(request: web.Request) -> web.StreamResponse:
    """Looking at the link spends nothing: only the form's POST does."""
    token = request.query.get("token", "")
    async with context_of(request).sessions() as session:
        agent = await agents.password_link_agent(session, token=token)
    lang = pick_language(request.query.get("lang"), agent.language if agent else "zh")
    return page_with_form(
        request,
        "set_password.html.j2",
        lang=lang,
        status=200 if agent else 410,
        link_agent=agent,
        token=token,
        message="",
        min_chars=agents.MIN_PASSWORD_CHARS,
    )


@routes.post("/desk/set-password")
async def set_password(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    token = str(form.get("token", ""))
    context = context_of(request)
    async with context.sessions() as session:
        agent = await agents.password_link_agent(session, token=token)
    lang = pick_language(str(form.get("lang", "")), agent.language if agent else "zh")

    def again(message: str, status: int) -> web.Response:
        return page_with_form(
            request,
            "set_password.html.j2",
            lang=lang,
            status=status,
            link_agent=agent,
            token=token,
            message=message,
            min_chars=agents.MIN_PASSWORD_CHARS,
        )

    if not form_token_ok(request, str(form.get("form", ""))):
        return again("form_expired", 403)
    if agent is None:
        return again("", 410)
    password = str(form.get("password", ""))
    if password != str(form.get("password_again", "")):
        return again("passwords_differ", 400)
    result = await agents.set_password(sessions=context.sessions, token=token, password=password)
    if isinstance(result, Refused):
        return again("password_invalid" if Rule.PASSWORD_INVALID in result.rules else "link_invalid", 400)
    raise web.HTTPSeeOther(f"/desk/sign-in?password=1&lang={lang}")
