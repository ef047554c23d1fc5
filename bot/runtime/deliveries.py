"""Agents' messages to sellers (services.handoff's delivery queue), sent by the channel that
serves the seller, through the same sender as every reply, so they keep within the same limits.
A delivery the channel refuses for good (the seller blocked the bot) is recorded as failed, and
the agents' desk says so. A delivery the channel cannot send yet (QQ's reply window has closed)
is held until the seller writes again, and the desk says that too.

Each process looks for pending deliveries of its channel every `interval` seconds. A delivery is
claimed (marked delivered) before it is sent, so that two processes never both send it: the
marking that changes the row wins, the other skips it. Each chat's deliveries go in order;
different chats' go side by side.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from enum import StrEnum
from typing import Protocol

from bot.runtime.trouble import Outage
from services.db import Sessions, reading
from services.handoff import (
    DeliveryView,
    hold_delivery,
    mark_delivered,
    mark_delivery_failed,
    pending_deliveries,
)

log = logging.getLogger(__name__)

BATCH = 100


class Readiness(StrEnum):
    SEND = "send"  # it may go now
    HOLD = "hold"  # the channel cannot send it before the seller writes again (QQ's reply window)
    ELSEWHERE = "elsewhere"  # another process sends it (the one the seller's QQ client is on)


class DeliveryChannel(Protocol):
    """A channel's part: whether a delivery may go now, and sending it."""

    async def readiness(self, delivery: DeliveryView) -> Readiness: ...

    async def deliver(self, delivery: DeliveryView) -> str | None:
        """Send it; None once sent, else how it failed for good (one of
        `services.handoff.DELIVERY_FAILURES`)."""
        ...


class DeliveryLoop:
    def __init__(self, sessions: Sessions, channel: str, sender: DeliveryChannel, *, interval: float) -> None:
        self.sessions = sessions
        self.channel = channel
        self.sender = sender
        self.interval = interval
        self.delivered = 0
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
        by_chat: dict[tuple[str, str], list[DeliveryView]] = defaultdict(list)
        for delivery in pending:
            by_chat[(delivery.chat_id, delivery.thread_id)].append(delivery)
        await asyncio.gather(*(self._send_chat(items) for items in by_chat.values()))
        return len(pending)

    async def _send_chat(self, items: list[DeliveryView]) -> None:
        for index, delivery in enumerate(items):
            readiness = await self.sender.readiness(delivery)
            if readiness is Readiness.ELSEWHERE:
                return
            if readiness is Readiness.HOLD:
                # This one and the chat's later ones wait together, in order.
                for held in items[index:]:
                    await hold_delivery(sessions=self.sessions, delivery_id=held.id)
                return
            if await mark_delivered(sessions=self.sessions, delivery_ids=[delivery.id]) != 1:
                continue  # another process claimed it
            failure = await self.sender.deliver(delivery)
            if failure is None:
                self.delivered += 1
                continue
            # The agent who wrote it must not believe it arrived: the desk will say so.
            await mark_delivery_failed(sessions=self.sessions, delivery_id=delivery.id, failure=failure)
