"""Driving `sellerbot`'s QQ adapter end to end, on either protocol: a fake of the platform (the
official API, or a OneBot client), the adapter's real clients and servers, the shared runtime
and the conversation core on a fresh database.

    qq = harness                                   # OfficialHarness or OneBotHarness
    seller = qq.private("u1")
    turn = await seller.send("/help")              # waits until the message is handled
    assert turn.choices[0] == "..."                # numbered lines "1. ..."
    turn = await seller.choose("Fees and commission")

A `Turn` is what the bot sent in that chat while handling one message.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from bot.qq.runtime import QQRuntime
from services.db import Sessions
from tests.qq.fake_official import FakeOfficialAPI
from tests.qq.fake_onebot import FakeOneBotClient

HANG_GUARD_SECONDS = 60.0
_CHOICE_RE = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)


@dataclass
class Turn:
    texts: list[str]
    images: list[bytes] = field(default_factory=list)
    sent: list[Any] = field(default_factory=list)  # the fake's records

    @property
    def text(self) -> str:
        return "\n\n".join(self.texts)

    @property
    def choices(self) -> list[str]:
        """The numbered choices shown, in order."""
        return [m.group(2) for m in _CHOICE_RE.finditer(self.text)]

    def number_of(self, label: str) -> int:
        found = [int(m.group(1)) for m in _CHOICE_RE.finditer(self.text) if m.group(2) == label]
        assert found, f"no choice {label!r}; the choices are {self.choices}"
        return found[-1]

    def __contains__(self, fragment: str) -> bool:
        return fragment in self.text

    def __repr__(self) -> str:
        return f"Turn(texts={self.texts!r}, images={len(self.images)})"


class QQChat:
    """One seller in a private chat, or a member of a group."""

    def __init__(self, harness: Harness, user: str, group: str | None) -> None:
        self.harness = harness
        self.user = user
        self.group = group
        self.last = Turn([])

    @property
    def chat(self) -> str:
        return self.group or self.user

    async def send(self, text: str = "", **kw: Any) -> Turn:
        turn = await self.harness.turn(self, text, **kw)
        if turn.texts or turn.images:
            self.last = turn
        return turn

    async def unheard(self, text: str = "", **kw: Any) -> bool:
        """Say something the bot must not take up (a group message not for it): True if it was
        neither stored nor answered."""
        return await self.harness.unheard(self, text, **kw)

    async def choose(self, label: str) -> Turn:
        """Answer with the number of the choice `label` of the last turn (`@bot N` in a group)."""
        return await self.send(str(self.last.number_of(label)))


class Harness:
    runtime: QQRuntime

    def private(self, user: str) -> QQChat:
        return QQChat(self, user, None)

    def in_group(self, group: str, user: str) -> QQChat:
        return QQChat(self, user, group)

    @property
    def sessions(self) -> Sessions:
        return self.runtime.app.database.sessions

    async def handled(self, event_key: str) -> None:
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            number = await self.runtime.intake.number_of(event_key)
            await self.runtime.processor.wait_handled(number)

    async def seller(self, chat: QQChat, **account: Any) -> Any:
        """A merchant account (passing every check unless told otherwise) linked to the QQ user of
        `chat`; returns its AccountView."""
        from services.linking import link_by_operator
        from tests.conftest import make_account

        view = await make_account(self.runtime.app.database, self.runtime.settings.policy, **account)
        linked = await link_by_operator(
            sessions=self.sessions, account_id=view.id, channel="qq", chat_user_id=chat.user, actor="test"
        )
        assert linked.ok, linked
        return view

    async def turn(self, chat: QQChat, text: str, **kw: Any) -> Turn:
        raise NotImplementedError

    async def unheard(self, chat: QQChat, text: str, **kw: Any) -> bool:
        raise NotImplementedError

    async def stored(self, event_key: str) -> bool:
        from sqlalchemy import select

        from services.models import InboundUpdate

        async with self.sessions() as session:
            found = await session.scalar(
                select(InboundUpdate.update_id).where(InboundUpdate.event_key == event_key)
            )
        return found is not None


class OfficialHarness(Harness):
    def __init__(self, fake: FakeOfficialAPI, runtime: QQRuntime, *, gateway: bool = False) -> None:
        self.fake = fake
        self.runtime = runtime
        self.gateway = gateway

    async def deliver(self, kind: str, data: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        payload = self.fake.envelope(kind, data, event_id)
        if self.gateway:
            await self.fake.gateway.dispatch(payload)
        else:
            status, answer = await self.fake.post_webhook(payload)
            assert status == 200 and answer == {"op": 12, "d": 0}, (status, answer)
        return payload

    async def turn(self, chat: QQChat, text: str, **kw: Any) -> Turn:
        before = len(self.fake.sent)
        kind, data = self.fake.message_event(group=chat.group, user=chat.user, text=text, **kw)
        await self.deliver(kind, data)
        await self.handled(data["id"])
        new = [s for s in self.fake.sent[before:] if s.chat == chat.chat]
        return Turn(
            texts=[s.text for s in new if s.msg_type in (0, 2)],
            images=[s.image for s in new if s.image is not None],
            sent=new,
        )

    async def unheard(self, chat: QQChat, text: str, **kw: Any) -> bool:
        before = len(self.fake.sent)
        kind, data = self.fake.message_event(group=chat.group, user=chat.user, text=text, **kw)
        await self.deliver(kind, data)  # the webhook answers once the event is stored, or not
        if self.gateway:
            await self.settle()
        return not await self.stored(data["id"]) and len(self.fake.sent) == before

    async def settle(self) -> None:
        """Until every event sent before has been taken in (a message after them is handled)."""
        await self.turn(self.private("probe"), "/help")


class OneBotHarness(Harness):
    def __init__(self, client: FakeOneBotClient, runtime: QQRuntime) -> None:
        self.client = client
        self.runtime = runtime

    async def turn(self, chat: QQChat, text: str, **kw: Any) -> Turn:
        before = len(self.client.posted)
        event = self.client.message_event(group=chat.group, user=chat.user, text=text, **kw)
        await self.client.send_event(event)
        await self.handled(f"{self.client.self_id}:{event['message_id']}")
        new = [p for p in self.client.posted[before:] if p.chat == chat.chat]
        return Turn(
            texts=[p.text for p in new if p.text], images=[i for p in new for i in p.images], sent=new
        )

    async def unheard(self, chat: QQChat, text: str, **kw: Any) -> bool:
        def posted() -> int:
            return len([p for p in self.client.posted if p.chat == chat.chat])

        before = posted()
        event = self.client.message_event(group=chat.group, user=chat.user, text=text, **kw)
        await self.client.send_event(event)
        await self.settle()
        return not await self.stored(f"{self.client.self_id}:{event['message_id']}") and posted() == before

    async def settle(self) -> None:
        """Until every event sent before has been taken in (the connection reads them in order)."""
        await self.turn(self.private("1"), "/help")
