"""Driving the Telegram adapter end to end: a fake Bot API server, the real aiogram client, the
real runtime (polling, processor, sender) — or sellerbot inside a host bot — and the conversation
core on a fresh database.

    tg = Harness(fake, runtime)
    alice = tg.private(language="en")
    turn = await alice.send("/start")           # waits until the update is handled
    assert "Joom" in turn.text
    turn = await alice.press("Fees and commission")
    assert turn.answer == {"text": None, "show_alert": False}

`Turn` is what one update produced in that chat: the bot's new messages, and for a press the
callback answer and the edit of the pressed message.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.telegram.service import TelegramService
from handlers import replies
from services.db import Sessions
from tests.telegram.fake_api import Chat, FakeBotAPI, Message, User

HANG_GUARD_SECONDS = 60.0


def t(key: str, lang: str, **context: object) -> str:
    """A reply text from the catalogue, as the bot says it."""
    return replies.say(key, lang, **context)


def png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(out, format="PNG")
    return out.getvalue()


@dataclass
class Turn:
    messages: list[Message]
    answer: dict[str, Any] | None = None
    pressed: Message | None = None  # the message whose button was pressed (now edited)
    update_id: int = 0
    asked: Message | None = None  # the user's message (for a message update)

    @property
    def texts(self) -> list[str]:
        return [m.text or "" for m in self.messages]

    @property
    def text(self) -> str:
        return "\n\n".join(self.texts)

    @property
    def labels(self) -> list[str]:
        return [label for m in self.messages for label in m.labels]

    @property
    def last(self) -> Message:
        """The last message with buttons (or the last message)."""
        with_buttons = [m for m in self.messages if m.buttons]
        return (with_buttons or self.messages)[-1]

    def __contains__(self, fragment: str) -> bool:
        return fragment in self.text

    def __repr__(self) -> str:
        return f"Turn(texts={self.texts!r}, labels={self.labels!r}, answer={self.answer!r})"


@dataclass
class ChatSession:
    harness: Harness
    user: User
    chat: Chat
    history: list[Turn] = field(default_factory=list)

    @property
    def fake(self) -> FakeBotAPI:
        return self.harness.fake

    async def _turn(self, update: Callable[[], int], *, pressed: Message | None = None) -> Turn:
        """What the update `update()` makes produced in this chat. The bot is let settle first:
        messages still on their way from an earlier step (an agent's, sent by a loop of its own)
        are not taken for this one's."""
        await self.harness.settled()
        before = {m.message_id for m in self.fake.messages[self.chat.id] if m.by_bot}
        update_id = update()
        query = self.fake.callback_queries_by_update.get(update_id) if pressed is not None else None
        chat = self.fake.messages[self.chat.id]
        asked = chat[-1] if query is None and chat and not chat[-1].by_bot else None
        await self.harness.handled(update_id)
        new = [m for m in self.fake.sent(self.chat.id) if m.message_id not in before]
        answer = self.fake.callback_queries[query].answered if query else None
        turn = Turn(messages=new, answer=answer, pressed=pressed, update_id=update_id, asked=asked)
        self.history.append(turn)
        return turn

    async def send(self, text: str, **kw: Any) -> Turn:
        return await self._turn(lambda: self.fake.send(self.chat, self.user, text, **kw))

    async def edit(self, message_id: int, text: str) -> Turn:
        """Edit one of this user's own messages in this chat."""
        return await self._turn(lambda: self.fake.edit(self.chat, self.user, message_id, text))

    async def press(self, label: str, message: Message | None = None) -> Turn:
        """Press the button `label` on `message` (default: the latest bot message showing it)."""
        pressed = message if message is not None else self.message_with(label)
        return await self._turn(lambda: self.fake.press(self.user, pressed, label), pressed=pressed)

    async def press_data(self, message: Message, data: str) -> Turn:
        return await self._turn(lambda: self.fake.press(self.user, message, data=data), pressed=message)

    async def photo(self, data: bytes, **kw: Any) -> Turn:
        return await self._turn(lambda: self.fake.send_photo(self.chat, self.user, data, **kw))

    async def document(self, data: bytes, **kw: Any) -> Turn:
        return await self._turn(lambda: self.fake.send_document(self.chat, self.user, data, **kw))

    async def follow(self, url: str) -> Turn:
        """Follow a deep link (this session must be the user's private chat)."""
        return await self._turn(lambda: self.fake.follow_deep_link(self.user, url))

    async def other(self, kind: str, body: dict[str, Any], **kw: Any) -> Turn:
        return await self._turn(lambda: self.fake.send_other(self.chat, self.user, kind, body, **kw))

    def message_with(self, label: str) -> Message:
        for message in reversed(self.fake.sent(self.chat.id)):
            if label in message.labels:
                return message
        raise AssertionError(f"no bot message in chat {self.chat.id} has a button {label!r}")


class Harness:
    def __init__(self, fake: FakeBotAPI, runtime: TelegramService) -> None:
        self.fake = fake
        self.runtime = runtime

    def private(self, *, language: str | None = "zh", name: str = "Seller") -> ChatSession:
        user = self.fake.user(name, language_code=language)
        return ChatSession(self, user, self.fake.private_chat(user))

    def in_group(self, group: Chat, *, language: str | None = "zh", name: str = "Member") -> ChatSession:
        user = self.fake.user(name, language_code=language)
        return ChatSession(self, user, group)

    def private_of(self, session: ChatSession) -> ChatSession:
        return ChatSession(self, session.user, self.fake.private_chat(session.user))

    @property
    def sessions(self) -> Sessions:
        return self.runtime.app.database.sessions

    async def seller(self, session: ChatSession, **account: Any) -> Any:
        """A merchant account (passing every check unless told otherwise) linked to the chat
        user of `session`; returns its AccountView."""
        from services.linking import link_by_operator
        from tests.conftest import make_account

        view = await make_account(self.runtime.app.database, self.runtime.settings.policy, **account)
        linked = await link_by_operator(
            sessions=self.sessions,
            account_id=view.id,
            channel="telegram",
            chat_user_id=str(session.user.id),
            actor="test",
        )
        assert linked.ok, linked
        return view

    async def mails(self) -> list[Any]:
        """Every mail the bot has sent (the outbox), once those in flight are written."""
        from services.mail import OutboxMailer

        await self.runtime.app.mail.drain()
        return OutboxMailer(self.runtime.settings.outbox_path).messages()

    async def handled(self, update_id: int) -> None:
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            await self.runtime.processor.wait_handled(update_id)

    async def settled(self) -> None:
        """Until what the bot owes is sent: agents' messages due now are queued (the delivery
        loop has made a pass) and every chat's outbox is sent (no chat is being worked on)."""
        async with asyncio.timeout(HANG_GUARD_SECONDS):
            await self.runtime.deliveries.next_pass()
            await self.runtime.processor.wait_idle()
