"""What Telegram and the network do to a bot: updates delivered again, a restart in the middle of
an update, many chats at once, 429s, dropped connections, a failing update, an unreachable
database."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.telegram.runtime import start_telegram
from handlers import replies
from services import inbound_queue as q
from services.models import (
    InboundUpdate,
    OutboxMessage,
    OutboxStatus,
    Turn,
    TurnDirection,
    UpdateStatus,
)
from tests.telegram.conftest import FAST_LIMITS, telegram_settings
from tests.telegram.fake_api import FakeBotAPI
from tests.telegram.harness import Harness
from tests.telegram.tcp_proxy import TcpProxy
from tests.telegram.test_limiter import max_in_window

# Faults, retries after back-offs, restarts and rate limits take seconds of real time each.
pytestmark = pytest.mark.slow


def t(key: str, lang: str, **context: object) -> str:
    return replies.say(key, lang, **context)


def command_name(n: int) -> str:
    """/xa, /xb, … — commands the core does not know, whose answer quotes them back."""
    letters = ""
    n += 26
    while n:
        n, r = divmod(n, 26)
        letters = string.ascii_lowercase[r] + letters
    return f"x{letters}"


def unknown_command_reply(name: str, lang: str) -> str:
    from handlers.commands import COMMANDS

    return t("commands.unknown", lang, command=name, commands=COMMANDS)


async def test_chats_run_side_by_side_and_each_chat_keeps_its_order(tg: Harness) -> None:
    chats = [tg.private(language="en") for _ in range(12)]
    pushed: dict[int, list[str]] = {}
    update_ids = []
    for round_ in range(8):  # interleaved, as they would arrive
        for index, chat in enumerate(chats):
            name = command_name(round_ * 100 + index)
            pushed.setdefault(chat.chat.id, []).append(name)
            update_ids.append(tg.fake.send(chat.chat, chat.user, f"/{name}"))
    for update_id in update_ids:
        await tg.handled(update_id)
    for chat in chats:
        answers = [m.text for m in tg.fake.sent(chat.chat.id)]
        assert answers == [unknown_command_reply(name, "en") for name in pushed[chat.chat.id]]
    async with tg.sessions() as session:
        statuses = (await session.execute(select(InboundUpdate.status))).scalars().all()
    assert statuses.count(UpdateStatus.DONE) == 96


async def test_a_failing_update_gets_an_apology_with_a_reference_and_the_bot_goes_on(
    tg: Harness, caplog
) -> None:
    hal = tg.private(language="en")
    await hal.send("/start")
    tg.fake.fail("getFile", status=400, description="Bad Request: file is temporarily unavailable")
    turn = await hal.document(b"\x89PNG...", name="logo.png", mime_type="image/png")
    [apology] = turn.texts
    reference = apology.rsplit(" ", 1)[-1].rstrip(".")
    assert apology == t("errors.internal", "en", reference=reference)
    assert any(reference in record.getMessage() for record in caplog.records)
    assert "commission" in (await hal.send("how much is the commission?")).text


async def test_network_errors_and_server_errors_are_retried(tg: Harness) -> None:
    jay = tg.private(language="en")
    tg.fake.fail("sendMessage", status=0)  # connection dropped
    tg.fake.fail("sendMessage", status=502, times=2)
    turn = await jay.send("/help")
    assert turn.texts[0].startswith("Here is what I can help with")
    assert len([1 for name, _, _ in tg.fake.calls if name == "sendMessage"]) == 4


async def test_a_user_who_blocked_the_bot_does_not_stop_the_others(tg: Harness) -> None:
    kay = tg.private(language="en")
    lou = tg.private(language="en")
    await kay.send("/start")
    tg.fake.block(kay.chat.id)
    assert (await kay.send("/help")).messages == []
    assert (await lou.send("/help")).messages


async def test_an_answer_on_its_way_at_a_stop_is_sent_again_after_the_restart_and_the_rest_follow(
    fake: FakeBotAPI, data_dir: Path
) -> None:
    settings = telegram_settings(data_dir, fake, shutdown_grace_seconds=0.2, **FAST_LIMITS)
    first = await start_telegram(settings)
    user = fake.user("Mo", language_code="en")
    chat = fake.private_chat(user)
    gate = fake.hold("sendMessage")
    interrupted = fake.send(chat, user, "/xinterrupted")
    await gate.arrived.wait()  # the answer is on its way when the process stops
    later = [fake.send(chat, user, f"/{command_name(n)}") for n in range(3)]
    await fake.wait_until(lambda: fake.confirmed > later[-1])  # stored, not yet handled
    await first.stop()
    gate.open()

    second = await start_telegram(settings)
    try:
        for update_id in later:
            await second.processor.wait_handled(update_id)
        texts = [m.text for m in fake.sent(chat.id)]
        # The answer that was in flight arrived, and is sent once more (whether it had arrived is
        # not known); then the rest, in order.
        answer = unknown_command_reply("xinterrupted", "en")
        assert texts == [answer, answer, *(unknown_command_reply(command_name(n), "en") for n in range(3))]
        async with second.app.database.sessions() as session:
            status = await session.scalar(
                select(InboundUpdate.status).where(InboundUpdate.update_id == interrupted)
            )
            handled_in = await session.scalar(
                select(func.count()).select_from(Turn).where(Turn.text == "/xinterrupted")
            )
            unsent = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.PENDING)
            )
        assert status is UpdateStatus.DONE
        assert handled_in == 1  # the core saw it once
        assert unsent == 0
    finally:
        await second.stop()


async def test_an_update_a_stop_interrupted_before_its_answer_was_saved_is_handled_after_the_restart(
    fake: FakeBotAPI, data_dir: Path
) -> None:
    settings = telegram_settings(data_dir, fake, shutdown_grace_seconds=0.2, **FAST_LIMITS)
    first = await start_telegram(settings)
    user = fake.user("Noa", language_code="en")
    chat = fake.private_chat(user)
    gate = fake.hold("getFile")
    photo = fake.send_photo(chat, user, b"\xff\xd8 not much of a photo")
    await gate.arrived.wait()  # the photo is being fetched when the process stops
    await first.stop()
    assert fake.sent(chat.id) == []
    gate.open()

    second = await start_telegram(settings)
    try:
        await second.processor.wait_handled(photo)
        [answer] = fake.sent(chat.id)  # answered, once
        assert answer.text
        async with second.app.database.sessions() as session:
            update = await session.get(InboundUpdate, ("telegram", photo))
            seen = await session.scalar(
                select(func.count()).select_from(Turn).where(Turn.direction == TurnDirection.IN)
            )
        assert update is not None and update.status is UpdateStatus.DONE and update.attempts == 1
        assert seen == 1
    finally:
        await second.stop()


async def test_an_update_that_keeps_interrupting_its_process_is_given_up_and_the_sender_told(
    fake: FakeBotAPI, data_dir: Path
) -> None:
    settings = telegram_settings(data_dir, fake, shutdown_grace_seconds=0.2, **FAST_LIMITS)
    first = await start_telegram(settings)
    user = fake.user("Oli", language_code="en")
    chat = fake.private_chat(user)
    gate = fake.hold("getFile")
    photo = fake.send_photo(chat, user, b"\xff\xd8 not much of a photo")
    await gate.arrived.wait()
    await first.stop()
    async with first.app.database.sessions() as session, session.begin():
        # as if it had brought its process down every time it was started
        await session.execute(
            update(InboundUpdate).where(InboundUpdate.update_id == photo).values(attempts=q.MAX_ATTEMPTS - 1)
        )
    gate.open()

    second = await start_telegram(settings)
    try:
        await second.processor.wait_handled(photo)
        [notice] = fake.sent(chat.id)
        reference = notice.text.rsplit(" ", 1)[-1].rstrip(".)")
        assert notice.text == t("channel.interrupted", "en", reference=reference)
        async with second.app.database.sessions() as session:
            status = await session.scalar(
                select(InboundUpdate.status).where(InboundUpdate.update_id == photo)
            )
        assert status is UpdateStatus.ABANDONED
    finally:
        await second.stop()


async def test_the_limiter_keeps_the_overall_rate(fake: FakeBotAPI, data_dir: Path) -> None:
    settings = telegram_settings(data_dir, fake, messages_per_second=5, **FAST_LIMITS)
    runtime = await start_telegram(settings)
    try:
        users = [fake.user(f"U{n}", language_code="en") for n in range(15)]
        last = [fake.send(fake.private_chat(u), u, "/xhello") for u in users][-1]
        await runtime.processor.wait_handled(last)
        await fake.wait_until(lambda: len(fake.all_sent()) == 15)
        granted = list(runtime.sender.granted)
        assert len(granted) == 15
        # The budget is used and not exceeded (1 ms for the time between the limiter's clock
        # reading and the sender's).
        assert max_in_window(granted, 0.999) == 5
        assert max(runtime.stats.waits) > 0
    finally:
        await runtime.stop()


async def test_when_the_database_is_unreachable_users_are_told_and_service_resumes(
    fake: FakeBotAPI, data_dir: Path, pg_database: str
) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(pg_database)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    settings = telegram_settings(
        data_dir,
        fake,
        db_url=url.set(host="127.0.0.1", port=proxy.port).render_as_string(False),
        **FAST_LIMITS,
    )
    runtime = await start_telegram(settings)
    try:
        tg = Harness(fake, runtime)
        nia = tg.private(language="en")
        assert (await nia.send("/start")).messages

        await proxy.cut()
        update_id = fake.send(nia.chat, nia.user, "how much is the commission?")
        await fake.wait_until(lambda: len(fake.sent(nia.chat.id)) == 2)
        notice = fake.sent(nia.chat.id)[-1].text
        reference = notice.rsplit(" ", 1)[-1].rstrip(".)")
        assert notice == t("errors.database_unavailable", "en", reference=reference)

        await proxy.restore()
        turn = await nia.send("how much is the commission?")
        assert "commission" in turn.text
        assert update_id < turn.update_id
    finally:
        await runtime.stop()
        await proxy.close()


async def test_handling_goes_on_after_a_database_outage_in_the_middle(
    fake: FakeBotAPI, data_dir: Path, pg_database: str
) -> None:
    """Stored updates wait while the database is away, and are handled when it is back."""
    from sqlalchemy.engine import make_url

    url = make_url(pg_database)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    settings = telegram_settings(
        data_dir,
        fake,
        db_url=url.set(host="127.0.0.1", port=proxy.port).render_as_string(False),
        **FAST_LIMITS,
    )
    runtime = await start_telegram(settings)
    try:
        user = fake.user("Oz", language_code="en")
        chat = fake.private_chat(user)
        gate = fake.hold("sendMessage")
        fake.send(chat, user, "/xone")
        await gate.arrived.wait()
        second = fake.send(chat, user, "/xtwo")
        await fake.wait_until(lambda: fake.confirmed > second)  # stored
        await proxy.cut()
        gate.open()
        await runtime.processor.outage.wait_failing()  # the worker fails to take the next update
        await proxy.restore()
        await runtime.processor.wait_handled(second)
        assert [m.text for m in fake.sent(chat.id)] == [
            unknown_command_reply("xone", "en"),
            unknown_command_reply("xtwo", "en"),
        ]
    finally:
        await runtime.stop()
        await proxy.close()


async def test_the_hourly_housekeeping_deletes_expired_links_of_long_ago(tg: Harness) -> None:
    from datetime import timedelta

    from services.models import ResetToken, utcnow
    from services.password_reset import request_password_reset

    await tg.seller(tg.private(language="en"), email="owner@shop.example")
    runtime = tg.runtime
    for days_ago in (40, 1):  # the default keeps 30 days
        assert (
            await request_password_reset(
                sessions=tg.sessions,
                policy=runtime.settings.policy,
                mail=runtime.app.mail,
                email="owner@shop.example",
                lang="en",
                actor="test",
                now=utcnow() - timedelta(days=days_ago),
            )
        ).ok
    await runtime.housekeeping.run_once()
    async with tg.sessions() as session:
        [kept] = (await session.scalars(select(ResetToken))).all()
    assert kept.created_at > utcnow() - timedelta(days=2)


async def test_the_hourly_housekeeping_forgets_answers_sent_long_ago(tg: Harness) -> None:
    from datetime import timedelta

    from services.models import utcnow

    old, recent = tg.private(language="en"), tg.private(language="en")
    await old.send("/help")
    await tg.runtime.processor.wait_idle()  # (the answer is marked sent once the chat is let go)
    async with tg.sessions() as session, session.begin():
        await session.execute(update(OutboxMessage).values(sent_at=utcnow() - timedelta(days=3)))
    await recent.send("/help")
    await tg.runtime.processor.wait_idle()
    await tg.runtime.housekeeping.run_once()
    async with tg.sessions() as session:
        [kept] = (await session.scalars(select(OutboxMessage))).all()
    assert kept.chat_key == str(recent.chat.id)
