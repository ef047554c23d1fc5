"""The pages behind the links in mails: confirming a new login e-mail, and stopping a change.

A GET shows what the link will do, with one button; only the POST spends the token (mail
scanners open links with a GET). Each page is in the mail's language (`lang` in the link), and a
used or expired link says so and what to do next.
"""

from __future__ import annotations

from aiohttp import web

from bot.web.context import context_of
from bot.web.pages import pick_language
from bot.web.security import form_token_ok, page_with_form
from services.email_change import CANCEL_PAGE, CONFIRM_PAGE, confirm_email_change, stop_email_change
from services.results import Refused, Rule

routes = web.RouteTableDef()

_PAGES = {CONFIRM_PAGE: "confirm", CANCEL_PAGE: "stop"}


def _show(
    request: web.Request, which: str, *, lang: str, token: str, status: int = 200, **values: object
) -> web.Response:
    return page_with_form(
        request,
        "mail_link.html.j2",
        lang=lang,
        status=status,
        which=which,
        token=token,
        support=context_of(request).settings.policy.support_email,
        **{"outcome": "", "email": "", **values},
    )


def _get(page_name: str):
    async def show(request: web.Request) -> web.StreamResponse:
        lang = pick_language(request.query.get("lang"))
        return _show(request, _PAGES[page_name], lang=lang, token=request.query.get("token", ""))

    return show


def _post(page_name: str):
    async def spend(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        lang = pick_language(str(form.get("lang", "")))
        token = str(form.get("token", ""))[:200]
        which = _PAGES[page_name]
        if not form_token_ok(request, str(form.get("form", ""))):
            return _show(request, which, lang=lang, token=token, status=403, outcome="form_expired")
        context = context_of(request)
        action = confirm_email_change if which == "confirm" else stop_email_change
        result = await action(
            sessions=context.sessions,
            policy=context.settings.policy,
            mail=context.app.mail,
            token=token,
            lang=lang,
            actor=f"web:{request.remote or 'unknown'}",
        )
        if isinstance(result, Refused):
            outcome = "email_taken" if Rule.EMAIL_TAKEN in result.rules else "link_invalid"
            return _show(request, which, lang=lang, token="", status=410, outcome=outcome)
        if which == "confirm":
            return _show(
                request, which, lang=lang, token="", outcome="confirm_done", email=result.value.new_email
            )
        restored = result.value.restored_email
        return _show(
            request,
            which,
            lang=lang,
            token="",
            outcome="stop_undone" if restored else "stop_done",
            email=restored or "",
        )

    return spend


for _name in _PAGES:
    routes.get(f"/{_name}")(_get(_name))
    routes.post(f"/{_name}")(_post(_name))
