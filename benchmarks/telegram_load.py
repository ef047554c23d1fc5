"""Load benchmark of the Telegram adapter: many chats writing at once, through the fake Bot API
server and the real aiogram client, with Telegram's limits on.

    .venv/bin/python benchmarks/telegram_load.py                      # 200 chats × 10 messages, SQLite
    .venv/bin/python benchmarks/telegram_load.py --db postgresql+asyncpg://postgres@127.0.0.1/bench
    .venv/bin/python benchmarks/telegram_load.py --chats 50 --groups 5 --messages 4

Every chat (private chats, and groups where members mention the bot) sends its messages as a
burst; the whole lot (chats × messages updates) is queued at once, after a few warm-up messages
that are not counted (a bot's first imports and caches are not its rate). A bare aiogram bot that
echoes every message is run right before on the same load, as the baseline; the two are run in
turn `--rounds` times (new chats each round), and the ratio of each round and their median are
printed (this machine's pace drifts from one minute to the next). The
fake server runs on a thread and event loop of its own, so that the times it records are not
bent by the bot's busy loop. The script checks that every message is answered exactly once and
in order per chat, and that the bot's messages — timed where the fake server receives them —
kept within the limits: 30 a second overall, 20 a minute per group, and the per-chat smoothing.
It prints the updates handled per second and the processing latency (a worker taking the update
to its last reply sent; median and p99) with the limiter's waits taken out, and for reference the
limiter waits and the end-to-end latency (which includes waiting behind the chat's earlier
messages).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telegram_echo import (  # noqa: E402
    QUESTIONS,
    FakeOnItsOwnLoop,
    make_chats,
    max_in_window,
    push_all,
    warm_up,
)

from bot.app import build_app  # noqa: E402
from bot.config import Settings, load_settings  # noqa: E402
from bot.runtime.limiter import OutboundLimits  # noqa: E402
from bot.runtime.metrics import Stats, percentile  # noqa: E402
from bot.runtime.serve import settle_long_lived_objects  # noqa: E402
from bot.telegram.runtime import start_telegram  # noqa: E402
from handlers.core import CoreOptions  # noqa: E402
from handlers.types import Inbound  # noqa: E402
from tests.telegram.fake_api import FakeBotAPI  # noqa: E402


def print_timing(stats: Stats, *, total: int, elapsed: float, unit: str) -> None:
    """The rate, and the latencies of a load run (the QQ benchmark prints the same)."""
    print(f"wall time: {elapsed:.1f} s   {unit} handled per second: {total / elapsed:.1f}")

    def ms(values: Iterable[float], q: float) -> str:
        return f"{percentile(values, q) * 1000:.0f} ms"

    def sec(values: Iterable[float], q: float) -> str:
        return f"{percentile(values, q):.2f} s"

    print(
        "processing latency (limiter waits excluded): "
        f"median {ms(stats.latencies, 0.5)}, p99 {ms(stats.latencies, 0.99)}"
    )
    print(f"limiter wait per update: median {sec(stats.waits, 0.5)}, p99 {sec(stats.waits, 0.99)}")
    end_to_end = stats.end_to_end
    print(f"end-to-end (arrival to answer): median {sec(end_to_end, 0.5)}, p99 {sec(end_to_end, 0.99)}")


async def expected_answers(settings: Settings, questions: list[str]) -> dict[str, str]:
    """The one-message answer to each question, from the conversation core itself."""
    app = await build_app(settings, bot_username="bench_bot")
    try:
        app.core.options = CoreOptions(bot_username="bench_bot", default_language="zh")
        answers = {}
        for n, question in enumerate(questions):
            replies = await app.core.handle(
                Inbound(channel="bench", chat_id=f"c{n}", user_id="u", text=question)
            )
            if len(replies) != 1:
                raise SystemExit(f"question {question!r} gets {len(replies)} replies; pick another")
            answers[question] = replies[0].text
        return answers
    finally:
        await app.close()


async def echo_rate(args: argparse.Namespace) -> float:
    """The baseline: the bare aiogram echo bot (`telegram_echo.py`) on the same load, run in a
    process of its own; its updates per second."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("telegram_echo.py")),
        *("--chats", str(args.chats), "--groups", str(args.groups)),
        *("--messages", str(args.messages), "--seed", str(args.seed)),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"the echo bot's run failed (exit status {process.returncode})")
    return float(out.decode().split()[-1])


async def run(args: argparse.Namespace) -> int:
    work = Path(args.data_dir or tempfile.mkdtemp(prefix="sellerbot-bench-"))
    (work / "sellerbot.db").unlink(missing_ok=True)  # a reused data folder keeps only the matcher
    server = FakeOnItsOwnLoop(username="bench_bot", first_update_id=random.randrange(10**6, 10**9))
    fake = server.fake
    server.await_(fake.start)
    settings = load_settings(data_dir=work, db_url=args.db)
    settings.telegram = settings.telegram.model_validate(
        {
            **settings.telegram.model_dump(),
            "token": fake.token,
            "api_base_url": fake.url,
            "poll_timeout_seconds": 5,
            "workers": args.workers,
            **({"messages_per_second": 100_000, "chat_burst": 100_000} if args.no_limits else {}),
        }
    )
    if args.redis:
        settings.redis = settings.redis.model_copy(update={"url": args.redis})
    telegram = settings.telegram
    limits = OutboundLimits.from_rates(
        per_second=telegram.messages_per_second,
        group_per_minute=telegram.group_messages_per_minute,
        chat_per_second=telegram.chat_messages_per_second,
        chat_burst=telegram.chat_burst,
    )
    print(f"data: {work}  database: {settings.database_url.split('@')[-1]}")
    answers = await expected_answers(settings, QUESTIONS)
    if args.messages > len(QUESTIONS):
        raise SystemExit(f"at most {len(QUESTIONS)} messages per chat")

    runtime = await start_telegram(settings)
    settle_long_lived_objects()  # as `sellerbot run telegram` does once started
    ratios: list[float] = []
    failed = False
    try:
        for update_id in server.run(lambda: warm_up(fake)):
            await runtime.processor.wait_handled(update_id)
        for round_ in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"-- round {round_} of {args.rounds}")
            # The baseline right before each of sellerbot's runs: the machine's pace drifts, and
            # a ratio compares two runs taken under the same conditions.
            echo = None
            if not args.no_echo:
                echo = await echo_rate(args)
                print(f"baseline: a bare aiogram echo bot on the same load handles {echo:.1f} updates/s")
            chats = server.run(lambda: make_chats(fake, args))  # new chats each round
            rate = await load_once(server, runtime, chats, args)
            failed |= not check(fake, runtime, chats, answers, limits, args, rate=rate)
            if echo is not None:
                ratios.append(rate / echo)
                print(
                    f"sellerbot keeps {ratios[-1]:.2f} of the echo bot's rate"
                    " (target with --no-limits: ≥ 0.3)"
                )
    finally:
        await runtime.stop()
        server.close()
    if len(ratios) > 1:
        listed = ", ".join(f"{r:.2f}" for r in ratios)
        print(
            f"over {len(ratios)} rounds sellerbot keeps {listed} of the echo bot's rate:"
            f" median {median(ratios):.2f}"
        )
    return 1 if failed else 0


async def load_once(
    server: FakeOnItsOwnLoop,
    runtime: Any,
    chats: list[tuple[Any, list[Any], list[str]]],
    args: argparse.Namespace,
) -> float:
    """Queue every chat's messages at once and wait until each has been handled; the rate."""
    fake = server.fake
    before = len(fake.all_sent())
    runtime.stats.reset()  # the figures of this load alone
    started = time.perf_counter()
    update_ids = server.run(lambda: push_all(fake, chats, args.messages))
    for update_id in update_ids:
        await runtime.processor.wait_handled(update_id)
    elapsed = time.perf_counter() - started
    await server.wait_until(lambda: len(fake.all_sent()) >= before + len(update_ids), limit=60)
    print(f"{len(chats)} chats ({args.groups} groups) × {args.messages} messages = {len(update_ids)} updates")
    print_timing(runtime.stats, total=len(update_ids), elapsed=elapsed, unit="updates")
    return len(update_ids) / elapsed


def check(
    fake: FakeBotAPI,
    runtime: Any,
    chats: list[tuple[Any, list[Any], list[str]]],
    answers: dict[str, str],
    limits: OutboundLimits,
    args: argparse.Namespace,
    *,
    rate: float,
) -> bool:
    """Every message answered once, in order per chat, within the limits; prints what was found."""
    total = sum(len(questions) for _, _, questions in chats)
    problems = []
    for chat, _, questions in chats:
        got = [m.text for m in fake.sent(chat.id)]
        if got != [answers[q] for q in questions]:
            problems.append(f"chat {chat.id}: {len(got)} answers, not the {len(questions)} expected in order")
    sent = [m for chat, _, _ in chats for m in fake.sent(chat.id)]
    if len(sent) != total:
        problems.append(f"{len(sent)} messages sent for {total} updates")
    times = [m.at for m in sent]
    overall = max_in_window(times, 1.0)
    per_group = max(
        (max_in_window([m.at for m in fake.sent(c.id)], 60.0) for c, _, _ in chats if c.type != "private"),
        default=0,
    )
    per_chat = max(max_in_window([m.at for m in fake.sent(c.id)], limits.chat.seconds) for c, _, _ in chats)
    if not args.no_limits:
        # Times are taken where the fake server receives the messages: a message held up on its
        # way (a busy event loop, a slow connection) lands closer to the next ones than it left,
        # so allow 100 ms for the trip.
        if max_in_window(times, 0.9) > limits.overall.limit:
            problems.append(f"overall limit exceeded: {max_in_window(times, 0.9)} in 0.9 s")
        if per_group > limits.group.limit:
            problems.append(f"group limit exceeded: {per_group} in a minute")
    print(
        f"answered: {len(sent)} messages for {total} updates; duplicates dropped: {runtime.stats.duplicates}"
    )
    print(f"most messages seen by the server in any 1 s: {overall} (limit {limits.overall.limit})")
    # Where sellerbot decides: the limiter's grants (the server's count adds the trip's jitter).
    granted = max_in_window(list(runtime.sender.granted), 1.0)
    print(f"most let through by the limiter in any 1 s: {granted} (limit {limits.overall.limit})")
    print(f"most to one group in any minute: {per_group} (limit {limits.group.limit})")
    print(f"most to one chat in any {limits.chat.seconds:g} s: {per_chat} (burst {limits.chat.limit})")
    if problems:
        print("PROBLEMS:\n  " + "\n  ".join(problems[:20]))
        return False
    print("OK: every message answered exactly once, in order per chat, within the limits")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
    parser.add_argument("--no-echo", action="store_true", help="skip the echo bot's baseline run")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="echo bot, then sellerbot, this many times over; the ratio is given for each and their median",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    raise SystemExit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
