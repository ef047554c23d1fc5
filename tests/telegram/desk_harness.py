"""Driving the agents' desk end to end: the fake Bot API server with a forum supergroup where
the bot is an administrator who manages topics, the real runtime with the desk router and relay,
sellers in private chats (or on the console) and agents writing in the topics.

    desk = DeskHarness(fake, runtime, forum)
    seller = desk.private(language="zh")
    await seller.send("转人工")
    topic = await desk.topic_for(seller)        # waits for the topic and its context card
    anna = desk.agent("Anna")
    await anna.send("您好", thread_id=topic.thread)
    await desk.seller_gets(seller, "您好")

Waiting is for something to happen (checked after every API call), never for a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services import desk as desk_service
from services.models import Conversation
from tests.telegram.fake_api import Chat, FakeBotAPI, Message
from tests.telegram.harness import ChatSession, Harness

HANG_GUARD_SECONDS = 60.0


@dataclass
class Topic:
    """A conversation's topic in the desk group, as the fake server has it."""

    fake: FakeBotAPI
    chat_id: int
    thread: int

    @property
    def state(self) -> dict[str, Any]:
        found = self.fake.topic(self.chat_id, self.thread)
        assert found is not None, f"topic {self.thread} is gone"
        return found

    @property
    def name(self) -> str:
        return str(self.state["name"])

    @property
    def closed(self) -> bool:
        return bool(self.state["closed"])

    @property
    def messages(self) -> list[Message]:
        return self.fake.in_topic(self.chat_id, self.thread)

    @property
    def texts(self) -> list[str]:
        return [m.text or m.caption or "" for m in self.messages]

    def last_with(self, fragment: str) -> Message:
        for message in reversed(self.messages):
            if fragment in (message.text or message.caption or ""):
                return message
        raise AssertionError(f"no message with {fragment!r} in topic {self.thread}: {self.texts}")


class DeskHarness(Harness):
    def __init__(self, fake: FakeBotAPI, runtime: Any, forum: Chat) -> None:
        super().__init__(fake, runtime)
        self.forum = forum

    def agent(self, name: str = "Anna", *, language: str | None = "zh") -> ChatSession:
        """An agent of the desk group (a member; agents need no rights of their own)."""
        user = self.fake.user(name, language_code=language)
        return ChatSession(self, user, self.forum)

    @property
    def relay(self) -> Any:
        assert self.runtime.desk_relay is not None
        return self.runtime.desk_relay

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate()` holds; the desk relay is woken so that it looks at once."""

        def check() -> bool:
            self.relay.wake()
            return predicate()

        await self.fake.wait_until(check, limit=HANG_GUARD_SECONDS)

    async def conversation_id(self, channel: str, user_id: str) -> int:
        from sqlalchemy import select

        async with self.sessions() as session:
            found = await session.scalar(
                select(Conversation.id).where(
                    Conversation.channel == channel, Conversation.user_id == user_id
                )
            )
        assert found is not None, f"no conversation of {channel} user {user_id}"
        return int(found)

    async def topic_of(self, conversation_id: int, *, cards: int = 1) -> Topic:
        """The conversation's topic, once its `cards`-th context card is there."""
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            while True:
                calls = len(self.fake.calls)
                async with self.sessions() as session:
                    found = await desk_service.get_topic(
                        session, chat_id=str(self.forum.id), conversation_id=conversation_id
                    )
                if found is not None and self.fake.topic(self.forum.id, found.thread_id) is not None:
                    topic = Topic(self.fake, self.forum.id, found.thread_id)
                    if sum(1 for m in topic.messages if is_card(m)) >= cards:
                        await self.relayed(conversation_id)
                        return topic
                await self.until(lambda calls=calls: len(self.fake.calls) > calls)

    async def relayed(self, conversation_id: int) -> None:
        """Until every seller message of the conversation's open handoff is in its topic, with
        its suggested answer: nothing more of the seller's is on its way to the desk."""
        from sqlalchemy import func, select

        from services.models import DeskHandoff, Handoff, Turn, TurnDirection

        async with asyncio.timeout(HANG_GUARD_SECONDS):
            while True:
                async with self.sessions() as session:
                    last = await session.scalar(
                        select(func.max(Turn.id)).where(
                            Turn.conversation_id == conversation_id, Turn.direction == TurnDirection.IN
                        )
                    )
                    cursor = await session.scalar(
                        select(func.max(DeskHandoff.relayed_turn_id))
                        .join(Handoff, Handoff.id == DeskHandoff.handoff_id)
                        .where(Handoff.conversation_id == conversation_id)
                    )
                if cursor is not None and cursor >= (last or 0):
                    return
                await self.relay.wait_passes(1)

    async def topic_for(self, seller: ChatSession, *, cards: int = 1) -> Topic:
        return await self.topic_of(await self.conversation_id("telegram", str(seller.user.id)), cards=cards)

    async def seller_gets(self, seller: ChatSession, wanted: Callable[[Message], bool] | str) -> Message:
        """The first bot message in the seller's chat (already there or to come) that matches:
        a predicate, or the exact text (or caption)."""

        def matches(message: Message) -> bool:
            if isinstance(wanted, str):
                return (message.text or message.caption) == wanted
            return wanted(message)

        await self.fake.wait_until(
            lambda: any(matches(m) for m in self.fake.sent(seller.chat.id)), limit=HANG_GUARD_SECONDS
        )
        return next(m for m in self.fake.sent(seller.chat.id) if matches(m))


def is_card(message: Message) -> bool:
    text = message.text or ""
    return text.startswith(("🆕", "🔁"))
