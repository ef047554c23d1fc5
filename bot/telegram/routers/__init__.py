"""The seller-facing routers, one per concern, in the order they are tried: errors (an
apology with a reference id), buttons (callback queries), files (photos, documents and media
the bot cannot read), messages (text). Each handler only translates — Telegram's objects to the
core's `Inbound`, the core's replies to Bot API calls — and returns the calls; the processor
makes them once the update is marked handled.

A channel feature of its own (the agents' desk in a forum group, say) adds its router in front
of these with `build_dispatcher(extra_routers=...)`.
"""

from __future__ import annotations

from aiogram import Router

from bot.telegram.routers.buttons import buttons_router
from bot.telegram.routers.errors import errors_router
from bot.telegram.routers.files import files_router
from bot.telegram.routers.messages import messages_router


def seller_routers() -> list[Router]:
    """Fresh routers (an aiogram router belongs to one dispatcher)."""
    return [errors_router(), buttons_router(), files_router(), messages_router()]


__all__ = ["buttons_router", "errors_router", "files_router", "messages_router", "seller_routers"]
