"""Scale-out: two webhook processes (`sellerbot run telegram --webhook`, real processes) serve
one bot on one PostgreSQL database, sharing the outbound limits through Redis. Telegram (the
fake) posts through a load balancer that alternates between them, and loses some answers, so
some updates arrive twice, at either process. Every update is answered once, each chat's
answers come in order, the overall limit holds across both processes, and an agent's message is
delivered once."""

from __future__ import annotations

import asyncio
import secrets
import signal
import socket
from pathlib import Path

import pytest
from sqlalchemy import select

from handlers import replies
from handlers.commands import COMMANDS
from services.db import create_engine, session_factory
from services.handoff import agent_reply, list_handoffs
from services.models import Delivery, InboundUpdate, OutboxMessage, UpdateStatus
from tests.conftest import prepare_data_dir
from tests.telegram.fake_api import FakeBotAPI
from tests.telegram.test_limiter import max_in_window
from tests.telegram.test_reliability import command_name
from tests.telegram.test_run_command import bot_environment, read_until, start_process

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

PER_SECOND = 10
CHATS = 10
MESSAGES = 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_two_webhook_processes_handle_each_update_once_in_order_within_the_limits(
    fake: FakeBotAPI, tmp_path: Path, matcher_cache: Path, pg_database: str, redis_url: str
) -> None:
    secret = secrets.token_urlsafe(24)
    processes, urls, logs = [], [], []
    for n in range(2):
        data_dir = tmp_path / f"process{n}"
        prepare_data_dir(data_dir, matcher_cache)
        port = free_port()
        env = bot_environment(
            fake,
            data_dir,
            SELLERBOT_DATABASE__URL=pg_database,
            SELLERBOT_REDIS__URL=redis_url,
            SELLERBOT_REDIS__KEY_PREFIX=f"sellerbot-test-{secret[:8]}",
            SELLERBOT_TELEGRAM__WEBHOOK_SECRET=secret,
            SELLERBOT_TELEGRAM__MESSAGES_PER_SECOND=str(PER_SECOND),
            SELLERBOT_TELEGRAM__DELIVERY_POLL_SECONDS="0.2",
        )
        processes.append(await start_process("--webhook", "--port", str(port), env=env))
        urls.append(f"http://127.0.0.1:{port}/telegram/webhook")
        logs.append([])
    try:
        for process, log in zip(processes, logs, strict=True):
            await read_until(process.stderr, "webhook listening", log)
        fake.set_webhook("https://bot.example.com/telegram/webhook", secret_token=secret)
        fake.webhook_targets = urls  # the load balancer: one post here, the next there
        fake.lose_webhook_answers(7)  # Telegram posts these updates again

        users = [fake.user(f"S{n}", language_code="en") for n in range(CHATS)]
        expected: dict[int, list[str]] = {}
        for round_ in range(MESSAGES):
            for n, user in enumerate(users):
                name = command_name(round_ * 100 + n)
                fake.send(fake.private_chat(user), user, f"/{name}")
                expected.setdefault(user.id, []).append(
                    replies.say("commands.unknown", "en", command=name, commands=COMMANDS)
                )
        total = CHATS * MESSAGES
        await fake.wait_until(lambda: len(fake.all_sent()) >= total, limit=180)

        for user in users:
            assert [m.text for m in fake.sent(user.id)] == expected[user.id]
        assert len(fake.all_sent()) == total  # once each, though 7 updates were posted twice
        # The overall limit holds across both processes: they share it through Redis (alone, each
        # would allow PER_SECOND, together twice that, and the answers would take half as long).
        # Seen from the server, a message held up on its way blurs a window's edge, hence the
        # margins: the last answer comes at least (total - PER_SECOND) / PER_SECOND seconds after
        # the first, and no half second holds more than a second's worth.
        times = sorted(m.at for m in fake.all_sent())
        assert times[-1] - times[0] >= (total - PER_SECOND) / PER_SECOND - 0.25
        assert max_in_window(times, 0.5) <= PER_SECOND

        engine = create_engine(pg_database)
        sessions = session_factory(engine)
        async with sessions() as session:
            rows = (await session.execute(select(InboundUpdate))).scalars().all()
        assert len(rows) == total and {r.status for r in rows} == {UpdateStatus.DONE}
        assert len({r.received_by for r in rows}) == 2  # both processes took updates in
        assert len({r.handled_by for r in rows}) == 2  # and both handled some

        # An agent's answer, seen by both processes' delivery loops, is sent once.
        seller = users[0]
        fake.send(fake.private_chat(seller), seller, "/agent")
        await fake.wait_until(lambda: len(fake.sent(seller.id)) == MESSAGES + 1, limit=60)
        async with sessions() as session:
            [handoff] = await list_handoffs(session)
        assert (
            await agent_reply(sessions=sessions, handoff_id=handoff.id, text="Hello from Mei", agent="mei")
        ).ok
        await fake.wait_until(lambda: any(m.text == "Hello from Mei" for m in fake.sent(seller.id)), limit=60)
        # Claimed and queued in one transaction, by one of the two delivery loops: it has one
        # outbox row, which one chat holder sends.
        async with sessions() as session:
            [delivery] = (await session.execute(select(Delivery))).scalars().all()
            queued = (
                (await session.execute(select(OutboxMessage).where(OutboxMessage.delivery_id == delivery.id)))
                .scalars()
                .all()
            )
        assert delivery.delivered_at is not None and len(queued) == 1
        assert [m.text for m in fake.sent(seller.id)].count("Hello from Mei") == 1
        await engine.dispose()
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process, log in zip(processes, logs, strict=True):
            try:
                async with asyncio.timeout(60):
                    rest = await process.stderr.read()
                    code = await process.wait()
                log.append(rest.decode())
            except TimeoutError:
                process.kill()
                code = await process.wait()
            assert code == 0, "".join(log)
