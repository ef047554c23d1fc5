"""The core's replies as QQ messages.

QQ shows no inline buttons without the platform's approval, so a reply's buttons become numbered
lines under its text ("1. Open a store"), numbered across the whole turn in the order the core
recorded them (`handlers.choices`), with a hint to answer by number; a button that opens the
private chat becomes a line saying how to message the bot privately, in QQ's terms. With markdown
keyboards enabled (an approved bot), choices are buttons under a markdown message instead.

A turn's replies go as few messages as possible (the official API lets a bot answer one message
only a few times): their texts are joined, and cut again only where a text is longer than
`max_chars`, at paragraph, line or word boundaries. Files go as messages of their own, in place.

Links: the platform refuses a message with a web address not on the bot's allow-list. In the
"plain" mode (the default) addresses are written without their scheme (merchant.joom.com), which
QQ shows as text; should the platform still refuse one, `defang_links` writes its dots as "．".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.runtime.text import split_paragraphs
from faq.normalize import detect_language
from handlers import replies as catalogue
from handlers.types import Button, ButtonKind, InboundFile, Reply

_URL_RE = re.compile(r"\bhttps?://([^\s<>\"'（）()，。]+)", re.IGNORECASE)
_DOMAIN_RE = re.compile(
    r"\b((?:[a-z0-9-]+\.)+(?:com|cn|net|org|io|ru|de|fr|uk|co|info|biz|app|me|top|xyz|site))\b",
    re.IGNORECASE,
)
# Markdown (keyboard messages): characters that would format a seller's text.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]()#+\-!>|~])")


def plain_links(text: str) -> str:
    """Web addresses without their scheme: QQ does not treat them as links."""
    return _URL_RE.sub(lambda m: m.group(1), text)


def defang_links(text: str) -> str:
    """Anything that looks like a domain, with its dots written "．" (read by people, not taken
    for a link by the platform)."""
    return _DOMAIN_RE.sub(lambda m: m.group(1).replace(".", "．"), plain_links(text))


def escape_markdown(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True)
class OutText:
    text: str
    # With markdown keyboards: the choices, as buttons under the message.
    keyboard: tuple[Button, ...] = ()


@dataclass(frozen=True)
class OutFile:
    name: str
    data: bytes = field(repr=False)
    mime_type: str = ""
    caption: str = ""

    @property
    def is_image(self) -> bool:
        return self.mime_type.startswith("image/") or self.name.lower().endswith(
            (".png", ".jpg", ".jpeg", ".gif")
        )


Out = OutText | OutFile


def reply_language(replies: Sequence[Reply], default: str) -> str:
    text = " ".join(r.text for r in replies)
    return detect_language(text, default) if text.strip() else default


class Renderer:
    def __init__(
        self,
        *,
        max_chars: int,
        links: str = "plain",
        keyboards: bool = False,
        private_chat: Callable[[Button, str, str], str],
        default_language: str = "zh",
    ) -> None:
        self.max_chars = max_chars
        self.links = links
        self.keyboards = keyboards
        self.private_chat = private_chat
        self.default_language = default_language

    def text_of(self, text: str) -> str:
        return plain_links(text) if self.links == "plain" else text

    def replies(self, replies: Sequence[Reply], *, group: bool, bot_id: str = "") -> list[Out]:
        """The messages that show one turn's replies (`bot_id`: the bot account that sends them)."""
        lang = reply_language(replies, self.default_language)
        out: list[Out] = []
        pending: list[str] = []
        keyboard: list[Button] = []
        number = 0
        numbered_here = False
        for reply in replies:
            lines = [reply.text.strip()] if reply.text.strip() else []
            choices = [b for b in reply.buttons if b.kind is ButtonKind.CALLBACK]
            if choices and self.keyboards:
                keyboard += choices
            elif choices:
                listed = []
                for button in choices:
                    number += 1
                    listed.append(f"{number}. {button.label}")
                lines.append("\n".join(listed))
                numbered_here = True
            lines += [
                self.private_chat(b, lang, bot_id) for b in reply.buttons if b.kind is ButtonKind.PRIVATE_CHAT
            ]
            if lines:
                pending.append("\n".join(lines))
            if reply.files:
                out += self._texts(pending, keyboard, numbered_here, group=group, lang=lang)
                pending, keyboard, numbered_here = [], [], False
                out += [OutFile(f.name, f.data, f.mime_type) for f in reply.files]
        out += self._texts(pending, keyboard, numbered_here, group=group, lang=lang)
        return out

    def _texts(
        self, blocks: list[str], keyboard: list[Button], numbered: bool, *, group: bool, lang: str
    ) -> list[Out]:
        if not blocks:
            return []
        if numbered:
            hint = "channel.qq.choose_group" if group else "channel.qq.choose_private"
            blocks = [*blocks, catalogue.say(hint, lang)]
        parts = split_paragraphs(self.text_of("\n\n".join(blocks)), self.max_chars)
        out: list[Out] = [OutText(part) for part in parts]
        if keyboard:
            out[-1] = OutText(parts[-1], keyboard=tuple(keyboard))
        return out

    def text(self, text: str) -> list[Out]:
        """A message of the adapter's own (a notice), cut to the channel's length."""
        return [OutText(part) for part in split_paragraphs(self.text_of(text), self.max_chars)]

    def file(self, file: InboundFile, caption: str = "") -> list[Out]:
        """An agent's file, with its text before it."""
        out: list[Out] = self.text(caption) if caption.strip() else []
        return [*out, OutFile(file.name, file.data, file.mime_type)]
