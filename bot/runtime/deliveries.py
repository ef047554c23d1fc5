"""Agents' messages to sellers (services.handoff's delivery queue), handed to the seller's chat
the way a turn's replies are: into the durable outbox (`services.outbox`), which the chat's holder
sends in order with the chat's other messages, within the channel's limits, at least once. A
delivery the channel refuses for good (the seller blocked the bot) is recorded as failed, and the
agents' desk says so. A delivery the channel cannot send yet (QQ's reply window has closed) is
held until the seller writes again, and the desk says that too.

Each process looks for pending deliveries of its channel every `interval` seconds (or at once
when woken). A delivery is claimed (marked delivered) in the transaction that queues it, so two
processes never both queue it: the marking that changes the row wins, the other skips it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

from bot.runtime.trouble import Outage
from services.db import Sessions, reading
from services.handoff import DeliveryView, hand_to_outbox, hold_delivery, pending_deliveries

log = logging.getLogger(__name__)

BATCH = 100


class Readiness(StrEnum):
    SEND = "send"  # it may go now
    HOLD = "hold"  # the channel cannot send it before the seller writes again (QQ's reply window)
    ELSEWHERE = "elsewhere"  # another process sends it (the one the seller's QQ client is on)


class DeliveryChannel(Protocol):
    """A channel's part: whether a delivery may go now, and the chat it goes to (the key its
    outbox rows and lease have). The chat's holder sends it (`UpdateHandler.send_queued`)."""

    async def readiness(self, delivery: DeliveryView) -> Readiness: ...

    def chat_key(self, delivery: DeliveryView) -> str: ...


class DeliveryLoop:
    def __init__(
        self,
        sessions: Sessions,
        channel: str,
        sender: DeliveryChannel,
        *,
        interval: float,
        wake_chat: Callable[[str], None],
    ) -> None:
        self.sessions = sessions
        self.channel = channel
        self.sender = sender
        self.interval = interval
        # Tells the chat workers a chat has something to send.
        self.wake_chat = wake_chat
        self.queued = 0
        self._outage = Outage(log)
        self._wake = asyncio.Event()
        self.passes = 0
        self._passed = asyncio.Condition()

    def wake(self) -> None:
        """Look now (a held delivery may go: the seller wrote)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                found = await self.deliver_once()
                self._outage.ok()
            except Exception as exc:
                self._outage.failed("sending agents' messages", exc)
                found = 0
            async with self._passed:
                self.passes += 1
                self._passed.notify_all()
            if found < BATCH:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
                except TimeoutError:
                    pass

    async def next_pass(self) -> None:
        """Until the loop has made one more pass, started after this call (tests)."""
        async with self._passed:
            target = self.passes + 2  # the pass under way may have looked before the call
            self.wake()
            while self.passes < target:
                await self._passed.wait()
                self.wake()

    async def deliver_once(self) -> int:
        async with reading(self.sessions) as session:
            pending = await pending_deliveries(session, channel=self.channel, limit=BATCH)
        by_chat: dict[str, list[DeliveryView]] = defaultdict(list)
        for delivery in pending:
            by_chat[self.sender.chat_key(delivery)].append(delivery)
        for chat, items in by_chat.items():
            await self._queue_chat(chat, items)
        return len(pending)

    async def _queue_chat(self, chat: str, items: list[DeliveryView]) -> None:
        for index, delivery in enumerate(items):
            readiness = await self.sender.readiness(delivery)
            if readiness is Readiness.ELSEWHERE:
                return
            if readiness is Readiness.HOLD:
                # This one and the chat's later ones wait together, in order.
                for held in items[index:]:
                    await hold_delivery(sessions=self.sessions, delivery_id=held.id)
                return
            if await hand_to_outbox(self.sessions, delivery, chat_key=chat):
                self.queued += 1
                self.wake_chat(chat)
