"""Crash benchmark of the Telegram runtime: `sellerbot run telegram` is killed with SIGKILL in the
middle of a burst, restarted, and every answer is counted.

    .venv/bin/python benchmarks/telegram_crash.py                  # 60 chats × 5 questions, SQLite
    .venv/bin/python benchmarks/telegram_crash.py --db postgresql+asyncpg://postgres@127.0.0.1/bench
    .venv/bin/python benchmarks/telegram_crash.py --kill-after 150 --rounds 3

The fake Bot API server runs in this process; the bot runs as a real process polling it, with
Telegram's real limits (30 messages a second overall, 20 a minute per group). Every chat's
questions (distinct answers within a chat) are queued at once; once `--kill-after` answers have
reached the server, the bot is killed (kill -9), then a second bot process is started on the same
database and runs until every question has its answer. The script counts:

- lost: questions that never got their answer;
- doubled: answers that arrived more than once;
- in flight at the kill: answers the server had received whose outbox rows were not yet marked
  sent when the first process died (read from the database between the kill and the restart).
  Those are the only answers that may arrive twice.

It exits with 1 unless nothing was lost and the doubled answers are at most those in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from benchmarks.telegram_load import QUESTIONS, expected_answers, make_chats, push_all  # noqa: E402
from bot.config import load_settings  # noqa: E402
from services.db import create_engine, session_factory  # noqa: E402
from services.models import OutboxMessage, OutboxStatus  # noqa: E402
from tests.telegram.fake_api import FakeBotAPI  # noqa: E402


def environment(fake: FakeBotAPI, work: Path, db: str | None, lease_seconds: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERBOT_")}
    env.update(
        SELLERBOT_DATA_DIR=str(work),
        SELLERBOT_TELEGRAM__TOKEN=fake.token,
        SELLERBOT_TELEGRAM__API_BASE_URL=fake.url,
        SELLERBOT_TELEGRAM__POLL_TIMEOUT_SECONDS="2",
        # A dead process's chats are taken over once its leases expire: keep the wait short.
        SELLERBOT_TELEGRAM__LEASE_SECONDS=str(lease_seconds),
        SELLERBOT_APP__LOG_LEVEL="WARNING",
    )
    if db:
        env["SELLERBOT_DATABASE__URL"] = db
    return env


async def start_bot(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "telegram", cwd=ROOT, env=env, stdout=out, stderr=out
        )


async def marked_sent(url: str) -> Counter[str]:
    """How many outbox rows of each chat are marked sent (or failed)."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(OutboxMessage.chat_key).where(OutboxMessage.status != OutboxStatus.PENDING)
            )
            return Counter(key for (key,) in rows)
    finally:
        await engine.dispose()


async def one_round(args: argparse.Namespace, round_: int) -> tuple[int, int, int, int, float]:
    """One kill and restart; returns (questions, lost, doubled, in flight at the kill, seconds
    from the restart to the last answer)."""
    work = Path(tempfile.mkdtemp(prefix="sellerbot-crash-"))
    settings = load_settings(data_dir=work, db_url=args.db)
    answers = await expected_answers(settings, QUESTIONS)  # (also migrates and trains the matcher)
    by_text = Counter(answers.values())
    distinct = [q for q in QUESTIONS if by_text[answers[q]] == 1]
    fake = FakeBotAPI(username="bench_bot", first_update_id=1000 * (round_ + 1))
    await fake.start()
    log = work / "bot.log"
    try:
        load = argparse.Namespace(chats=args.chats, groups=args.groups, messages=args.messages, seed=round_)
        chats = make_chats(fake, load)
        for _, _, questions in chats:  # one answer text per question within a chat
            questions[:] = [q for q in distinct if q in questions] + [
                q for q in distinct if q not in questions
            ]
            del questions[args.messages :]
        push_all(fake, chats, args.messages)
        total = len(chats) * args.messages
        env = environment(fake, work, args.db, args.lease_seconds)

        first = await start_bot(env, log)
        await fake.wait_until(lambda: len(fake.all_sent()) >= args.kill_after, limit=300)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        received = Counter(str(m.chat_id) for m in fake.all_sent())
        marked = await marked_sent(settings.database_url)
        in_flight = sum(max(0, received[key] - marked[key]) for key in received)
        at_kill = len(fake.all_sent())

        restarted = time.perf_counter()
        second = await start_bot(env, log)

        def all_answered() -> bool:
            return all(
                {m.text for m in fake.sent(chat.id)} >= {answers[q] for q in questions}
                for chat, _, questions in chats
            )

        try:
            await fake.wait_until(all_answered, limit=args.limit)
        except TimeoutError:
            pass
        recovered = time.perf_counter() - restarted
        second.send_signal(signal.SIGTERM)
        await second.wait()
    finally:
        await fake.close()
    lost = doubled = 0
    for chat, _, questions in chats:
        got = Counter(m.text for m in fake.sent(chat.id))
        lost += sum(1 for q in questions if got[answers[q]] == 0)
        doubled += sum(n - 1 for n in got.values() if n > 1)
    print(
        f"round {round_ + 1}: killed after {at_kill} of {total} answers; in flight at the kill: {in_flight}; "
        f"lost: {lost}; doubled: {doubled}; the restart answered the rest in {recovered:.1f} s"
    )
    if lost or doubled > in_flight:
        print(f"  log: {log}\n  " + json.dumps({"lost": lost, "doubled": doubled, "in_flight": in_flight}))
    return total, lost, doubled, in_flight, recovered


async def run(args: argparse.Namespace) -> int:
    totals = [await one_round(args, n) for n in range(args.rounds)]
    questions = sum(t[0] for t in totals)
    lost, doubled, in_flight = (sum(t[i] for t in totals) for i in (1, 2, 3))
    print(
        f"{args.rounds} kill(s), {questions} questions: lost {lost}, doubled {doubled} "
        f"(in flight at the kills: {in_flight})"
    )
    if lost or doubled > in_flight:
        print("PROBLEM: answers lost, or doubled beyond those in flight")
        return 1
    print("OK: nothing lost; only answers in flight at a kill arrived twice")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=60)
    parser.add_argument("--groups", type=int, default=6, help="how many of the chats are groups")
    parser.add_argument("--messages", type=int, default=5, help="questions per chat")
    parser.add_argument("--kill-after", type=int, default=100, help="answers out before the kill")
    parser.add_argument("--rounds", type=int, default=1, help="kills (each on a fresh database)")
    parser.add_argument("--lease-seconds", type=float, default=3.0)
    parser.add_argument("--limit", type=float, default=300.0, help="seconds the restart may take")
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    if args.db and args.rounds != 1:
        raise SystemExit("with --db (an empty database), one round")
    if args.messages > len(QUESTIONS):
        raise SystemExit(f"at most {len(QUESTIONS)} questions per chat")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
