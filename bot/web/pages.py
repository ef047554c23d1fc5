"""How the web application's pages are made: Jinja2 templates with autoescaping (user text is
only ever a value, never a template), the application's words in both languages (`texts.yaml`),
and the headers every page carries."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bot.web.context import AGENT, CSRF

HERE = Path(__file__).resolve().parent
LANGUAGES = ("zh", "en")

# No inline script or style anywhere: the desk's script and style are files of this application.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # Tokens in a page's address never leave in a Referer header.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@cache
def texts() -> Mapping[str, Mapping[str, str]]:
    with open(HERE / "texts.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def text(key: str, lang: str, **values: Any) -> str:
    """One of the application's sentences, in `lang`, with values filled in (as plain text: the
    template escapes the result)."""
    entry = texts()[key]
    return entry.get(lang, entry["en"]).format(**values)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def pick_language(value: str | None, fallback: str = "zh") -> str:
    value = (value or "").lower()
    return value if value in LANGUAGES else fallback


def page(
    request: web.Request, template: str, *, lang: str, status: int = 200, no_store: bool = True, **values: Any
) -> web.Response:
    """A rendered page. Pages are not cached (they show a session's data or a token's state)."""
    rendered = (
        environment()
        .get_template(template)
        .render(
            lang=lang,
            t=lambda key, **kw: text(key, lang, **kw),
            csrf=request.get(CSRF, ""),
            agent=request.get(AGENT),
            **values,
        )
    )
    response = web.Response(text=rendered, status=status, content_type="text/html", charset="utf-8")
    if no_store:
        response.headers["Cache-Control"] = "no-store"
    return response
