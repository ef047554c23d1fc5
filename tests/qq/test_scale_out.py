"""Scale-out on PostgreSQL: two QQ adapters (two processes of one deployment) receive the official
API's webhook deliveries alternately, sharing one database and the outbound limits through Redis;
some deliveries come twice, to the other process. Every message is answered once, each chat's
answers in the order of its messages."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from bot.qq.runtime import QQRuntime, start_qq
from tests.conftest import prepare_data_dir
from tests.qq.conftest import official_settings
from tests.qq.fake_official import FakeOfficialAPI

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

CHATS = 8
MESSAGES = 5
COMMANDS = ["/help", "/cancel", "/lang"]


async def test_two_adapters_answer_each_message_once_in_order(
    fake: FakeOfficialAPI, tmp_path: Path, matcher_cache: Path, pg_database: str, redis_url: str
) -> None:
    runtimes: list[QQRuntime] = []
    ports = []
    prefix = f"sellerbot-test-{secrets.token_hex(4)}"
    try:
        for n in range(2):
            data_dir = tmp_path / f"process{n}"
            prepare_data_dir(data_dir, matcher_cache)
            settings = official_settings(data_dir, fake)
            settings.database = settings.database.model_copy(update={"url": pg_database})
            settings.redis = settings.redis.model_copy(update={"url": redis_url, "key_prefix": prefix})
            runtime = await start_qq(settings, owner=f"process-{n}")
            runtimes.append(runtime)
            ports.append(runtime.port)
        sent_order: dict[str, list[str]] = {}
        deliveries = []
        for m in range(MESSAGES):
            for c in range(CHATS):
                user = f"scale-{c}"
                kind, data = fake.message_event(group=None, user=user, text=COMMANDS[(m + c) % len(COMMANDS)])
                sent_order.setdefault(user, []).append(data["id"])
                deliveries.append((kind, data))

        async def post(index: int, kind: str, data: dict) -> None:
            fake.webhook_url = f"http://127.0.0.1:{ports[index % 2]}/qq/webhook"
            payload = fake.envelope(kind, data)
            assert (await fake.post_webhook(payload))[0] == 200
            if index % 7 == 0:  # the platform delivers it again, to the other process
                fake.webhook_url = f"http://127.0.0.1:{ports[(index + 1) % 2]}/qq/webhook"
                assert (await fake.post_webhook(payload))[0] == 200

        # One chat's messages go one after another (the platform waits for each answer); the
        # chats side by side.
        async def chat(c: int) -> None:
            for m in range(MESSAGES):
                kind, data = deliveries[m * CHATS + c]
                await post(m * CHATS + c, kind, data)

        await asyncio.gather(*(chat(c) for c in range(CHATS)))
        for ids in sent_order.values():
            await fake.wait_for(lambda ids=ids: all(any(s.reference == i for s in fake.sent) for i in ids))
        for user, ids in sent_order.items():
            answered = [s.reference for s in fake.sent_to(user)]
            firsts = [i for n, i in enumerate(answered) if i not in answered[:n]]
            assert firsts == ids, user  # in order
            assert all(answered.count(i) == 1 for i in ids), user  # once each (one message a turn)
        duplicates = sum(r.stats.duplicates for r in runtimes)
        assert duplicates == len([i for i in range(CHATS * MESSAGES) if i % 7 == 0])
        assert {r.processor.owner for r in runtimes} == {"process-0", "process-1"}
    finally:
        for runtime in runtimes:
            await runtime.stop()
