"""Load benchmark of the QQ adapter, the same shape as `telegram_load.py`: many chats writing at
once, through a fake of the platform and the adapter's real clients and servers, with the `[qq]`
limits on.

    .venv/bin/python benchmarks/qq_load.py                          # official API (webhook), 200 chats × 10
    .venv/bin/python benchmarks/qq_load.py --protocol onebot        # a OneBot client
    .venv/bin/python benchmarks/qq_load.py --no-limits --chats 100  # the adapter's own speed
    .venv/bin/python benchmarks/qq_load.py --db postgresql+asyncpg://postgres@127.0.0.1/bench

Every chat (private chats, and groups where members @-mention the bot) sends its messages in a
burst: on the official API each chat's deliveries are posted one after another (the platform
waits for each acknowledgement), the chats side by side; a OneBot client sends every event at
once. The fake runs on a thread and event loop of its own, so the times it records are not bent
by the bot's busy loop. The script checks that every message is answered exactly once and in
order per chat, and that the bot's messages, timed where the fake receives them, kept within the
limits; it prints the messages handled per second and the processing latency (limiter waits
taken out), and for reference the limiter waits and the end-to-end latency.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from telegram_load import QUESTIONS, max_in_window, print_timing  # noqa: E402

from bot.app import build_app  # noqa: E402
from bot.config import Settings, load_settings  # noqa: E402
from bot.qq.render import Renderer  # noqa: E402
from bot.qq.runtime import start_qq  # noqa: E402
from bot.runtime.limiter import OutboundLimits  # noqa: E402
from handlers import replies as catalogue  # noqa: E402
from handlers.types import Inbound  # noqa: E402
from tests.qq.fake_official import FakeOfficialAPI  # noqa: E402
from tests.qq.fake_onebot import FakeOneBotClient  # noqa: E402

TOKEN = "bench-onebot-token"


class OnItsOwnLoop:
    """A fake on a thread with its own event loop."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = self.run(make)

    def run(self, fn: Callable[[], Any]) -> Any:
        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result()

    async def await_(self, coro_fn: Callable[[], Any]) -> Any:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro_fn(), self.loop))

    def close(self, closing: Callable[[], Any]) -> None:
        asyncio.run_coroutine_threadsafe(closing(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


async def expected_answers(
    settings: Settings, questions: list[str], bot_id: str
) -> dict[tuple[str, bool], str]:
    """What the seller reads for each question, in a private chat and in a group: the core's
    replies as the QQ adapter shows them."""
    app = await build_app(settings)

    def private_chat(button: Any, lang: str, bot: str) -> str:
        return catalogue.say(
            f"channel.qq.private_chat_{settings.qq.protocol}",
            lang,
            label=button.label,
            payload=button.id,
            bot_id=bot_id,
        )

    renderer = Renderer(
        max_chars=settings.qq.max_message_chars,
        links=settings.qq.links,
        private_chat=private_chat,
        default_language=settings.app.default_language,
    )
    try:
        answers = {}
        for n, question in enumerate(questions):
            for group in (False, True):
                replies = await app.core.handle(
                    Inbound(
                        channel="bench",
                        chat_id=f"c{n}{group}",
                        user_id="u",
                        text=question,
                        is_group=group,
                        numbered_choices=True,
                    )
                )
                outs = renderer.replies(replies, group=group)
                if len(outs) != 1:
                    raise SystemExit(
                        f"question {question!r} is answered in {len(outs)} messages; pick another"
                    )
                answers[(question, group)] = outs[0].text  # type: ignore[union-attr]
        return answers
    finally:
        await app.close()


async def run(args: argparse.Namespace) -> int:
    work = Path(args.data_dir or tempfile.mkdtemp(prefix="sellerbot-bench-"))
    (work / "sellerbot.db").unlink(missing_ok=True)
    settings = load_settings(data_dir=work, db_url=args.db)
    if args.redis:
        settings.redis = settings.redis.model_copy(update={"url": args.redis})
    lifted = {"messages_per_second": 100_000, "chat_burst": 100_000, "group_messages_per_minute": 100_000}
    values: dict[str, Any] = {"workers": args.workers, **(lifted if args.no_limits else {})}
    questions = list(QUESTIONS)
    rng = random.Random(args.seed)
    if args.protocol == "official":
        server = OnItsOwnLoop(FakeOfficialAPI)
        fake = server.fake
        await server.await_(fake.start)
        values |= {
            "protocol": "official",
            "app_id": fake.app_id,
            "app_secret": fake.secret,
            "api_base_url": fake.url,
            "token_url": f"{fake.url}/app/getAppAccessToken",
            "webhook_listen": "127.0.0.1:0",
        }
    else:
        server = OnItsOwnLoop(lambda: FakeOneBotClient(token=TOKEN))
        fake = server.fake
        await server.await_(fake.start_image_host)
        values |= {"protocol": "onebot", "onebot_listen": "127.0.0.1:0", "onebot_access_token": TOKEN}
    settings.qq = settings.qq.model_validate({**settings.qq.model_dump(), **values})
    qq = settings.qq
    limits = OutboundLimits.from_rates(
        per_second=qq.messages_per_second,
        group_per_minute=qq.group_messages_per_minute,
        chat_per_second=qq.chat_messages_per_second,
        chat_burst=qq.chat_burst,
    )
    print(f"protocol: {qq.protocol}  data: {work}  database: {settings.database_url.split('@')[-1]}")
    bot_id = qq.app_id if qq.protocol == "official" else fake.self_id
    answers = await expected_answers(settings, questions, bot_id)
    if args.messages > len(questions):
        raise SystemExit(f"at most {len(questions)} messages per chat")
    chats = []  # (group id or None, user ids, questions)
    for n in range(args.chats):
        asked = rng.sample(questions, k=args.messages)
        if n < args.groups:
            chats.append((str(900_000 + n), [str(800_000 + n * 10 + m) for m in range(3)], asked))
        else:
            chats.append((None, [str(700_000 + n)], asked))
    total = args.chats * args.messages
    print(f"{len(chats)} chats ({args.groups} groups) × {args.messages} messages = {total} messages")

    runtime = await start_qq(settings)
    started = time.perf_counter()
    keys: list[str] = []
    try:
        if qq.protocol == "official":
            fake.webhook_url = f"http://127.0.0.1:{runtime.port}{qq.webhook_path}"

            async def chat(group: str | None, users: list[str], asked: list[str]) -> None:
                for m, question in enumerate(asked):
                    kind, data = fake.message_event(group=group, user=users[m % len(users)], text=question)
                    keys.append(data["id"])
                    status, _ = await fake.post_webhook(fake.envelope(kind, data))
                    assert status == 200

            async def all_chats() -> None:
                await asyncio.gather(*(chat(*c) for c in chats))

            await server.await_(all_chats)
        else:
            await server.await_(lambda: fake.connect(f"ws://127.0.0.1:{runtime.port}{qq.onebot_path}"))

            async def push() -> None:
                for m in range(args.messages):
                    for group, users, asked in chats:
                        event = fake.message_event(group=group, user=users[m % len(users)], text=asked[m])
                        keys.append(f"{fake.self_id}:{event['message_id']}")
                        await fake.send_event(event)

            await server.await_(push)
        for key in keys:
            await runtime.processor.wait_handled(await runtime.intake.number_of(key))
        elapsed = time.perf_counter() - started
    finally:
        await runtime.stop()

    # -- checks ----------------------------------------------------------------------------------
    problems = []
    sent: list[Any] = list(fake.sent if qq.protocol == "official" else fake.posted)
    at = [s.at for s in sent]
    for group, users, asked in chats:
        chat_id = group or users[0]
        got = [s.text for s in sent if s.chat == chat_id]
        if got != [answers[(q, group is not None)] for q in asked]:
            problems.append(f"chat {chat_id}: {len(got)} answers, not the {len(asked)} expected in order")
    if len(sent) != total:
        problems.append(f"{len(sent)} messages sent for {total}")
    overall = max_in_window(at, 1.0) if at else 0
    if at and not args.no_limits and max_in_window(at, 0.9) > limits.overall.limit:
        problems.append(f"overall limit exceeded: {max_in_window(at, 0.9)} in 0.9 s")
    server.close(fake.close)

    stats = runtime.stats
    print(f"answered: {len(sent)} messages for {total}; duplicates dropped: {stats.duplicates}")
    print_timing(stats, total=total, elapsed=elapsed, unit="messages")
    if at:
        print(f"most messages seen by the fake in any 1 s: {overall} (limit {limits.overall.limit})")
    if problems:
        print("PROBLEMS:\n  " + "\n  ".join(problems[:20]))
        return 1
    print("OK: every message answered exactly once, in order per chat, within the limits")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--protocol", choices=["official", "onebot"], default="official")
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--groups", type=int, default=20, help="how many of the chats are groups")
    parser.add_argument("--messages", type=int, default=10, help="messages per chat")
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in the data folder)")
    parser.add_argument("--redis", default=None, help="Redis URL for the limiter (default: in-process)")
    parser.add_argument("--data-dir", default=None, help="reuse a data folder (keeps the trained matcher)")
    parser.add_argument(
        "--no-limits", action="store_true", help="lift the rate limits: the adapter's own speed"
    )
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    raise SystemExit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
