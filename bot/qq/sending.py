"""Sending on QQ, whichever protocol: each message takes a slot from the outbound limiter, goes
through the protocol's transport, and leaves a record of what became of it
(`services.outbound`): sent (with QQ's message id), failed (and why: never retried blindly), or
unknown (a timeout: it may have arrived, and is never sent again)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.qq.events import CHANNEL, QQImage, Target
from bot.qq.render import Out, OutFile, OutText
from bot.runtime.deliveries import Readiness
from bot.runtime.limiter import Limiter
from bot.runtime.metrics import add_wait
from services import outbound
from services.db import Sessions
from services.models import SendOutcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    message_id: str = ""
    failure: str = ""

    @property
    def sent(self) -> bool:
        return self.outcome is SendOutcome.SENT


class Transport(Protocol):
    """A protocol's way to put a message in a chat and to fetch a seller's image."""

    protocol: str

    async def send(self, target: Target, out: Out, *, slot: Slot) -> SendResult:
        """Send one message; `slot()` is awaited right before it goes (the outbound limiter: what
        a send does first — an upload, a database write — is not on the clock)."""
        ...

    async def download(self, image: QQImage, *, self_id: str, max_bytes: int) -> bytes: ...

    async def readiness(self, target: Target) -> Readiness:
        """Whether a message that answers no seller's message (an agent's) may go now."""
        ...

    def bot_id(self, self_id: str) -> str:
        """The bot's QQ number or id, as a seller would look it up."""
        ...

    async def close(self) -> None: ...


Slot = Callable[[], Awaitable[None]]


def summary(out: Out) -> str:
    if isinstance(out, OutText):
        return out.text
    return f"[file {out.name} {len(out.data)} bytes]"


class QQSender:
    def __init__(self, transport: Transport, limiter: Limiter, sessions: Sessions) -> None:
        self.transport = transport
        self.limiter = limiter
        self.sessions = sessions
        self.sent = 0

    async def send(self, target: Target, outs: Sequence[Out]) -> list[SendResult]:
        """Send in order; a message that fails does not hold back the next (each is recorded)."""
        results = []

        async def slot() -> None:
            loop = asyncio.get_running_loop()
            started = loop.time()
            await self.limiter.acquire(target.chat_key, group=target.kind == "group")
            add_wait(loop.time() - started)

        for out in outs:
            try:
                result = await self.transport.send(target, out, slot=slot)
            except Exception as exc:  # a bug or an answer the transport did not expect
                log.error("QQ: sending to %s failed", target.chat_key, exc_info=exc)
                result = SendResult(SendOutcome.FAILED, failure="error")
            if result.sent:
                self.sent += 1
            else:
                log.warning(
                    "QQ: a message to %s was %s (%s): %.80r",
                    target.chat_key,
                    result.outcome.value,
                    result.failure,
                    summary(out),
                )
            results.append(result)
        sent = [
            outbound.Sent(r.outcome, summary(out), r.failure or None, r.message_id or None)
            for out, r in zip(outs, results, strict=True)
        ]
        try:
            await outbound.record(
                self.sessions, channel=CHANNEL, chat_key=target.chat_key, sent=sent, reply_to=target.reply_to
            )
        except Exception as exc:  # the messages went (or not) all the same
            log.warning("QQ: could not record the messages to %s: %r", target.chat_key, exc)
        return results


def is_image(out: Out) -> bool:
    return isinstance(out, OutFile) and out.is_image
