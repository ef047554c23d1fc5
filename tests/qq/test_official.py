"""The official QQ Bot API: signed webhook deliveries, the callback validation, redeliveries,
reply windows, errors read by their code, the access token, markdown keyboards, and the WebSocket
gateway's Identify, Resume and reconnects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.qq.official.client import QQApiError, QQConfigError
from bot.qq.runtime import start_qq
from handlers import replies
from services.models import InboundUpdate, OutboundMessage, SendOutcome
from services.stores import import_store
from tests.qq.conftest import official_settings, start_official
from tests.qq.fake_official import FakeOfficialAPI
from tests.qq.harness import OfficialHarness


async def outcomes(qq: OfficialHarness) -> list[OutboundMessage]:
    async with qq.sessions() as session:
        return list((await session.execute(select(OutboundMessage).order_by(OutboundMessage.id))).scalars())


async def stored_updates(qq: OfficialHarness) -> int:
    async with qq.sessions() as session:
        return len((await session.execute(select(InboundUpdate))).scalars().all())


# -- the webhook ------------------------------------------------------------------------------------
async def test_a_delivery_without_a_valid_signature_is_refused_and_changes_nothing(
    official: OfficialHarness,
) -> None:
    fake = official.fake
    kind, data = fake.message_event(group=None, user="u-forger", text="佣金是多少")
    payload = fake.envelope(kind, data)
    assert (await fake.post_webhook(payload, sign=False))[0] == 401
    assert (await fake.post_webhook(payload, signature="ab" * 64))[0] == 401
    # signed for another body
    body = json.dumps(payload).encode()
    other = fake.signer.sign(b"1700000000" + body + b" ")
    assert (await fake.post_webhook(body, signature=other))[0] == 401
    assert await stored_updates(official) == 0 and fake.sent == []
    assert official.runtime.receiver is not None and official.runtime.receiver.refused == 3


async def test_the_callback_address_is_validated_with_the_bots_key(official: OfficialHarness) -> None:
    fake = official.fake
    status, answer = await fake.post_webhook(
        {"op": 13, "d": {"plain_token": "Arq0D5A61EgUu4OxUvOp", "event_ts": "1725442341"}}
    )
    assert status == 200
    assert answer == fake.signer.validation_answer(plain_token="Arq0D5A61EgUu4OxUvOp", event_ts="1725442341")


async def test_a_redelivered_message_is_answered_once(official: OfficialHarness) -> None:
    fake = official.fake
    kind, data = fake.message_event(group=None, user="u-twice", text="佣金是多少")
    await official.deliver(kind, data)
    await official.handled(data["id"])
    await official.deliver(kind, data)  # the platform sends it again
    # an @-message may come as a group message too, with the same id
    kind2, data2 = fake.message_event(group="g-twice", user="u-twice", text="佣金是多少")
    await official.deliver(kind2, data2)
    await official.handled(data2["id"])
    await official.deliver("GROUP_MESSAGE_CREATE", data2)
    seller = official.private("u-probe")
    await seller.send("/help")
    assert len(fake.sent_to("u-twice")) == 1 and len(fake.sent_to("g-twice")) == 1
    # (the group message came as one not addressed to the bot: not even stored)
    assert official.runtime.stats.duplicates == 1


async def test_all_group_messages_are_answered_only_when_addressed(official: OfficialHarness) -> None:
    ann = official.in_group("g-all", "u-ann")
    assert await ann.unheard("今天天气不错", at=False)
    turn = await ann.send("佣金是多少")
    assert turn.texts
    follow_up = await ann.send("那结算呢", at=False, reply_to=turn.sent[0].id)
    assert follow_up.texts
    assert await ann.unheard("谢谢大家", at=False, reply_to="someone-elses-message")


# -- replies ------------------------------------------------------------------------------------------
async def test_a_message_whose_window_has_closed_is_not_sent_and_is_recorded(
    official: OfficialHarness,
) -> None:
    fake = official.fake
    fake.advance(-600)  # the seller wrote ten minutes ago (the bot was down, say)
    kind, data = fake.message_event(group="g-late", user="u-late", text="佣金是多少")
    fake.advance(600)
    await official.deliver(kind, data)
    await official.handled(data["id"])
    assert fake.sent_to("g-late") == [] and fake.refusals == []  # not even tried
    [record] = [r for r in await outcomes(official) if r.chat_key == "group:g-late"]
    assert record.outcome is SendOutcome.FAILED and record.failure == "window_closed"
    assert "15%" in record.summary


async def test_each_answer_has_its_own_sequence_number_within_the_limit(
    fake: FakeOfficialAPI, data_dir: Path
) -> None:
    runtime = await start_official(fake, official_settings(data_dir, fake, max_message_chars=100))
    try:
        official = OfficialHarness(fake, runtime)
        seller = official.private("u-seq")
        account = await official.seller(seller, store_limit=20)
        for n in range(12):
            done = await import_store(
                sessions=official.sessions,
                policy=runtime.settings.policy,
                account_id=account.id,
                title=f"Store number {n:02d} of the seller",
                specialization="electronics",
                actor="test",
            )
            assert done.ok
        turn = await seller.send("/stores")  # a list far longer than 4 messages of 100 characters
        assert len(turn.sent) == 4  # the private chat's limit per message
        assert [s.seq for s in turn.sent] == [1, 2, 3, 4]
        assert {s.reference for s in turn.sent} == {turn.sent[0].reference}
        refused = [r for r in await outcomes(official) if r.outcome is SendOutcome.FAILED]
        assert refused and all(r.failure == "window_closed" for r in refused)
        assert fake.refusals == []  # the platform was never asked beyond its limit
    finally:
        await runtime.stop()


async def test_an_answer_lost_on_the_way_back_is_not_shown_twice(official: OfficialHarness) -> None:
    fake = official.fake
    fake.lose_answers = 1
    seller = official.private("u-lost")
    turn = await seller.send("佣金是多少")
    assert len(turn.sent) == 1  # the retry had the same msg_seq: the platform dropped it
    assert [r["code"] for r in fake.refusals] == [40054005]
    [record] = [r for r in await outcomes(official) if r.chat_key == "private:u-lost"]
    assert record.outcome is SendOutcome.SENT


@pytest.mark.slow  # waits out the flood control in real time
async def test_flood_control_is_waited_out(official: OfficialHarness) -> None:
    official.fake.fail_next(22009, times=2, message="msg limit exceed")
    turn = await official.private("u-flood").send("佣金是多少")
    assert "15%" in turn.text


async def test_a_link_the_platform_refuses_is_sent_as_text(fake: FakeOfficialAPI, data_dir: Path) -> None:
    runtime = await start_official(fake, official_settings(data_dir, fake, links="allowed"))
    try:
        qq = OfficialHarness(fake, runtime)
        turn = await qq.private("u-link").send("怎么注册")
        assert [r["code"] for r in fake.refusals] == [40054010]
        assert "merchant．joom．com" in turn.text and "https://" not in turn.text
    finally:
        await runtime.stop()


async def test_an_expired_token_is_replaced(official: OfficialHarness) -> None:
    fake = official.fake
    assert fake.token_requests == 1
    fake.tokens.clear()  # the platform forgot it
    turn = await official.private("u-token").send("佣金是多少")
    assert turn.texts and fake.token_requests == 2


# -- start-up ------------------------------------------------------------------------------------------
async def test_start_up_says_what_is_missing_or_wrong(fake: FakeOfficialAPI, data_dir: Path) -> None:
    settings = official_settings(data_dir, fake)
    settings.qq = settings.qq.model_copy(update={"app_id": ""})
    with pytest.raises(QQConfigError, match="app_id"):
        await start_qq(settings)
    settings = official_settings(data_dir, fake, app_secret="wrong")
    with pytest.raises(QQApiError, match="invalid appid or secret"):
        await start_qq(settings)


# -- markdown keyboards ------------------------------------------------------------------------------------
async def test_with_keyboards_choices_are_buttons_and_a_press_is_acknowledged(
    fake: FakeOfficialAPI, data_dir: Path
) -> None:
    fake.markdown_allowed = True
    runtime = await start_official(fake, official_settings(data_dir, fake, markdown_keyboards=True))
    try:
        qq = OfficialHarness(fake, runtime)
        member = qq.in_group("g-kb", "u-kb")
        menu = await member.send("/help")
        [message] = menu.sent
        assert message.msg_type == 2 and message.keyboard
        first = message.keyboard[0]
        # in a group only the asker may press
        assert first["action"]["permission"] == {"type": 0, "specify_user_ids": ["u-kb"]}
        assert menu.choices == []  # no numbered lines under a keyboard
        kind, data, event_id = fake.press_event(group="g-kb", user="u-kb", data=first["action"]["data"])
        before = len(fake.sent)
        await qq.deliver(kind, data, event_id)
        await qq.handled(data["id"])
        answered = fake.sent[before:]
        assert answered and answered[0].reference == event_id
        await fake.wait_for(lambda: data["id"] in fake.acks)
        # a forged or old button changes nothing
        kind, data, event_id = fake.press_event(group="g-kb", user="u-kb", data="b:forged")
        before = len(fake.sent)
        await qq.deliver(kind, data, event_id)
        await qq.handled(data["id"])
        assert [s.text for s in fake.sent[before:]] == [replies.say("buttons.expired", "zh")]
    finally:
        await runtime.stop()


# -- the gateway ---------------------------------------------------------------------------------------------
async def test_the_gateway_identifies_beats_resumes_and_identifies_again(
    fake: FakeOfficialAPI, data_dir: Path
) -> None:
    fake.gateway.heartbeat_ms = 100
    runtime = await start_qq(official_settings(data_dir, fake, events="gateway"))
    try:
        qq = OfficialHarness(fake, runtime, gateway=True)
        await fake.gateway.ready.wait()
        [identify] = fake.gateway.identifies
        assert identify["token"].startswith("QQBot ") and identify["intents"] & (1 << 25)
        seller = qq.private("u-gw")
        assert (await seller.send("佣金是多少")).texts

        # 4009: the session timed out; what happened meanwhile is replayed after the Resume
        await fake.gateway.close_with(4009)
        kind, data = fake.message_event(group=None, user="u-gw", text="结算周期是多久")
        await fake.gateway.dispatch(fake.envelope(kind, data))  # while the bot is away
        await qq.handled(data["id"])
        assert len(fake.gateway.identifies) == 1 and len(fake.gateway.resumes) == 1
        assert fake.gateway.resumes[0]["session_id"] == runtime.gateway.session_id

        # op 9: the session is over; the bot identifies anew
        await fake.gateway.invalidate()
        await fake.gateway.ready.wait()
        assert (await seller.send("佣金是多少")).texts
        assert len(fake.gateway.identifies) == 2

        # 4900: an internal error of the platform; identify anew too
        await fake.gateway.close_with(4900)
        await fake.gateway.ready.wait()
        assert len(fake.gateway.identifies) == 3
        heartbeats = fake.gateway.heartbeats
        await fake.gateway.ready.wait()
        assert (await seller.send("佣金是多少")).texts
        assert fake.gateway.heartbeats >= heartbeats
    finally:
        await runtime.stop()
