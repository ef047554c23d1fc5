"""Deep links: `/start <payload>` opens the private chat at a flow (or a person), in the language
of the group conversation the seller comes from (`quota-en`).

A module of its own: the turn context makes payloads for its private-chat buttons, and the
commands, which read them, import the turn context.
"""

from __future__ import annotations

from handlers.replies import LANGUAGES


def start_payload(target: str, lang: str) -> str:
    """The deep-link payload that opens `target` (a flow's payload, "agent") in `lang`."""
    return f"{target}-{lang}"


def read_payload(payload: str) -> tuple[str, str | None]:
    """(target, language) of a deep-link payload; the language is None when it names none."""
    target, _, lang = payload.strip().lower().rpartition("-")
    if not target or lang not in LANGUAGES:
        return payload.strip().lower(), None
    return target, lang
