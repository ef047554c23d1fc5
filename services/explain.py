"""Explaining a refusal to people, in Chinese or English: what failed (with the stores and the
limits concerned) and what to do.

The sentences are Jinja2 templates in `services/explain.yaml`, one per rule and language, so the
wording changes without touching code. Only those templates are ever compiled: parameters
(store titles, addresses typed by users) are passed as data, and the environment is sandboxed
with undefined names raising, so a missing parameter fails loudly in tests instead of printing
an empty sentence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment

from services.cities import city_name
from services.policy import Policy
from services.results import Refused, Rule, Violation

TEMPLATES_FILE = Path(__file__).with_name("explain.yaml")
LANGUAGES = ("zh", "en")
_LIST_SEPARATOR = {"zh": "、", "en": ", "}
_QUOTES = {"zh": ("“", "”"), "en": ("“", "”")}


@cache
def _catalogue() -> dict[str, Any]:
    with TEMPLATES_FILE.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return data


def _check_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}; expected one of {', '.join(LANGUAGES)}")


def label(kind: str, value: str, lang: str) -> str:
    """The name people read for an id, e.g. label("rating", "poor", "zh") == "较差". Kinds: rating,
    specialization, state, kind, status, blocker, field, forbidden, licence_problem,
    pickup_problem, icon_reason. An unknown value is returned as it is."""
    _check_language(lang)
    table: Mapping[str, str] = _catalogue()["labels"][lang][kind]
    return table.get(str(value), str(value))


@cache
def _environment(lang: str) -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)

    def label_filter(value: Any, kind: str) -> str:
        return label(kind, value, lang)

    def labels_filter(values: Iterable[Any], kind: str, separator: str | None = None) -> str:
        return (separator or _LIST_SEPARATOR[lang]).join(label(kind, v, lang) for v in values)

    def titles(values: Iterable[str]) -> str:
        left, right = _QUOTES[lang]
        return _LIST_SEPARATOR[lang].join(f"{left}{v}{right}" for v in values)

    def cities_zh(values: Iterable[str]) -> str:
        return _LIST_SEPARATOR["zh"].join(city_name(v, "zh") for v in values)

    env.filters.update(label=label_filter, labels=labels_filter, titles=titles, cities_zh=cities_zh)
    return env


@cache
def _template(rule: Rule, lang: str) -> Template:
    source = _catalogue()["rules"][rule.value][lang]
    return _environment(lang).from_string(source)


def explain(violation: Violation, lang: str, *, policy: Policy | None = None) -> str:
    """One sentence or two for a seller: what failed and what to do."""
    _check_language(lang)
    policy = policy or Policy()
    text = _template(violation.rule, lang).render(
        p=dict(violation.params), policy=policy, support_email=policy.support_email
    )
    return " ".join(text.split()) if lang == "en" else text.strip()


def explain_refusal(refused: Refused, lang: str, *, policy: Policy | None = None) -> list[str]:
    """One explanation per failed rule, in the order the service reported them."""
    return [explain(v, lang, policy=policy) for v in refused.violations]
