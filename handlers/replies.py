"""Every sentence the bot says, as Jinja2 templates in zh and en.

The catalogue lives in `handlers/replies/<lang>.yaml`, keyed by dotted names
(`open_store.ask_title`), so wording changes without code changes. Values the user typed are
passed to templates as data and are never themselves rendered as templates.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment

from services.cities import city_name

CATALOGUE_DIR = Path(__file__).resolve().parent / "replies"
LANGUAGES = ("zh", "en")


class MissingReply(KeyError):
    """A reply key that is not in the catalogue: a bug, caught by the catalogue tests."""


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value).rstrip("\n")
    return flat


def _join(items: Any, lang: str, conjunction: str | None = None) -> str:
    """ "a, b and c" (en) or "甲、乙、丙" (zh); with a conjunction ("or", "还是") before the last."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    if lang == "zh":
        if conjunction is None:
            return "、".join(items)
        return "、".join(items[:-1]) + conjunction + items[-1]
    word = f" {conjunction or 'and'} "
    if len(items) == 2:
        return word.join(items)
    return ", ".join(items[:-1]) + word + items[-1]


join_list = _join


def _duration(minutes: Any, lang: str) -> str:
    """A policy duration in minutes as people say it: "24 hours", "10 minutes", "24小时"."""
    minutes = int(minutes)
    if minutes >= 60 and minutes % 60 == 0:
        return say("units.hours", lang, n=minutes // 60)
    return say("units.minutes", lang, n=minutes)


@cache
def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
    )
    env.filters["city"] = city_name
    env.filters["join_list"] = _join
    env.filters["duration"] = _duration
    # True when the channel shows choices as numbered lines (QQ) instead of buttons.
    env.globals["numbered"] = False
    return env


@cache
def catalogue(lang: str) -> dict[str, str]:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}")
    path = CATALOGUE_DIR / f"{lang}.yaml"
    return _flatten(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


@cache
def _template(lang: str, key: str) -> Template:
    try:
        source = catalogue(lang)[key]
    except KeyError:
        raise MissingReply(f"{lang}:{key}") from None
    return _environment().from_string(source)


def say(key: str, lang: str, /, **context: Any) -> str:
    """The reply `key` in `lang`, rendered with `context` (plain data only)."""
    return _template(lang, key).render(lang=lang, **context).strip()


def has(key: str, lang: str = "en") -> bool:
    return key in catalogue(lang)
