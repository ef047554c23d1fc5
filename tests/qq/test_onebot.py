"""OneBot v11: the reverse WebSocket's handshake and token, replacing a connection, the watchdog,
duplicate events, the string format, sends whose outcome is unknown (never resent), images
fetched through the client."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import QQSettings
from bot.qq.official.client import QQConfigError
from bot.qq.onebot.events import parse, parse_cq
from bot.qq.runtime import check_qq, start_qq
from handlers import replies
from services.models import OutboundMessage, SendOutcome
from tests.conversation import png
from tests.qq.conftest import ONEBOT_TOKEN, connected, onebot_settings, onebot_url
from tests.qq.fake_onebot import FakeOneBotClient, to_cq
from tests.qq.harness import OneBotHarness


async def outcomes(qq: OneBotHarness) -> list[OutboundMessage]:
    async with qq.sessions() as session:
        return list((await session.execute(select(OutboundMessage).order_by(OutboundMessage.id))).scalars())


# -- the connection ------------------------------------------------------------------------------------
async def test_the_access_token_is_required(onebot: OneBotHarness) -> None:
    url = onebot_url(onebot.runtime)
    stranger = FakeOneBotClient(self_id="20002")
    try:
        assert await stranger.connect(url, token="") == 401
        assert await stranger.connect(url, token="guess") == 403
        assert await stranger.connect(url, token=ONEBOT_TOKEN) == 101
    finally:
        await stranger.close()


def test_a_listener_other_machines_can_reach_needs_a_token() -> None:
    with pytest.raises(QQConfigError, match="onebot_access_token"):
        check_qq(QQSettings(protocol="onebot", onebot_listen="0.0.0.0:6700"))
    check_qq(QQSettings(protocol="onebot", onebot_listen="0.0.0.0:6700", onebot_access_token="t"))
    check_qq(QQSettings(protocol="onebot", onebot_listen="127.0.0.1:6700"))
    check_qq(QQSettings(protocol="onebot", onebot_listen="[::1]:6700"))


async def test_a_reconnect_with_the_same_self_id_replaces_the_old_connection(onebot: OneBotHarness) -> None:
    client = onebot.client
    again = FakeOneBotClient(self_id=client.self_id, token=ONEBOT_TOKEN)
    await again.start_image_host()
    try:
        assert await again.connect(onebot_url(onebot.runtime)) == 101
        await client.closed_by_server.wait()  # the old one is closed by the server
        replaced = OneBotHarness(again, onebot.runtime)
        assert (await replaced.private("5001").send("佣金是多少")).texts
    finally:
        await again.close()


async def test_a_connection_whose_heartbeats_stopped_is_dropped(data_dir: Path) -> None:
    client = FakeOneBotClient(token=ONEBOT_TOKEN, heartbeat_ms=50)
    await client.start_image_host()
    runtime = await start_qq(onebot_settings(data_dir, onebot_missed_heartbeats=3))
    try:
        await connected(client, runtime)
        assert runtime.onebot is not None
        await runtime.onebot.connections[client.self_id].heard.wait()  # it beats
        client.beating = False
        await client.closed_by_server.wait()
        assert runtime.onebot is not None and client.self_id not in runtime.onebot.connections
        # the client connects again and is served
        await connected(client, runtime)
        assert (await OneBotHarness(client, runtime).private("5002").send("佣金是多少")).texts
    finally:
        await runtime.stop()
        await client.close()


# -- events ------------------------------------------------------------------------------------------------
async def test_a_duplicate_event_takes_effect_once(onebot: OneBotHarness) -> None:
    client = onebot.client
    event = client.message_event(group=None, user="5003", text="佣金是多少")
    await client.send_event(event)
    await client.send_event(event)
    await onebot.handled(f"{client.self_id}:{event['message_id']}")
    await onebot.settle()
    assert len(client.posted_to("5003")) == 1
    assert onebot.runtime.stats.duplicates == 1


async def test_the_string_format_is_read_with_its_escapes(onebot: OneBotHarness) -> None:
    member = onebot.in_group("600001", "5004")
    turn = await member.send("佣金是多少", string_format=True)
    assert "15%" in turn.text
    segments = parse_cq(
        "[CQ:at,qq=10001] a &#91;b&#93; &amp; c[CQ:image,file=x.png,url=https://q/a?x=1&amp;y=2]"
    )
    assert segments == [
        {"type": "at", "data": {"qq": "10001"}},
        {"type": "text", "data": {"text": " a [b] & c"}},
        {"type": "image", "data": {"file": "x.png", "url": "https://q/a?x=1&y=2"}},
    ]
    # what NapCat writes, read back the same
    original = [{"type": "text", "data": {"text": "[1], a & b"}}, {"type": "at", "data": {"qq": "7"}}]
    assert parse_cq(to_cq(original)) == original


def test_the_bots_own_messages_and_other_events_are_not_answered() -> None:
    base = {"post_type": "message", "message_type": "private", "message_id": 1, "message": "hi"}
    assert parse(base | {"user_id": 10001}, self_id="10001") is None
    assert parse(base | {"post_type": "message_sent", "user_id": 2}, self_id="10001") is None
    assert parse({"post_type": "notice", "notice_type": "group_recall"}, self_id="10001") is None
    message = parse(base | {"user_id": 2, "time": 1_700_000_000_000}, self_id="10001")
    assert message is not None and message.sent_at == 1_700_000_000  # milliseconds, read as such


async def test_an_image_without_an_address_is_fetched_through_the_client(onebot: OneBotHarness) -> None:
    seller = onebot.private("5005")
    await onebot.seller(seller, store_limit=2)
    await seller.send("/start open_store")
    await seller.send("Sunny Lamps")
    await seller.choose("电子产品")
    name = onebot.client.host_image(png(600, 600))
    turn = await seller.send(segments=[{"type": "image", "data": {"file": name}}])
    assert replies.say("open_store.icon_ok", "zh", format="PNG", width=600, height=600) in turn.text
    assert any(a["action"] == "get_image" for a in onebot.client.actions)


async def test_an_image_too_large_is_not_downloaded_whole(onebot: OneBotHarness) -> None:
    onebot.runtime.updates.max_file_bytes = 1000
    turn = await onebot.private("5006").send(images=[png(600, 600)])
    assert "MB" in turn.text and len(turn.texts) == 1


# -- sends whose outcome is unknown -------------------------------------------------------------
async def test_a_send_that_timed_out_is_recorded_as_unknown_and_not_sent_again(data_dir: Path) -> None:
    client = FakeOneBotClient(token=ONEBOT_TOKEN)
    await client.start_image_host()
    runtime = await start_qq(onebot_settings(data_dir, onebot_action_timeout_seconds=0.5))
    try:
        await connected(client, runtime)
        qq = OneBotHarness(client, runtime)
        client.unanswered = 1
        await qq.private("5007").send("佣金是多少")
        sends = [a for a in client.actions if a["action"] == "send_private_msg"]
        assert len(sends) == 1  # never sent again
        [record] = [r for r in await outcomes(qq) if r.chat_key.endswith("private:5007")]
        assert record.outcome is SendOutcome.UNKNOWN and record.failure == "timeout"
        # retcode 1200: the client's "something went wrong", after which it may have gone all the same
        client.retcodes = [1200]
        await qq.private("5008").send("佣金是多少")
        assert len([a for a in client.actions if a["action"] == "send_private_msg"]) == 2
        [record] = [r for r in await outcomes(qq) if r.chat_key.endswith("private:5008")]
        assert record.outcome is SendOutcome.UNKNOWN and record.failure == "retcode 1200"
        # a plain refusal is a failure
        client.retcodes = [1400]
        await qq.private("5009").send("佣金是多少")
        [record] = [r for r in await outcomes(qq) if r.chat_key.endswith("private:5009")]
        assert record.outcome is SendOutcome.FAILED
    finally:
        await runtime.stop()
        await client.close()


async def test_group_answers_quote_the_question(onebot: OneBotHarness) -> None:
    member = onebot.in_group("600002", "5010")
    turn = await member.send("佣金是多少")
    [posted] = turn.sent
    assert posted.quoted is not None
