"""The baseline of the Telegram load benchmark (`telegram_load.py`): a bare aiogram bot that
echoes every message, in a process of its own as such a bot runs (nothing of sellerbot imported,
its own garbage collector's work), polling a fake Bot API server of its own — the same fake as
sellerbot's — with the same load. Prints its updates per second on the last line.

    .venv/bin/python benchmarks/telegram_echo.py --chats 100 --groups 20 --messages 10 --seed 5

Also the load both bots are given: the questions, the chats, the warm-up and the burst.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.telegram.fake_api import FakeBotAPI  # noqa: E402

# Questions with a confident answer of one message each, in both languages.
QUESTIONS = [
    "how much is the commission?",
    "how do I register as a seller?",
    "what documents do I need to register?",
    "when do I get paid?",
    "how many stores can I open?",
    "我忘记密码了怎么办",
    "如何修改登录邮箱",
    "怎么发货,有上门揽收吗",
    "如何申请提高店铺数量",
    "可以绑定ERP吗",
    "how do I pass KYC verification?",
    "can I have several accounts?",
]


class FakeOnItsOwnLoop:
    """The fake Bot API server on a thread with its own event loop."""

    def __init__(self, **kw: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake: FakeBotAPI = self.run(lambda: FakeBotAPI(**kw))

    def run(self, fn: Callable[[], Any]) -> Any:
        """Call fn() on the fake's loop (its methods expect to run there) and return the result."""

        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result()

    def await_(self, coro_fn: Callable[[], Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro_fn(), self.loop).result()

    async def wait_until(self, predicate: Callable[[], bool], limit: float) -> None:
        future = asyncio.run_coroutine_threadsafe(self.fake.wait_until(predicate, limit=limit), self.loop)
        await asyncio.wrap_future(future)

    def close(self) -> None:
        self.await_(self.fake.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


def max_in_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


def make_chats(fake: FakeBotAPI, args: argparse.Namespace) -> list[tuple[Any, list[Any], list[str]]]:
    """The load: chats (the first `args.groups` of them groups with three members), each with its
    questions, chosen with `args.seed`."""
    rng = random.Random(args.seed)
    chats = []
    for n in range(args.chats):
        asked = rng.sample(QUESTIONS, k=min(args.messages, len(QUESTIONS)))
        if n < args.groups:
            group = fake.group(f"Group {n}")
            members = [fake.user(f"G{n}M{m}", language_code="en") for m in range(3)]
            chats.append((group, members, asked))
        else:
            user = fake.user(f"U{n}", language_code="en")
            chats.append((fake.private_chat(user), [user], asked))
    return chats


def warm_up(fake: FakeBotAPI) -> list[int]:
    """A few messages before the clock starts, so that what a bot does once (its first imports,
    caches, connections) is not counted in its rate."""
    users = [fake.user(f"Warm{n}", language_code="en") for n in range(4)]
    return [fake.send(fake.private_chat(u), u, q) for u in users for q in QUESTIONS[:5]]


def push_all(fake: FakeBotAPI, chats: list[tuple[Any, list[Any], list[str]]], messages: int) -> list[int]:
    """Every chat's messages, queued at the fake server before the bot polls; returns their ids."""
    ids = []
    for round_ in range(messages):
        for chat, members, questions in chats:
            member = members[round_ % len(members)]
            text = questions[round_]
            if chat.type != "private":
                text = f"@{fake.username} {text}"
            ids.append(fake.send(chat, member, text))
    return ids


async def echo_rate(args: argparse.Namespace) -> float:
    """The baseline: a bare aiogram bot that echoes every message, polling a fake server of its own
    with the same load. Returns its updates per second."""
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message

    server = FakeOnItsOwnLoop(username="echo_bot", first_update_id=random.randrange(10**6, 10**9))
    fake = server.fake
    server.await_(fake.start)
    bot = Bot(token=fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)))
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1))
    try:
        warm = len(server.run(lambda: warm_up(fake)))
        await server.wait_until(lambda: len(fake.all_sent()) >= warm, limit=600)
        chats = server.run(lambda: make_chats(fake, args))
        started = time.perf_counter()
        total = len(server.run(lambda: push_all(fake, chats, args.messages)))
        await server.wait_until(lambda: len(fake.all_sent()) >= warm + total, limit=600)
        elapsed = time.perf_counter() - started
    finally:
        await dispatcher.stop_polling()
        await polling
        await bot.session.close()
        server.close()
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rate = asyncio.run(echo_rate(args))
    print(f"echo bot updates/s: {rate:.1f}")


if __name__ == "__main__":
    main()
