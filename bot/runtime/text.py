"""Long replies cut into messages a channel accepts, at the boundaries a reader expects."""

from __future__ import annotations

from collections.abc import Callable


def _cut_at(text: str, limit: int, units: Callable[[str], int]) -> int:
    """The longest prefix (in characters) of `text` within `limit` units."""
    if units is len:
        return min(len(text), limit)
    used = 0
    for index, char in enumerate(text):
        used += units(char)
        if used > limit:
            return index
    return len(text)


def split_paragraphs(text: str, limit: int, *, units: Callable[[str], int] = len) -> list[str]:
    """Parts of at most `limit` units (characters, or what the channel counts), cut at the last
    paragraph break, else line break, else space, else anywhere (never inside a character)."""
    parts: list[str] = []
    rest = text
    while units(rest) > limit:
        hard = max(1, _cut_at(rest, limit, units))  # at least one character, so the loop ends
        window = rest[:hard]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator)
            if cut > hard // 2:
                break
            cut = -1
        if cut <= 0:
            cut = hard
        part, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if part:
            parts.append(part)
    if rest.strip() or not parts:
        parts.append(rest)
    return parts
