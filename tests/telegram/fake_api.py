"""A fake Telegram Bot API server for tests: aiohttp on 127.0.0.1 (a random port) that the
unmodified aiogram client talks to over HTTP.

It keeps the state a test inspects — the messages in each chat (users' and the bot's, with
their keyboards and edit history), callback-query answers, files, command menus, the webhook —
and checks what Telegram checks (message length, callback data size, "message is not
modified", an answered or unknown callback query, files over 20 MB), so a test fails where
Telegram would refuse. Users act through the test-side helpers (`send`, `send_photo`,
`send_document`, `press`, `follow_deep_link`), which queue updates for getUpdates or, once a
webhook is set, post them to it with the secret-token header — one chat's updates one after
another, different chats concurrently, retrying until answered 2xx, as Telegram does.

Faults on demand: `fail(method, status=429, retry_after=1)`, `fail(method, status=502)`,
`hold(method)` (requests wait until the test releases them), `block(chat_id)` (403),
`lose_webhook_answers(n)` (a webhook answer "lost": the update is posted again).

Forum groups (`group(forum=True)`) have topics: createForumTopic, editForumTopic,
closeForumTopic, reopenForumTopic, deleteForumTopic; messages carry `message_thread_id`, and a
message in a topic made by createForumTopic that quotes nothing quotes the topic's creation
message, as Telegram does. People act on topics too: `close_topic(chat, thread, by=user)` (a
service message reaches the bot), `delete_topic(chat, thread)` (nothing does; sending there
then fails with "message thread not found"). getChat and getChatMember answer from the chats and
`promote(chat, user_id, can_manage_topics=True)`. Other helpers can extend it: `handlers` maps a
method name to a coroutine `(params) -> result`, and every call is logged in `calls`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

MAX_TEXT_UTF16 = 4096
MAX_CALLBACK_DATA = 64
MAX_DOWNLOAD = 20 * 1024 * 1024
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{1,64})?")
_MENTION_RE = re.compile(r"@[A-Za-z0-9_]{3,64}")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_JSON_FIELDS = {
    "reply_markup",
    "reply_parameters",
    "link_preview_options",
    "commands",
    "scope",
    "allowed_updates",
    "entities",
}


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _entities(text: str) -> list[dict[str, Any]]:
    """What Telegram's clients mark in a message: a leading /command, and @mentions (offsets
    and lengths in UTF-16 code units)."""

    def units(s: str) -> int:
        return utf16_len(s)

    found = []
    command = _COMMAND_RE.match(text)
    if command:
        found.append({"type": "bot_command", "offset": 0, "length": units(command.group(0))})
    for mention in _MENTION_RE.finditer(text):
        found.append(
            {"type": "mention", "offset": units(text[: mention.start()]), "length": units(mention.group(0))}
        )
    return found


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class User:
    id: int
    first_name: str
    language_code: str | None = None
    username: str | None = None
    is_bot: bool = False

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass
class Chat:
    id: int
    type: str  # "private", "group", "supergroup"
    title: str | None = None
    is_forum: bool = False

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.title:
            data["title"] = self.title
        if self.is_forum:
            data["is_forum"] = True
        return data


@dataclass
class Message:
    """A message in a chat, the bot's or a user's, as the fake keeps it."""

    chat_id: int
    message_id: int
    from_id: int
    text: str | None = None
    reply_markup: dict[str, Any] | None = None
    thread_id: int | None = None
    reply_to: int | None = None
    document: tuple[str, bytes] | None = None
    at: float = field(default_factory=time.monotonic)
    edits: list[dict[str, Any]] = field(default_factory=list)
    by_bot: bool = False
    caption: str | None = None
    photo: bool = False  # sent with sendPhoto
    service: dict[str, Any] | None = None  # a service message (a topic created, closed …)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        if not self.reply_markup:
            return []
        return [b for row in self.reply_markup.get("inline_keyboard", []) for b in row]

    @property
    def labels(self) -> list[str]:
        return [b["text"] for b in self.buttons]

    def button(self, label: str) -> dict[str, Any]:
        for b in self.buttons:
            if b["text"] == label:
                return b
        raise AssertionError(f"no button {label!r} on message {self.message_id}; buttons: {self.labels}")

    def __repr__(self) -> str:
        return f"Message({self.chat_id}/{self.message_id}, text={self.text!r}, labels={self.labels})"


@dataclass
class CallbackQuery:
    id: str
    chat_id: int
    message_id: int
    user_id: int
    data: str
    answered: dict[str, Any] | None = None


@dataclass
class Fault:
    status: int
    retry_after: int | None
    description: str
    times: int


class Gate:
    """Requests of a held method wait here until the test opens the gate."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.opened = asyncio.Event()
        self.waiting = 0
        self._arrivals = asyncio.Condition()

    def open(self) -> None:
        self.opened.set()

    async def arrive(self) -> None:
        self.waiting += 1
        self.arrived.set()
        async with self._arrivals:
            self._arrivals.notify_all()

    async def until_waiting(self, count: int) -> None:
        """Until `count` requests have arrived at the gate."""
        async with self._arrivals:
            await self._arrivals.wait_for(lambda: self.waiting >= count)


class FakeBotAPI:
    def __init__(
        self,
        *,
        token: str = "123456789:TEST-fake-token_abcdefghijklmnop",
        username: str = "sellerbot_test",
        first_update_id: int = 100_000,
    ) -> None:
        self.token = token
        self.bot = User(id=int(token.split(":")[0]), first_name="Seller Bot", username=username, is_bot=True)
        self.username = username
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(first_update_id)
        self._message_ids: dict[int, itertools.count[int]] = {}
        # state a test inspects
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.messages: dict[int, list[Message]] = defaultdict(list)
        self.callback_queries: dict[str, CallbackQuery] = {}
        self.callback_queries_by_update: dict[int, str] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.webhook: dict[str, Any] | None = None
        self.webhook_targets: list[str] = []  # a load balancer in front of several processes
        self.files: dict[str, tuple[str, bytes, int]] = {}  # file_id -> (path, data, declared size)
        self.forum_topics: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.deleted_topics: dict[int, set[int]] = defaultdict(set)
        self.admins: dict[int, dict[int, dict[str, bool]]] = defaultdict(dict)  # chat -> user -> rights
        self.calls: list[tuple[str, dict[str, Any], float]] = []
        self.blocked: set[int] = set()
        self.handlers: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {}
        self.webhook_posts: list[tuple[int, str, int]] = []  # (update_id, target, status)
        # the update queue
        self._pending: list[dict[str, Any]] = []
        self._history: list[dict[str, Any]] = []  # updates delivered and confirmed
        self._again: list[dict[str, Any]] = []  # redelivered: returned by the next getUpdates
        self._confirmed = 0
        self._new_update = asyncio.Condition()
        self._changed = asyncio.Condition()
        # faults
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._gates: dict[str, Gate] = {}
        self._lose_answers = 0
        # webhook delivery
        self._webhook_queues: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self._webhook_busy: set[str] = set()
        self._webhook_tasks: set[asyncio.Task[None]] = set()
        self._client: ClientSession | None = None
        self._closing = False
        self._rr = itertools.count()

    # -- server --------------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        self._closing = True
        async with self._new_update:
            self._new_update.notify_all()  # long polls in flight return now
        for gate in self._gates.values():
            gate.open()
        for task in list(self._webhook_tasks):
            task.cancel()
        await asyncio.gather(*self._webhook_tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- faults --------------------------------------------------------------------------------
    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = None,
        times: int = 1,
        description: str | None = None,
    ) -> None:
        """The next `times` calls of `method` fail with `status` (429 with retry_after; 0: the
        connection is dropped without an answer, a network error for the client)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        text = description or {
            429: f"Too Many Requests: retry after {retry_after}",
            500: "Internal Server Error",
            502: "Bad Gateway",
        }.get(status, "Error")
        self._faults[method].append(Fault(status, retry_after, text, times))

    def hold(self, method: str) -> Gate:
        gate = Gate()
        self._gates[method] = gate
        return gate

    def set_webhook(self, url: str, *, secret_token: str | None) -> None:
        """Register a webhook as the bot's owner would with setWebhook."""
        self.webhook = {
            "url": url,
            "secret_token": secret_token,
            "allowed_updates": None,
            "max_connections": 40,
        }
        for update in self._pending:
            self._enqueue_webhook(update)

    @property
    def confirmed(self) -> int:
        """The highest offset getUpdates has confirmed (updates below it are delivered)."""
        return self._confirmed

    def block(self, chat_id: int) -> None:
        self.blocked.add(chat_id)

    def lose_webhook_answers(self, count: int) -> None:
        """The next `count` webhook answers are "lost": Telegram posts those updates again."""
        self._lose_answers += count

    # -- users and chats -----------------------------------------------------------------------
    def user(
        self, first_name: str = "Seller", *, language_code: str | None = "zh", username: str | None = None
    ) -> User:
        user = User(
            id=700_000_000 + next(self._ids),
            first_name=first_name,
            language_code=language_code,
            username=username,
        )
        self.users[user.id] = user
        return user

    def private_chat(self, user: User) -> Chat:
        chat = self.chats.setdefault(user.id, Chat(id=user.id, type="private"))
        return chat

    def group(self, title: str = "Sellers group", *, forum: bool = False) -> Chat:
        chat = Chat(id=-1_001_000_000_000 - next(self._ids), type="supergroup", title=title, is_forum=forum)
        self.chats[chat.id] = chat
        return chat

    def _message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _message_json(self, message: Message) -> dict[str, Any]:
        chat = self.chats[message.chat_id]
        author = self.bot if message.by_bot else self.users.get(message.from_id)
        data: dict[str, Any] = {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": chat.as_json(),
        }
        if author is not None:
            data["from"] = author.as_json()
        if message.thread_id is not None:
            data["message_thread_id"] = message.thread_id
            data["is_topic_message"] = True
        if message.text is not None:
            data["text"] = message.text
            if not message.by_bot:
                entities = _entities(message.text)
                if entities:
                    data["entities"] = entities
        if message.reply_markup:
            data["reply_markup"] = message.reply_markup
        if message.caption is not None:
            data["caption"] = message.caption
        if message.service:
            data.update(message.service)
        if message.reply_to is not None:
            quoted = self.find(message.chat_id, message.reply_to)
            if quoted is not None:
                inner = self._message_json(dataclass_replace(quoted, reply_to=None))
                data["reply_to_message"] = inner
        return data

    def find(self, chat_id: int, message_id: int) -> Message | None:
        for message in self.messages.get(chat_id, []):
            if message.message_id == message_id:
                return message
        return None

    # -- what users do -------------------------------------------------------------------------
    def push(self, update: dict[str, Any]) -> int:
        """Queue an update as Telegram would (for getUpdates, or the webhook)."""
        self._pending.append(update)
        if self.webhook is not None:
            self._enqueue_webhook(update)
        self._notify_update()
        return int(update["update_id"])

    def redeliver(self, update_id: int) -> None:
        """Telegram sends an update again, as after a bot restart that did not confirm it, or a
        webhook answer that got lost: the next getUpdates returns it whatever the offset (once),
        or it is posted to the webhook again."""
        for update in self._pending + self._history:
            if update["update_id"] == update_id:
                if self.webhook is not None:
                    self._enqueue_webhook(update)
                else:
                    self._again.append(update)
                self._notify_update()
                return
        raise KeyError(update_id)

    def _user_message(
        self,
        chat: Chat,
        user: User,
        *,
        text: str | None = None,
        caption: str | None = None,
        reply_to: Message | None = None,
        thread_id: int | None = None,
        extra: dict[str, Any] | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> int:
        self.users.setdefault(user.id, user)
        self.chats.setdefault(chat.id, chat)
        quoted = reply_to.message_id if reply_to else None
        if quoted is None and thread_id is not None and self.topic(chat.id, thread_id) is not None:
            quoted = thread_id  # in a topic, a message that quotes nothing quotes the topic's start
        message = Message(
            chat_id=chat.id,
            message_id=self._message_id(chat.id),
            from_id=user.id,
            text=text,
            thread_id=thread_id,
            reply_to=quoted,
        )
        self.messages[chat.id].append(message)
        payload = self._message_json(message)
        if entities is not None and text is not None:
            payload["entities"] = entities
        if caption is not None:
            payload["caption"] = caption
            found = _entities(caption)
            if found:
                payload["caption_entities"] = found
        payload.update(extra or {})
        return self.push({"update_id": next(self._update_ids), "message": payload})

    def send(
        self,
        chat: Chat,
        user: User,
        text: str,
        *,
        reply_to: Message | None = None,
        thread_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> int:
        """A user writes `text` in `chat`; returns the update id."""
        return self._user_message(
            chat, user, text=text, reply_to=reply_to, thread_id=thread_id, entities=entities
        )

    def edit(self, chat: Chat, user: User, message_id: int, text: str) -> int:
        """A user edits their message `message_id` in `chat` to `text`; returns the update id of
        the `edited_message` Telegram sends."""
        message = next(m for m in self.messages[chat.id] if m.message_id == message_id)
        assert message.from_id == user.id, "people edit only their own messages"
        message.text = text
        payload = self._message_json(message)
        payload["edit_date"] = int(time.time())
        return self.push({"update_id": next(self._update_ids), "edited_message": payload})

    def add_file(self, data: bytes, *, size: int | None = None, suffix: str = "bin") -> tuple[str, str]:
        file_id = f"F{secrets.token_hex(8)}"
        unique = f"U{secrets.token_hex(4)}"
        self.files[file_id] = (f"documents/{unique}.{suffix}", data, size if size is not None else len(data))
        return file_id, unique

    def send_photo(
        self,
        chat: Chat,
        user: User,
        data: bytes,
        *,
        caption: str | None = None,
        width: int = 800,
        height: int = 800,
        thread_id: int | None = None,
    ) -> int:
        file_id, unique = self.add_file(data, suffix="jpg")
        small_id, small_unique = self.add_file(data[:100], suffix="jpg")
        photo = [
            {
                "file_id": small_id,
                "file_unique_id": small_unique,
                "width": 90,
                "height": 90,
                "file_size": 100,
            },
            {
                "file_id": file_id,
                "file_unique_id": unique,
                "width": width,
                "height": height,
                "file_size": len(data),
            },
        ]
        return self._user_message(chat, user, caption=caption, extra={"photo": photo}, thread_id=thread_id)

    def send_document(
        self,
        chat: Chat,
        user: User,
        data: bytes,
        *,
        name: str,
        mime_type: str,
        size: int | None = None,
        caption: str | None = None,
        thread_id: int | None = None,
    ) -> int:
        """A user sends a file; `size` overrides the size Telegram states (a huge file)."""
        file_id, unique = self.add_file(data, size=size, suffix=name.rsplit(".", 1)[-1])
        document = {
            "file_id": file_id,
            "file_unique_id": unique,
            "file_name": name,
            "mime_type": mime_type,
            "file_size": size if size is not None else len(data),
        }
        return self._user_message(
            chat, user, caption=caption, extra={"document": document}, thread_id=thread_id
        )

    def send_other(
        self, chat: Chat, user: User, kind: str, body: dict[str, Any], *, thread_id: int | None = None
    ) -> int:
        """A user sends another kind of message (a sticker, a voice note, a location …)."""
        return self._user_message(chat, user, extra={kind: body}, thread_id=thread_id)

    # -- forum topics and rights ---------------------------------------------------------------
    def promote(self, chat: Chat, user_id: int | None = None, **rights: bool) -> None:
        """Make a user (default: the bot) an administrator of the chat with these rights."""
        self.admins[chat.id][user_id or self.bot.id] = rights

    def topic(self, chat_id: int, thread_id: int) -> dict[str, Any] | None:
        for topic in self.forum_topics.get(chat_id, []):
            if topic["message_thread_id"] == thread_id:
                return topic
        return None

    def open_topic(self, chat: Chat, name: str, *, by: User) -> int:
        """A person makes a topic of their own; returns its thread id (the bot gets the service
        message)."""
        thread = self._message_id(chat.id)
        self.forum_topics[chat.id].append(
            {
                "message_thread_id": thread,
                "name": name,
                "icon_color": 7322096,
                "closed": False,
                "names": [name],
            }
        )
        self.users.setdefault(by.id, by)
        self.messages[chat.id].append(
            Message(
                chat_id=chat.id,
                message_id=thread,
                from_id=by.id,
                thread_id=thread,
                service={"forum_topic_created": {"name": name, "icon_color": 7322096}},
            )
        )
        return thread

    def close_topic(self, chat: Chat, thread_id: int, *, by: User) -> int:
        """A person closes a topic in Telegram: the bot gets the service message."""
        topic = self.topic(chat.id, thread_id)
        assert topic is not None, f"no topic {thread_id} in chat {chat.id}"
        topic["closed"] = True
        return self._user_message(chat, by, thread_id=thread_id, extra={"forum_topic_closed": {}})

    def delete_topic(self, chat: Chat, thread_id: int) -> None:
        """A person deletes a topic and everything in it (bots get no update about it)."""
        topic = self.topic(chat.id, thread_id)
        assert topic is not None, f"no topic {thread_id} in chat {chat.id}"
        self.forum_topics[chat.id].remove(topic)
        self.deleted_topics[chat.id].add(thread_id)
        self.messages[chat.id] = [m for m in self.messages[chat.id] if m.thread_id != thread_id]

    def in_topic(self, chat_id: int, thread_id: int) -> list[Message]:
        """The bot's messages in a topic (service messages left out), in order."""
        return [m for m in self.sent(chat_id) if m.thread_id == thread_id]

    def press(
        self, user: User, message: Message, label: str | None = None, *, data: str | None = None
    ) -> int:
        """A user presses a button (by label) — or sends any callback data — on a message."""
        if data is None:
            assert label is not None
            button = message.button(label)
            assert "callback_data" in button, f"{label!r} is a link button: {button}"
            data = button["callback_data"]
        query_id = secrets.token_hex(8)
        self.callback_queries[query_id] = CallbackQuery(
            query_id, message.chat_id, message.message_id, user.id, data
        )
        update = {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": query_id,
                "from": user.as_json(),
                "chat_instance": str(message.chat_id),
                "message": self._message_json(message),
                "data": data,
            },
        }
        update_id = self.push(update)
        self.callback_queries_by_update[update_id] = query_id
        return update_id

    def follow_deep_link(self, user: User, url: str) -> int:
        """What a Telegram client does with t.me/<bot>?start=<payload>: open the private chat
        with the bot and send /start <payload>."""
        match = re.fullmatch(
            rf"https://t\.me/{re.escape(self.username)}(?:\?start=([A-Za-z0-9_-]{{1,64}}))?", url
        )
        assert match, f"not a deep link to this bot: {url}"
        text = f"/start {match.group(1)}" if match.group(1) else "/start"
        return self.send(self.private_chat(user), user, text)

    # -- what the bot did ----------------------------------------------------------------------
    def sent(self, chat_id: int) -> list[Message]:
        return [m for m in self.messages.get(chat_id, []) if m.by_bot and not m.service]

    def all_sent(self) -> list[Message]:
        return sorted((m for ms in self.messages.values() for m in ms if m.by_bot), key=lambda m: m.at)

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params, _ in self.calls if name == method]

    async def wait_until(self, predicate: Callable[[], bool], *, limit: float = 60.0) -> None:
        """Wait until `predicate()` holds (checked after every API call); `limit` is a hang
        guard, not a timing assertion."""
        async with asyncio.timeout(limit):
            async with self._changed:
                await self._changed.wait_for(predicate)

    # -- the API -------------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        params[key] = (value.filename, value.file.read())
                    elif key in _JSON_FIELDS and isinstance(value, str):
                        params[key] = json.loads(value)
                    else:
                        params[key] = value
                # A file is uploaded as a part of its own that the parameter names: attach://<part>
                for key, value in list(params.items()):
                    if isinstance(value, str) and value.startswith("attach://"):
                        params[key] = params.pop(value.removeprefix("attach://"), value)
        return params

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append((method, params, time.monotonic()))
        self._notify_change()
        try:
            gate = self._gates.get(method)
            if gate is not None and not gate.opened.is_set():
                await gate.arrive()
                await gate.opened.wait()
            if self._drop_connection(method) and request.transport is not None:
                request.transport.close()  # the client sees the connection reset
                return web.Response(status=500)
            self._maybe_fail(method)
            handler = self.handlers.get(method) or getattr(self, f"_m_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = await handler(params)
        except ApiError as exc:
            body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            return web.json_response(body, status=exc.code)
        finally:
            self._notify_change()
        return web.json_response({"ok": True, "result": result})

    def _drop_connection(self, method: str) -> bool:
        faults = self._faults.get(method)
        if not faults or faults[0].status != 0:
            return False
        faults[0].times -= 1
        if faults[0].times <= 0:
            faults.popleft()
        return True

    def _maybe_fail(self, method: str) -> None:
        faults = self._faults.get(method)
        if not faults:
            return
        fault = faults[0]
        fault.times -= 1
        if fault.times <= 0:
            faults.popleft()
        params = {"retry_after": fault.retry_after} if fault.retry_after is not None else None
        raise ApiError(fault.status, fault.description, params)

    def _notify_change(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(notify())

    def _notify_update(self) -> None:
        async def notify() -> None:
            async with self._new_update:
                self._new_update.notify_all()
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(notify())

    async def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot.as_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,  # privacy mode on
            "supports_inline_queries": False,
        }

    async def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        if offset:
            confirmed = [u for u in self._pending if u["update_id"] < offset]
            self._history.extend(confirmed)
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
            self._confirmed = max(self._confirmed, offset)
            self._notify_change()

        def ready() -> list[dict[str, Any]]:
            found = [u for u in self._pending if u["update_id"] >= offset]
            if allowed:
                found = [u for u in found if any(k in u for k in allowed)]
            return self._again + sorted(found, key=lambda u: u["update_id"])[:limit]

        if not ready() and timeout > 0:
            try:
                async with asyncio.timeout(timeout):
                    async with self._new_update:
                        await self._new_update.wait_for(lambda: self._closing or bool(ready()))
            except TimeoutError:
                pass
        result = ready()
        self._again = []
        return result

    def _chat(self, params: dict[str, Any]) -> Chat:
        try:
            chat_id = int(params["chat_id"])
        except (KeyError, ValueError):
            raise ApiError(400, "Bad Request: chat_id is empty") from None
        if chat_id not in self.chats:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return self.chats[chat_id]

    def _check_markup(self, markup: Any) -> dict[str, Any] | None:
        if not markup:
            return None
        rows = markup.get("inline_keyboard")
        if not isinstance(rows, list):
            raise ApiError(400, "Bad Request: can't parse inline keyboard button")
        for row in rows:
            for button in row:
                kinds = [k for k in ("callback_data", "url") if k in button]
                if len(kinds) != 1 or not button.get("text"):
                    raise ApiError(400, "Bad Request: can't parse inline keyboard button")
                if "callback_data" in button:
                    size = len(button["callback_data"].encode())
                    if not 1 <= size <= MAX_CALLBACK_DATA:
                        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                elif not re.match(r"^(https?|tg)://", button["url"]):
                    raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
        return markup

    def _check_text(self, text: Any) -> str:
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > MAX_TEXT_UTF16:
            raise ApiError(400, "Bad Request: message is too long")
        return text

    def _post(self, chat: Chat, params: dict[str, Any], **fields: Any) -> dict[str, Any]:
        reply = params.get("reply_parameters") or {}
        reply_to = reply.get("message_id") if isinstance(reply, dict) else None
        if reply_to is not None and self.find(chat.id, int(reply_to)) is None:
            if not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
            reply_to = None
        thread = params.get("message_thread_id")
        if thread not in (None, ""):
            if int(thread) in self.deleted_topics.get(chat.id, set()):
                raise ApiError(400, "Bad Request: message thread not found")
            topic = self.topic(chat.id, int(thread))
            rights = self.admins.get(chat.id, {}).get(self.bot.id)
            if topic is not None and topic["closed"] and not (rights and rights.get("can_manage_topics")):
                raise ApiError(400, "Bad Request: TOPIC_CLOSED")
        message = Message(
            chat_id=chat.id,
            message_id=self._message_id(chat.id),
            from_id=self.bot.id,
            thread_id=int(thread) if thread not in (None, "") else None,
            reply_to=int(reply_to) if reply_to is not None else None,
            by_bot=True,
            **fields,
        )
        self.messages[chat.id].append(message)
        return self._message_json(message)

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        text = self._check_text(params.get("text"))
        if params.get("parse_mode"):
            raise ApiError(400, "Bad Request: this fake expects plain text")
        return self._post(
            chat, params, text=text, reply_markup=self._check_markup(params.get("reply_markup"))
        )

    async def _m_sendDocument(
        self, params: dict[str, Any], *, field_name: str = "document"
    ) -> dict[str, Any]:
        chat = self._chat(params)
        document = params.get(field_name)
        if not isinstance(document, tuple):
            raise ApiError(400, f"Bad Request: there is no {field_name} in the request")
        caption = params.get("caption")
        if caption is not None and utf16_len(caption) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        return self._post(
            chat,
            params,
            document=document,
            caption=caption,
            photo=field_name == "photo",
            reply_markup=self._check_markup(params.get("reply_markup")),
        )

    async def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._m_sendDocument(params, field_name="photo")

    def _bot_message(self, params: dict[str, Any]) -> Message:
        chat = self._chat(params)
        message = self.find(chat.id, int(params.get("message_id") or 0))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not message.by_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    async def _m_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._bot_message(params)
        text = self._check_text(params.get("text"))
        markup = self._check_markup(params.get("reply_markup"))
        if text == message.text and markup == message.reply_markup:
            raise ApiError(
                400,
                NOT_MODIFIED,
            )
        message.edits.append({"text": message.text, "reply_markup": message.reply_markup})
        message.text, message.reply_markup = text, markup
        return self._message_json(message)

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._bot_message(params)
        markup = self._check_markup(params.get("reply_markup"))
        if markup == message.reply_markup:
            raise ApiError(
                400,
                NOT_MODIFIED,
            )
        message.edits.append({"text": message.text, "reply_markup": message.reply_markup})
        message.reply_markup = markup
        return self._message_json(message)

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query = self.callback_queries.get(str(params.get("callback_query_id")))
        if query is None or query.answered is not None:
            raise ApiError(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        text = params.get("text")
        if text is not None and len(text) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        query.answered = {"text": text, "show_alert": str(params.get("show_alert")).lower() == "true"}
        return True

    async def _m_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id"))
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, _, size = self.files[file_id]
        if size > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": path.rsplit("/", 1)[-1].split(".")[0],
            "file_size": size,
            "file_path": path,
        }

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        self.calls.append(("download", {"path": path}, time.monotonic()))
        self._notify_change()
        try:
            self._maybe_fail("download")
        except ApiError as exc:
            return web.Response(status=exc.code, text=exc.description)
        for stored_path, data, _ in self.files.values():
            if stored_path == path:
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404, text="Not Found")

    async def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands") or []
        for command in commands:
            if (
                not re.fullmatch(r"[a-z0-9_]{1,32}", command.get("command", ""))
                or not 1 <= len(command.get("description", "")) <= 256
            ):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        scope = (params.get("scope") or {}).get("type", "default")
        self.commands[(scope, params.get("language_code") or "")] = commands
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        return True

    async def _m_setWebhook(self, params: dict[str, Any]) -> bool:
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.match(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = {
            "url": params.get("url"),
            "secret_token": secret,
            "allowed_updates": params.get("allowed_updates"),
            "max_connections": int(params.get("max_connections") or 40),
        }
        for update in self._pending:
            self._enqueue_webhook(update)
        return True

    async def _m_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": (self.webhook or {}).get("url") or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }

    def _may_manage_topics(self, chat: Chat) -> None:
        if not chat.is_forum:
            raise ApiError(400, "Bad Request: the chat is not a forum")
        rights = self.admins.get(chat.id, {}).get(self.bot.id)
        if chat.id in self.admins and not (rights and rights.get("can_manage_topics")):
            raise ApiError(400, "Bad Request: not enough rights to manage topics")

    def _topic_of(self, chat: Chat, params: dict[str, Any]) -> dict[str, Any]:
        self._may_manage_topics(chat)
        topic = self.topic(chat.id, int(params.get("message_thread_id") or 0))
        if topic is None:
            raise ApiError(400, "Bad Request: TOPIC_ID_INVALID")
        return topic

    async def _m_createForumTopic(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        self._may_manage_topics(chat)
        name = str(params.get("name") or "")
        if not 1 <= len(name) <= 128:
            raise ApiError(400, "Bad Request: TOPIC_NAME_INVALID")
        topic = {"message_thread_id": self._message_id(chat.id), "name": name, "icon_color": 7322096}
        self.forum_topics[chat.id].append({**topic, "closed": False, "names": [name]})
        # The topic starts with a service message; the thread id is its message id.
        created = {"forum_topic_created": {"name": name, "icon_color": 7322096}}
        self.messages[chat.id].append(
            Message(
                chat_id=chat.id,
                message_id=topic["message_thread_id"],
                from_id=self.bot.id,
                thread_id=topic["message_thread_id"],
                by_bot=True,
                service=created,
            )
        )
        return topic

    async def _m_editForumTopic(self, params: dict[str, Any]) -> bool:
        topic = self._topic_of(self._chat(params), params)
        name = params.get("name")
        if name is not None:
            if not 1 <= len(str(name)) <= 128:
                raise ApiError(400, "Bad Request: TOPIC_NAME_INVALID")
            if name == topic["name"]:
                raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
            topic["name"] = str(name)
            topic["names"].append(str(name))
        return True

    async def _m_closeForumTopic(self, params: dict[str, Any]) -> bool:
        topic = self._topic_of(self._chat(params), params)
        if topic["closed"]:
            raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic["closed"] = True
        return True

    async def _m_reopenForumTopic(self, params: dict[str, Any]) -> bool:
        topic = self._topic_of(self._chat(params), params)
        if not topic["closed"]:
            raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic["closed"] = False
        return True

    async def _m_deleteForumTopic(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params)
        self._topic_of(chat, params)
        self.delete_topic(chat, int(params["message_thread_id"]))
        return True

    async def _m_getChat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        return {
            **chat.as_json(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def _m_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        user_id = int(params.get("user_id") or 0)
        user = self.bot if user_id == self.bot.id else self.users.get(user_id)
        if user is None:
            raise ApiError(400, "Bad Request: user not found")
        rights = self.admins.get(chat.id, {}).get(user_id)
        if rights is None:
            return {"status": "member", "user": user.as_json()}
        flags = (
            "can_manage_chat can_delete_messages can_manage_video_chats can_restrict_members "
            "can_promote_members can_change_info can_invite_users can_post_stories can_edit_stories "
            "can_delete_stories can_send_welcome_messages can_pin_messages can_manage_topics"
        ).split()
        return {
            "status": "administrator",
            "user": user.as_json(),
            "can_be_edited": False,
            "is_anonymous": False,
            **{flag: bool(rights.get(flag, False)) for flag in flags},
        }

    async def _m_sendChatAction(self, params: dict[str, Any]) -> bool:
        self._chat(params)
        return True

    # -- webhook delivery ----------------------------------------------------------------------
    def _chat_of(self, update: dict[str, Any]) -> str:
        for key in ("message", "edited_message"):
            if key in update:
                return str(update[key]["chat"]["id"])
        if "callback_query" in update:
            return str(update["callback_query"]["message"]["chat"]["id"])
        return f"u{update['update_id']}"

    def _enqueue_webhook(self, update: dict[str, Any]) -> None:
        chat = self._chat_of(update)
        self._webhook_queues[chat].append(update)
        if chat not in self._webhook_busy:
            self._webhook_busy.add(chat)
            task = asyncio.get_running_loop().create_task(self._deliver_chat(chat))
            self._webhook_tasks.add(task)
            task.add_done_callback(self._webhook_tasks.discard)

    async def _deliver_chat(self, chat: str) -> None:
        """One chat's updates, one at a time, each until a 2xx answer (as Telegram does)."""
        if self._client is None:
            self._client = ClientSession(timeout=ClientTimeout(total=60))
        queue = self._webhook_queues[chat]
        try:
            failures = 0
            while queue and self.webhook is not None:
                update = queue[0]
                targets = self.webhook_targets or [self.webhook["url"]]
                target = targets[next(self._rr) % len(targets)]
                headers = {}
                if self.webhook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
                try:
                    async with self._client.post(target, json=update, headers=headers) as response:
                        status = response.status
                        await response.read()
                except Exception:
                    status = 0
                self.webhook_posts.append((update["update_id"], target, status))
                if 200 <= status < 300 and self._lose_answers > 0:
                    self._lose_answers -= 1
                    status = 0  # the answer never reached Telegram
                if 200 <= status < 300:
                    queue.popleft()
                    if update in self._pending:
                        self._pending.remove(update)
                        self._history.append(update)
                    failures = 0
                else:
                    failures += 1
                    await asyncio.sleep(min(0.05 * 2**failures, 1.0))
                self._notify_change()
        finally:
            self._webhook_busy.discard(chat)


def dataclass_replace(message: Message, **changes: Any) -> Message:
    from dataclasses import replace

    return replace(message, **changes)
