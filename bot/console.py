"""The console channel: the bot in a terminal, or as JSON lines for scripts.

It is a channel adapter like any other: it turns what the user types into an `Inbound`,
hands it to the conversation core and shows the replies. Buttons are shown numbered
(`[1] 电子设备`) and chosen by number or label; `/file PATH` attaches a file. With `--group`
it plays a group chat in which the bot's username is `sellerbot`: only messages addressed to
the bot (a /command or `@sellerbot ...`) are answered, and choosing a private-chat button
moves the console to the private chat, as Telegram's deep links do.

Messages an agent sends while the conversation is with a person arrive through the delivery
queue; the console shows them as they come (interactive) or before the end of the next turn
(JSON lines), with their buttons (the rating after a person closes the conversation) and their
files (saved to `received_dir`, when the session has one).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import queue
import re
import stat
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from handlers import replies as catalogue
from handlers.commands import for_another_bot
from handlers.core import ConversationCore
from handlers.types import Button, ButtonKind, Inbound, InboundFile, Reply
from services.db import reading, reading_connection
from services.handoff import load_file, mark_delivered, pending_deliveries

CHANNEL = "console"
GROUP_CHAT_ID = "console-group"
# A file larger than this is not read at all (icons are at most a few MB).
MAX_FILE_BYTES = 20 * 1024 * 1024


class InputError(Exception):
    """What the user typed cannot be sent (a missing file, a folder, no path). `key` names the
    message under `channel.console` in the reply catalogue; `str()` is the English text (for
    JSON lines), `message(lang)` the text in the chat's language."""

    def __init__(self, key: str, **context: Any) -> None:
        self.key, self.context = key, context
        super().__init__(self.message("en"))

    def message(self, lang: str) -> str:
        return catalogue.say(f"channel.console.{self.key}", lang, **self.context)


@dataclass
class ConsoleSession:
    core: ConversationCore
    user_id: str
    display_name: str = ""
    is_group: bool = False
    language_hint: str | None = None
    bot_username: str = "sellerbot"
    # the buttons of the last replies, in the order they were shown (numbered from 1)
    buttons: list[Button] = field(default_factory=list)
    # where files an agent sends are saved (None: not saved, only named)
    received_dir: Path | None = None

    @property
    def chat_id(self) -> str:
        return GROUP_CHAT_ID if self.is_group else self.user_id

    @property
    def lang(self) -> str:
        """The language of the console's own hints: the --lang given, else the bot's default."""
        hint = (self.language_hint or self.core.options.default_language).lower()
        return "en" if hint.startswith("en") else "zh"

    def say(self, key: str, **context: Any) -> str:
        return catalogue.say(f"channel.console.{key}", self.lang, bot_username=self.bot_username, **context)

    def addressed(self, text: str) -> bool:
        if not self.is_group:
            return True
        lowered = text.strip().casefold()
        if lowered.startswith("/"):
            return not for_another_bot(text, bot_username=self.bot_username)
        # a mention of the bot, not of "@sellerbot_fan" or "@sellerbotx"
        return re.search(rf"@{re.escape(self.bot_username)}\b", text, re.IGNORECASE) is not None

    async def send_text(self, text: str) -> list[Reply]:
        stripped = text.strip()
        if stripped == "/file" or stripped.startswith(("/file ", "/file\t")):
            return await self.send_file(stripped[len("/file") :].strip())
        button = self.button_for(stripped)
        if button is not None:
            return await self.press(button)
        return await self._handle(text=text, addressed=self.addressed(text))

    async def press(self, button: Button) -> list[Reply]:
        if button.kind is ButtonKind.PRIVATE_CHAT:
            # In a real group this opens the private chat with `/start <payload>`.
            self.is_group = False
            return await self._handle(text=f"/start {button.id}", addressed=True)
        return await self._handle(button=button.id, addressed=True)

    async def press_id(self, button_id: str) -> list[Reply]:
        known = next((b for b in self.buttons if b.id == button_id), None)
        if known is not None:
            return await self.press(known)
        # An id the console did not show (an old one, or made up): the core answers it.
        return await self._handle(button=button_id, addressed=True)

    async def send_file(self, path_text: str) -> list[Reply]:
        if not path_text:
            raise InputError("file_usage")
        data, name = await asyncio.to_thread(read_file, path_text)
        return await self._handle(files=(InboundFile(name=name, data=data),), addressed=True)

    def button_for(self, text: str) -> Button | None:
        """The shown button the user picked by number or by label, if any."""
        # A number picks a button only within the numbers shown: a phone number or a parcel
        # count typed as an answer is text.
        if text.isdigit() and 1 <= int(text) <= len(self.buttons):
            return self.buttons[int(text) - 1]
        folded = text.casefold()
        return next((b for b in self.buttons if b.label.casefold() == folded), None)

    async def _handle(
        self,
        *,
        text: str = "",
        button: str | None = None,
        files: tuple[InboundFile, ...] = (),
        addressed: bool,
    ) -> list[Reply]:
        inbound = Inbound(
            channel=CHANNEL,
            chat_id=self.chat_id,
            user_id=self.user_id,
            text=text,
            display_name=self.display_name,
            files=files,
            is_group=self.is_group,
            addressed_to_bot=addressed,
            button=button,
            language_hint=self.language_hint,
        )
        replies = await self.core.handle(inbound)
        shown = [b for r in replies for b in r.buttons]
        if shown or replies:
            self.buttons = shown
        return replies

    async def deliveries(self) -> list[Reply]:
        """Messages queued for this chat (an agent's replies, the rating question), marked
        delivered. Their buttons become the ones a number picks."""
        # Looked for after every turn: a bare connection, and a session only for files.
        async with reading_connection(self.core.sessions) as connection:
            pending = [
                d
                for d in await pending_deliveries(connection, channel=CHANNEL, chat_id=self.chat_id)
                if d.user_id == self.user_id
            ]
        if not pending:
            return []
        files: dict[int, InboundFile] = {}
        async with reading(self.core.sessions) as session:
            for d in pending:
                stored = await load_file(session, d.upload_id) if d.upload_id is not None else None
                if stored is not None:
                    files[d.id] = InboundFile(name=stored.name, data=stored.data, mime_type=stored.mime_type)
        await mark_delivered(sessions=self.core.sessions, delivery_ids=[d.id for d in pending])
        shown = []
        for d in pending:
            file = files.get(d.id)
            if file is not None and self.received_dir is not None:
                path = await asyncio.to_thread(save_received, self.received_dir, d.id, file)
                file = InboundFile(name=str(path), data=file.data, mime_type=file.mime_type)
            shown.append(
                Reply(
                    text=d.text,
                    buttons=tuple(Button(id=bid, label=label) for bid, label in d.buttons),
                    files=(file,) if file is not None else (),
                )
            )
        buttons = [b for r in shown for b in r.buttons]
        if buttons:
            self.buttons = buttons
        return shown


def save_received(folder: Path, delivery_id: int, file: InboundFile) -> Path:
    """Save a file an agent sent; its name is kept, without any folder part."""
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(file.name).name.strip(". ") or "file"
    path = folder / f"{delivery_id}-{name}"
    path.write_bytes(file.data)
    return path


def read_file(path_text: str) -> tuple[bytes, str]:
    """The content and name of a file the user attached, or an InputError saying why not."""
    path = Path(path_text).expanduser()
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError("file_too_large", path=str(path), size=size, limit=MAX_FILE_BYTES)
        return path.read_bytes(), path.name
    except IsADirectoryError:
        raise InputError("file_is_folder", path=str(path)) from None
    except OSError as exc:
        raise InputError("file_unreadable", path=str(path), reason=exc.strerror or str(exc)) from None


# -- JSON lines ---------------------------------------------------------------------------------
def _reply_json(reply: Reply) -> dict[str, Any]:
    buttons = []
    for b in reply.buttons:
        item: dict[str, Any] = {"id": b.id, "label": b.label}
        if b.kind is not ButtonKind.CALLBACK:
            item["kind"] = b.kind.value
        buttons.append(item)
    data: dict[str, Any] = {"type": "message", "text": reply.text, "buttons": buttons}
    if reply.files:
        data["files"] = [{"name": f.name, "size": len(f.data)} for f in reply.files]
    return data


async def _jsonl_turn(session: ConsoleSession, line: str) -> tuple[list[Reply], str | None]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        return [], f"not JSON: {exc.msg}"
    if not isinstance(item, dict):
        return [], 'expected an object: {"text": ...}, {"button": ID} or {"file": PATH}'
    try:
        if isinstance(item.get("text"), str):
            return await session.send_text(item["text"]), None
        if isinstance(item.get("button"), str):
            return await session.press_id(item["button"]), None
        if isinstance(item.get("file"), str):
            return await session.send_file(item["file"]), None
    except InputError as exc:
        return [], str(exc)
    return [], 'expected {"text": ...}, {"button": ID} or {"file": PATH}'


async def run_jsonl(session: ConsoleSession, stdin: TextIO, stdout: TextIO) -> None:
    """One JSON object per input line; for each, zero or more message lines and exactly one
    `{"type": "turn_end"}`, flushed, so a script can read turn by turn."""

    def emit(obj: dict[str, Any]) -> None:
        stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")

    async for line in input_lines(stdin):
        if not line.strip():
            continue
        replies, error = await _jsonl_turn(session, line)
        replies = [*await session.deliveries(), *replies]
        for reply in replies:
            emit(_reply_json(reply))
        if error is not None:
            emit({"type": "error", "error": error})
        emit({"type": "turn_end"})
        stdout.flush()


async def input_lines(stdin: TextIO) -> AsyncIterator[str]:
    """The lines of `stdin` as they come. A pipe is read by the event loop itself (a script's next
    line wakes it); anything else (a file, a test's text buffer) on a thread, a line at a time."""
    fd: int | None
    try:
        fd = stdin.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        fd = None
    if fd is not None and stat.S_ISFIFO(os.fstat(fd).st_mode):
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2**24)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(os.dup(fd), "rb", buffering=0)
        )
        try:
            while line := await reader.readline():
                yield line.decode("utf-8", "replace")
        finally:
            transport.close()
        return
    while line := await asyncio.to_thread(stdin.readline):
        yield line


# -- interactive --------------------------------------------------------------------------------
def render(shown: list[Reply], out: Callable[[str], None], *, lang: str = "en") -> None:
    number = 0
    for reply in shown:
        if reply.text:
            out("bot> " + reply.text.replace("\n", "\n     "))
        for file in reply.files:
            out("bot> " + catalogue.say("channel.console.file", lang, name=file.name, size=len(file.data)))
        for button in reply.buttons:
            number += 1
            hint = ""
            if button.kind is ButtonKind.PRIVATE_CHAT:
                hint = "  " + catalogue.say("channel.console.opens_private_chat", lang)
            out(f"     [{number}] {button.label}{hint}")


class LineReader:
    """Reads the user's lines on a daemon thread, one line per request.

    `input()` blocks its thread until the user presses Enter. On asyncio's default executor
    that thread would keep the process from exiting after Ctrl-C or an error until the user
    typed a line; a daemon thread does not. One line per request keeps the prompt after the
    bot's replies instead of reading ahead.
    """

    def __init__(self, prompt: str) -> None:
        self._prompt = prompt
        self._requests: queue.SimpleQueue[asyncio.Future[str | None]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="console-input", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            future = self._requests.get()
            loop = future.get_loop()
            try:
                line: str | None = input(self._prompt)
            except EOFError:
                line = None
            except BaseException as exc:  # report it to the waiting coroutine, keep the thread alive
                loop.call_soon_threadsafe(_settle, future, None, exc)
                continue
            loop.call_soon_threadsafe(_settle, future, line, None)
            if line is None:
                return

    async def read(self) -> str | None:
        """The next line, or None at the end of input."""
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._requests.put(future)
        return await future


def _settle(future: asyncio.Future[str | None], line: str | None, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(line)


async def run_interactive(session: ConsoleSession, *, intro: str, poll_seconds: float = 1.0) -> None:
    def out(text: str) -> None:
        print(text, flush=True)

    out(intro)

    async def poll() -> None:
        while True:
            await asyncio.sleep(poll_seconds)
            delivered = await session.deliveries()
            if delivered:
                out("")
                render(delivered, out, lang=session.lang)

    reader = LineReader("you> ")
    poller = asyncio.create_task(poll())
    try:
        while True:
            line = await reader.read()
            if line is None or line.strip() in {"/quit", "/exit"}:
                break
            if not line.strip():
                continue
            was_group = session.is_group
            try:
                shown = await session.send_text(line)
            except InputError as exc:
                out(f"!    {exc.message(session.lang)}")
                continue
            if was_group and not session.is_group:
                out(session.say("now_private"))
            if session.is_group and not shown and not session.addressed(line):
                out("     " + session.say("not_addressed"))
            render(shown, out, lang=session.lang)
    finally:
        poller.cancel()
        # Wait for the poller to stop before the caller closes the database under it.
        await asyncio.gather(poller, return_exceptions=True)
        out(session.say("bye"))
