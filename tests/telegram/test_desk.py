"""The agents' desk, end to end through the fake Bot API server and the real aiogram client: a
seller in a private chat says "转人工", a topic named after the seller and the conversation
appears in the agents' forum group with the context card first, both sides talk through it
(text, photos, documents, a quoted message), agent assist suggests answers, the agent closes,
the seller rates, and the report shows it. Then the commands, bad input, a deleted topic, a
closed topic, reminders, the start-up check and two relays racing for one conversation."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from bot.telegram.desk import DeskConfigError, DeskRelay
from bot.telegram.runtime import start_telegram
from handlers import replies
from services.models import DeskMessage, DeskMessageKind, DeskTopic, Handoff, HandoffResolution, Turn
from tests.telegram.conftest import desk_settings
from tests.telegram.desk_harness import DeskHarness, is_card
from tests.telegram.fake_api import FakeBotAPI, Gate


def t(key: str, lang: str, **context: object) -> str:
    return replies.say(key, lang, **context)


def png(width: int = 64, height: int = 64, color: str = "blue") -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def report(data_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["report", "handoffs", "--data-dir", str(data_dir), *args])
    assert result.exit_code == 0, result.output
    return result.output


async def test_a_seller_on_telegram_and_an_agent_talk_through_a_topic_then_close_and_rate(
    desk: DeskHarness, data_dir: Path
) -> None:
    seller = desk.private(language="zh", name="Li Lei")
    account = await desk.seller(seller, company="Shenzhen Sunrise Trading Co., Ltd.", store_limit=3)
    from services.stores import import_store

    assert (
        await import_store(
            sessions=desk.sessions,
            policy=desk.runtime.settings.policy,
            account_id=account.id,
            title="Sunrise Gadgets",
            specialization="electronics",
            rating="perfect",
            listings=12,
            actor="test",
        )
    ).ok
    await seller.send("你好")
    turn = await seller.send("转人工")
    assert turn.texts == [t("handoff.started", "zh")]  # support around the clock: no hours to tell

    # The topic: named after the seller and the conversation; the context card comes first.
    topic = await desk.topic_for(seller)
    conversation = await desk.conversation_id("telegram", str(seller.user.id))
    assert topic.name == t("desk.topic_name", "zh", seller=account.company, conversation=conversation)
    card = topic.messages[0]
    assert is_card(card)
    for fragment in (
        f"会话#{conversation}",
        t("desk.reasons.requested", "zh"),
        account.company,
        account.email,
        "KYC 已通过",
        "收款账户 已绑定",
        "Sunrise Gadgets",
        "商品12个",
        "店铺:1/3个",
        "处理中的申请:无",
        "卖家:你好",
        "卖家:转人工",
        "使用语言:中文",
    ):
        assert fragment in card.text, fragment

    # The seller writes: into the topic; the bot says nothing to the seller.
    turn = await seller.send("我的店铺被封了,怎么办?")
    assert turn.messages == []
    await desk.relayed(conversation)
    assert t("desk.seller_says", "zh", text="我的店铺被封了,怎么办?") in topic.texts

    # The agent answers in the topic: the seller gets it under the bot's name, nothing more.
    anna = desk.agent("Anna")
    said = await anna.send("您好,我是客服,请稍等,我查一下。", thread_id=topic.thread)
    assert said.messages == []
    await desk.seller_gets(seller, "您好,我是客服,请稍等,我查一下。")

    # A photo from the seller arrives in the topic with its bytes; a document from the agent
    # reaches the seller.
    picture = png()
    await seller.photo(picture, caption="截图")
    await desk.until(lambda: any(m.photo for m in topic.messages))
    relayed = next(m for m in topic.messages if m.photo)
    assert relayed.document is not None and relayed.document[1] == picture
    assert relayed.caption == t("desk.seller_says", "zh", text="截图")
    await anna.document(
        b"%PDF-1.4 rules", name="rules.pdf", mime_type="application/pdf", thread_id=topic.thread
    )
    got = await desk.seller_gets(seller, lambda m: m.document is not None)
    assert got.document == ("rules.pdf", b"%PDF-1.4 rules")

    # The agent replies to one of the seller's relayed messages: the seller sees it quoted.
    asked = next(m for m in desk.fake.messages[seller.chat.id] if m.text == "我的店铺被封了,怎么办?")
    relayed_question = topic.last_with("我的店铺被封了")
    await anna.send("封店是因为评分太低。", thread_id=topic.thread, reply_to=relayed_question)
    quoted = await desk.seller_gets(seller, "封店是因为评分太低。")
    assert quoted.reply_to == asked.message_id

    # /close: back to the bot; the seller is asked to rate; the topic is closed and renamed.
    await anna.send("/close", thread_id=topic.thread)
    open_name = t("desk.topic_name", "zh", seller=account.company, conversation=conversation)
    closed_name = t("desk.topic_closed_name", "zh", name=open_name)
    await desk.until(lambda: topic.closed and topic.name == closed_name)
    assert any(text.startswith("✅") for text in topic.texts)
    await desk.seller_gets(seller, t("handoff.closed", "zh"))
    question = await desk.seller_gets(seller, t("handoff.rate", "zh"))
    assert question.labels == [t("handoff.rate_label", "zh", stars=n) for n in range(1, 6)]
    rated = await seller.press(t("handoff.rate_label", "zh", stars=5), question)
    assert rated.texts == [t("handoff.rated", "zh", stars=5)]
    await desk.until(lambda: t("desk.rated", "zh", stars=5) in topic.texts)
    # A second press (a double tap that raced the edit) changes nothing.
    again = await seller.press_data(
        question, question.edits[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    )
    assert again.texts == [t("buttons.already_pressed", "zh")]
    # And the bot answers the seller again.
    assert (await seller.send("佣金是多少?")).messages

    async with desk.sessions() as session:
        [handoff] = (await session.execute(select(Handoff))).scalars().all()
    assert handoff.rating == 5 and handoff.resolution is HandoffResolution.RESOLVED
    assert handoff.agent == f"Anna (telegram {anna.user.id})"
    assert handoff.first_reply_at is not None

    listed = await asyncio.to_thread(
        CliRunner().invoke, main, ["admin", "handoffs", "--all", "--data-dir", str(data_dir)]
    )
    assert f"handoff {handoff.id} [closed]" in listed.output and "resolved, rated 5/5" in listed.output
    # The report shows it.
    text = await asyncio.to_thread(report, data_dir)
    assert "handoffs: 1 (0 open) — resolved 1, unanswered 0, seller left 0" in text
    assert "rating (1 rated): average 5.00" in text
    assert f"Anna (telegram {anna.user.id})" in text
    data = json.loads(await asyncio.to_thread(report, data_dir, "--json"))
    assert data["overall"]["average_rating"] == 5 and data["overall"]["answered"] == 1
    assert data["agents"][0]["agent"] == f"Anna (telegram {anna.user.id})"


async def test_desk_commands_and_bad_input_get_a_clear_answer_and_change_nothing(desk: DeskHarness) -> None:
    seller = desk.private(language="en", name="Jo")
    await seller.send("/agent")
    topic = await desk.topic_for(seller)
    seen_by_seller = len(desk.fake.sent(seller.chat.id))
    mei = desk.agent("Mei", language="en")
    say = lambda text, **kw: mei.send(text, thread_id=topic.thread, **kw)  # noqa: E731

    # /lang: the desk's texts in this topic (the desk's default is zh)
    assert (await say("/lang fr")).texts == [t("desk.lang_usage", "zh")]
    assert (await say("/lang en")).texts == [t("desk.lang_set", "en")]
    # /note: kept with the transcript, never sent to the seller
    assert (await say("/note")).texts == [t("desk.note_usage", "en")]
    assert (await say("/note asked for the licence scan by e-mail")).texts == [t("desk.note_saved", "en")]
    # /info: a fresh context card, in English now
    info = await say("/info")
    assert is_card(info.messages[0]) and "Account: not linked" in info.text
    # unknown commands, and commands for another bot
    assert (await say("/refund 100")).texts == [t("desk.unknown_command", "en", command="refund")]
    # a message too long for the seller is refused, saying why
    from services.explain import explain
    from services.results import Rule, Violation

    too_long = explain(Violation(Rule.MESSAGE_INVALID, {"problem": "too_long", "max": 4000}), "en")
    assert (await say("x" * 4050)).texts == [t("desk.not_sent", "en", reason=too_long)]
    assert (await say("/help@some_other_bot")).messages == []
    # a sticker cannot go to the seller
    sticker = {"file_id": "S1", "file_unique_id": "s1", "type": "regular", "width": 512, "height": 512}
    other = await mei.other(
        "sticker", {**sticker, "is_animated": False, "is_video": False}, thread_id=topic.thread
    )
    assert other.texts == [t("desk.unsupported", "en")]
    # The General topic and a topic of the agents' own reach no seller; they are told so.
    assert (await mei.send("/close")).texts == [t("desk.general_topic", "zh")]
    assert (await mei.send("Hi Jo, your store is fine now")).texts == [t("desk.general_topic", "zh")]
    team = desk.fake.open_topic(desk.forum, "Team", by=mei.user)
    assert (await mei.send("/info", thread_id=team)).texts == [t("desk.unknown_topic", "zh")]
    assert (await mei.send("lunch?", thread_id=team)).messages == []  # the agents' own chat: left alone
    # None of it reached the seller, and the handoff is still open.
    assert len(desk.fake.sent(seller.chat.id)) == seen_by_seller
    async with desk.sessions() as session:
        [handoff] = (await session.execute(select(Handoff))).scalars().all()
        assert handoff.closed_at is None
        [note] = (
            (await session.execute(select(DeskMessage).where(DeskMessage.kind == DeskMessageKind.NOTE)))
            .scalars()
            .all()
        )
    assert (
        note.text == "asked for the licence scan by e-mail" and note.author == f"Mei (telegram {mei.user.id})"
    )
    # The note is with the handoff's records (and never reached the seller).
    data_dir = str(desk.runtime.settings.data_path)
    listed = await asyncio.to_thread(
        CliRunner().invoke, main, ["admin", "handoffs", "--json", "--data-dir", data_dir]
    )
    [item] = json.loads(listed.output)
    assert item["notes"] == [{"author": note.author, "text": "asked for the licence scan by e-mail"}]

    # /close, then /close again: already closed; a message after it is not sent.
    await say("/close")
    notice = t("desk.closed", "en", agent=f"Mei (telegram {mei.user.id})", rating_asked=False)
    await desk.until(lambda: topic.closed and notice in topic.texts)
    assert (await say("/close")).texts == [t("desk.already_closed", "en")]
    assert (await say("one more thing")).texts == [t("desk.not_open", "en")]
    # the seller was told the agent finished (no rating: nobody had answered)
    await desk.seller_gets(seller, t("handoff.closed", "en"))
    assert t("handoff.rate", "en") not in [m.text for m in desk.fake.sent(seller.chat.id)]
    async with desk.sessions() as session:
        closed = await session.get(Handoff, handoff.id)
    assert closed.resolution is HandoffResolution.UNANSWERED


async def test_agent_assist_posts_the_best_answer_and_its_button_sends_it_once(desk: DeskHarness) -> None:
    seller = desk.private(language="en")
    await seller.send("/agent")
    topic = await desk.topic_for(seller)
    await seller.send("What is the commission?")
    knowledge, policy = desk.runtime.app.knowledge, desk.runtime.settings.policy
    answer = knowledge.render("fees", "en", policy)  # in the seller's language
    send = t("desk.assist_send", "zh")
    await desk.until(lambda: any(send in m.labels for m in topic.messages))
    suggestion = next(m for m in topic.messages if send in m.labels)
    assert suggestion.text.startswith("💡") and answer in suggestion.text
    assert knowledge.intents["fees"].title["zh"] in suggestion.text  # the agents' language
    data = suggestion.button(send)["callback_data"]

    anna = desk.agent("Anna")
    pressed = await anna.press(send, suggestion)
    assert pressed.answer == {"text": None, "show_alert": False}
    await desk.seller_gets(seller, answer)
    assert suggestion.buttons == [] and suggestion.text.endswith(t("desk.assist_sent", "zh", agent="Anna"))
    # A second press (raced the edit): told so; the seller gets the answer once.
    again = await anna.press_data(suggestion, data)
    assert again.answer == {"text": t("desk.assist_already_sent", "zh"), "show_alert": True}
    assert [m.text for m in desk.fake.sent(seller.chat.id)].count(answer) == 1
    # Forged desk button data is refused, nothing sent.
    forged = await anna.press_data(suggestion, "desk:a:99999")
    assert forged.answer == {"text": t("buttons.expired", "zh"), "show_alert": True}
    async with desk.sessions() as session:
        [handoff] = (await session.execute(select(Handoff))).scalars().all()
    assert handoff.first_reply_at is not None and handoff.agent == f"Anna (telegram {anna.user.id})"


async def test_a_deleted_topic_is_made_again_when_the_next_message_comes(desk: DeskHarness) -> None:
    seller = desk.private(language="en")
    await seller.send("/agent")
    topic = await desk.topic_for(seller)
    desk.fake.delete_topic(desk.forum, topic.thread)  # an agent deleted it in Telegram

    await seller.send("hello? is anyone there?")
    new = await desk.topic_for(seller)
    assert new.thread != topic.thread
    assert is_card(new.messages[0]) and "♻️" in new.messages[0].text
    await desk.until(lambda: t("desk.seller_says", "zh", text="hello? is anyone there?") in new.texts)
    # The relay tried the old topic first: Telegram said "message thread not found".
    assert any(
        int(p.get("message_thread_id") or 0) == topic.thread for p in desk.fake.calls_of("sendMessage")
    )
    async with desk.sessions() as session:
        [row] = (await session.execute(select(DeskTopic))).scalars().all()
    assert row.thread_id == new.thread  # still one topic per conversation

    anna = desk.agent("Anna")
    await anna.send("Sorry for the wait, I'm here.", thread_id=new.thread)
    await desk.seller_gets(seller, "Sorry for the wait, I'm here.")


async def test_a_closed_topic_is_reopened_when_the_seller_writes_again(desk: DeskHarness) -> None:
    seller = desk.private(language="zh", name="Wei")
    await seller.send("/agent")
    topic = await desk.topic_for(seller)
    anna = desk.agent("Anna")
    # A person closes the topic in Telegram while the seller is still waiting.
    await desk.handled(desk.fake.close_topic(desk.forum, topic.thread, by=anna.user))
    assert topic.closed
    await seller.send("还在吗?")
    await desk.until(lambda: not topic.closed and t("desk.seller_says", "zh", text="还在吗?") in topic.texts)

    # After /close the seller asks for a person again: the same topic opens under its open name,
    # with a new card.
    open_name = topic.name
    await anna.send("好的,已解决。", thread_id=topic.thread)
    await anna.send("/close", thread_id=topic.thread)
    await desk.until(lambda: topic.closed and topic.name != open_name)
    await seller.send("/agent")
    again = await desk.topic_for(seller, cards=2)
    assert again.thread == topic.thread and not topic.closed and topic.name == open_name
    assert [m.text[:1] for m in topic.messages if is_card(m)] == ["🆕", "🔁"]
    await anna.send("又见面了", thread_id=topic.thread)
    await desk.seller_gets(seller, "又见面了")
    async with desk.sessions() as session:
        handoffs = (await session.execute(select(Handoff).order_by(Handoff.id))).scalars().all()
    assert [h.closed_at is None for h in handoffs] == [False, True]


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_an_answer_the_seller_cannot_receive_is_reported_in_the_topic(
    desk: DeskHarness, lang: str
) -> None:
    seller = desk.private(language=lang, name="Wei")
    await seller.send("/agent")
    topic = await desk.topic_for(seller)
    if lang == "en":
        await desk.agent("Anna").send("/lang en", thread_id=topic.thread)
    anna = desk.agent("Anna")
    await anna.send("first answer", thread_id=topic.thread)
    await desk.seller_gets(seller, "first answer")
    desk.fake.block(seller.chat.id)  # the seller blocks the bot
    await anna.send("are you still there?", thread_id=topic.thread)
    warning = t("desk.undelivered", lang, failure="blocked", text="are you still there?")
    await desk.until(lambda: warning in topic.texts)
    assert {"zh": "卖家已屏蔽机器人", "en": "the seller has blocked the bot"}[lang] in warning
    # reported once, however many passes the desk makes
    await desk.relay.wait_passes(3)
    assert topic.texts.count(warning) == 1
    assert t("desk.undelivered", lang, failure="blocked", text="first answer") not in topic.texts


async def test_edited_messages_agents_send_corrections_and_sellers_edits_reach_the_topic(
    desk: DeskHarness,
) -> None:
    seller = desk.private(language="zh", name="Wei")
    await seller.send("/agent")
    topic = await desk.topic_for(seller)
    anna = desk.agent("Anna")
    await anna.send("佣金是15%", thread_id=topic.thread)
    await desk.seller_gets(seller, "佣金是15%")
    [answer] = [m for m in desk.fake.messages[desk.forum.id] if m.text == "佣金是15%"]
    turn = await anna.edit(answer.message_id, "佣金是5%到15%,按类目不同")
    assert turn.texts == [t("desk.edit_sent", "zh")]
    await desk.seller_gets(seller, t("handoff.agent_correction", "zh", text="佣金是5%到15%,按类目不同"))
    # a seller who edits a message: the new text goes to the topic, the bot says nothing
    await seller.send("订单号 1234")
    [order] = [m for m in desk.fake.messages[seller.chat.id] if m.text == "订单号 1234"]
    edited = await seller.edit(order.message_id, "订单号 1243")
    assert edited.messages == []
    shown = t("desk.seller_says", "zh", text=t("handoff.seller_edited", "zh", text="订单号 1243"))
    await desk.until(lambda: shown in topic.texts)
    # an edit to "/cancel" is only a note for the agent: the seller stays with the person
    edited = await seller.edit(order.message_id, "/cancel")
    assert edited.messages == []
    async with desk.sessions() as session:
        assert (await session.scalar(select(Handoff))).closed_at is None
    # after /close an edit is not sent; the agent is told
    await anna.send("/close", thread_id=topic.thread)
    await desk.until(lambda: topic.closed)
    turn = await anna.edit(answer.message_id, "佣金按类目5%到15%")
    assert turn.texts == [t("desk.edit_not_sent", "zh")]
    # back with the bot, a seller's edit is ignored: no answer, nothing kept
    edited = await seller.edit(order.message_id, "订单号 9999")
    assert edited.messages == []
    async with desk.sessions() as session:
        texts = [turn.text for turn in (await session.execute(select(Turn).order_by(Turn.id))).scalars()]
    assert t("handoff.agent_correction", "zh", text="佣金按类目5%到15%") not in texts
    assert not any("9999" in text for text in texts)


async def test_a_file_too_large_to_receive_is_told_to_the_seller_and_the_agent(desk: DeskHarness) -> None:
    seller = desk.private(language="en", name="Wei")
    await seller.send("/agent")
    topic = await desk.topic_for(seller)
    turn = await seller.document(
        b"%PDF", name="catalogue.pdf", mime_type="application/pdf", size=25 * 1048576
    )
    assert turn.texts == [t("channel.file_too_large", "en", size_mb="25", limit_mb="20")]
    note = t("handoff.file_not_received", "en", name="catalogue.pdf", size_mb="25", limit_mb="20")
    await desk.until(lambda: t("desk.seller_says", "zh", text=note) in topic.texts)


async def test_a_console_seller_is_served_by_an_agent_in_telegram(desk: DeskHarness, tmp_path: Path) -> None:
    await console_seller_and_telegram_agent(desk, tmp_path)


@pytest.mark.postgres
async def test_a_console_seller_is_served_by_an_agent_in_telegram_on_postgresql(
    fake: FakeBotAPI, data_dir: Path, forum: object, pg_database: str, tmp_path: Path
) -> None:
    runtime = await start_telegram(desk_settings(data_dir, fake, forum, db_url=pg_database))
    try:
        await console_seller_and_telegram_agent(DeskHarness(fake, runtime, forum), tmp_path)
    finally:
        await runtime.stop()


async def console_seller_and_telegram_agent(desk: DeskHarness, tmp_path: Path) -> None:
    from bot.console import ConsoleSession

    console = ConsoleSession(
        core=desk.runtime.app.core,
        user_id="wang",
        display_name="Wang Fang",
        language_hint="zh",
        received_dir=tmp_path / "received",
    )
    said = await console.send_text("转人工")
    assert [r.text for r in said] == [t("handoff.started", "zh")]
    conversation = await desk.conversation_id("console", "wang")
    topic = await desk.topic_of(conversation)
    assert topic.name == t("desk.topic_name", "zh", seller="Wang Fang", conversation=conversation)
    assert "console 用户 wang" in topic.messages[0].text and "账户:未绑定" in topic.messages[0].text

    # A file from the console reaches the topic with its bytes.
    invoice = tmp_path / "invoice.pdf"
    invoice.write_bytes(b"%PDF-1.4 invoice")
    assert await console.send_text(f"/file {invoice}") == []
    await desk.until(lambda: any(m.document == ("invoice.pdf", b"%PDF-1.4 invoice") for m in topic.messages))

    # The agent's text and photo come back on the console.
    anna = desk.agent("Anna")
    await anna.send("收到发票了,正在处理。", thread_id=topic.thread)
    [text] = await console.deliveries()
    assert text.text == "收到发票了,正在处理。"
    picture = png(color="green")
    await anna.photo(picture, caption="请看这里", thread_id=topic.thread)
    [photo] = await console.deliveries()
    saved = Path(photo.files[0].name)  # in the received folder
    assert photo.text == "请看这里" and await asyncio.to_thread(saved.read_bytes) == picture

    # /close: the console gets the notice and the rating question; "4" picks the fourth button.
    await anna.send("/close", thread_id=topic.thread)
    closed, rate = await console.deliveries()
    assert [closed.text, rate.text] == [t("handoff.closed", "zh"), t("handoff.rate", "zh")]
    assert [r.text for r in await console.send_text("4")] == [t("handoff.rated", "zh", stars=4)]
    await desk.until(lambda: t("desk.rated", "zh", stars=4) in topic.texts)
    await desk.until(lambda: topic.closed)


async def test_a_seller_waiting_too_long_gets_the_desk_a_reminder_in_support_hours(
    fake: FakeBotAPI, data_dir: Path, forum: object
) -> None:
    from zoneinfo import ZoneInfo

    runtime = await start_telegram(
        desk_settings(data_dir, fake, forum, support_hours="09:00-18:00", reminder_minutes=10)
    )
    try:
        desk = DeskHarness(fake, runtime, forum)
        desk.relay.reminder_every = 0.0  # look at every pass
        seller = desk.private(language="zh")
        await seller.send("/agent")
        topic = await desk.topic_for(seller)
        reminders = lambda: [text for text in topic.texts if text.startswith("⏰")]  # noqa: E731

        async def passes(count: int) -> None:
            async with asyncio.timeout(60):
                await desk.relay.wait_passes(count, reminders=True)

        # Sunday night, Beijing time: outside support hours, no reminder however long the wait.
        shanghai = ZoneInfo("Asia/Shanghai")
        soon = (datetime.now(UTC) + timedelta(minutes=30)).astimezone(shanghai)
        sunday = (soon + timedelta(days=(6 - soon.weekday()) % 7 or 7)).replace(hour=3, minute=0)
        runtime.desk.clock = lambda: sunday
        await passes(3)
        assert reminders() == []
        # Monday 09:30: agents are in, the seller has waited long enough: one reminder.
        monday = sunday + timedelta(hours=30, minutes=30)
        runtime.desk.clock = lambda: monday
        await desk.until(lambda: len(reminders()) == 1)
        await passes(3)
        assert len(reminders()) == 1  # once per wait
        # An agent answers: nothing waits. The seller writes again and waits: another reminder.
        anna = desk.agent("Anna")
        await anna.send("您好,请问有什么可以帮您?", thread_id=topic.thread)
        await passes(2)
        assert len(reminders()) == 1
        await seller.send("我的回款什么时候到?")
        await desk.until(lambda: len(reminders()) == 2)
    finally:
        await runtime.stop()


async def _until_done_or_held(task: asyncio.Task, gate: Gate, waiting: int) -> None:
    """Until `task` has finished or `waiting` requests wait at the gate."""
    held = asyncio.create_task(gate.until_waiting(waiting))
    async with asyncio.timeout(60):
        await asyncio.wait([task, held], return_when=asyncio.FIRST_COMPLETED)
    held.cancel()


def _one_topic_with_one_card(desk: DeskHarness) -> None:
    [topic] = desk.fake.forum_topics[desk.forum.id]
    cards = [m for m in desk.fake.in_topic(desk.forum.id, topic["message_thread_id"]) if is_card(m)]
    assert len(cards) == 1


async def test_two_processes_never_make_two_topics_for_one_conversation(desk: DeskHarness) -> None:
    await desk.relay.stop(5.0)  # the runtime's own relay stays out of this
    seller = desk.private(language="en")
    await seller.send("/agent")
    first = DeskRelay(desk.runtime.desk, owner="process-a", interval=1.0)
    second = DeskRelay(desk.runtime.desk, owner="process-b", interval=1.0)

    # The first process is making the topic (Telegram has not answered yet) when the second
    # looks at the same conversation: it holds the conversation's lease, so the second leaves it.
    gate = desk.fake.hold("createForumTopic")
    making = asyncio.create_task(first.pass_once())
    await gate.arrived.wait()
    looking = asyncio.create_task(second.pass_once())
    await _until_done_or_held(looking, gate, waiting=2)
    gate.open()
    await asyncio.gather(making, looking)
    await asyncio.gather(first.pass_once(), second.pass_once())
    assert len(desk.fake.calls_of("createForumTopic")) == 1
    _one_topic_with_one_card(desk)


async def test_a_process_whose_lease_ran_out_gives_way_and_removes_its_extra_topic(desk: DeskHarness) -> None:
    from sqlalchemy import update

    from services.models import ChatLease

    await desk.relay.stop(5.0)
    seller = desk.private(language="en")
    await seller.send("/agent")
    slow = DeskRelay(desk.runtime.desk, owner="slow-process", interval=1.0)
    other = DeskRelay(desk.runtime.desk, owner="other-process", interval=1.0)
    gate = desk.fake.hold("createForumTopic")
    stalled = asyncio.create_task(slow.pass_once())
    await gate.arrived.wait()
    # The slow process stalls past its lease; the other one takes the conversation over.
    async with desk.sessions() as session, session.begin():
        await session.execute(update(ChatLease).values(expires_at=datetime.now(UTC) - timedelta(hours=1)))
    taking = asyncio.create_task(other.pass_once())
    await _until_done_or_held(taking, gate, waiting=2)
    assert gate.waiting == 2  # both are making a topic now
    gate.open()
    await asyncio.gather(stalled, taking)
    # The database took one topic; the other was deleted, and one card went out.
    assert len(desk.fake.calls_of("createForumTopic")) == 2
    assert len(desk.fake.calls_of("deleteForumTopic")) == 1
    _one_topic_with_one_card(desk)
    async with desk.sessions() as session:
        [row] = (await session.execute(select(DeskTopic))).scalars().all()
    assert row.thread_id == desk.fake.forum_topics[desk.forum.id][0]["message_thread_id"]


@pytest.mark.parametrize(
    ("setup", "missing"),
    [
        ("not a forum", "the group is not a forum: turn on Topics"),
        ("member", "the bot is not an administrator there"),
        ("admin without topics", "give it the administrator right 'Manage topics'"),
        ("unknown group", "Telegram cannot find that group"),
    ],
)
async def test_start_up_says_what_the_agents_group_is_missing(
    fake: FakeBotAPI, data_dir: Path, setup: str, missing: str
) -> None:
    group = fake.group("Agents", forum=setup != "not a forum")
    if setup in ("not a forum", "admin without topics"):
        fake.promote(group, can_manage_topics=False)
    settings = desk_settings(data_dir, fake, group)
    if setup == "unknown group":
        settings.telegram = settings.telegram.model_copy(update={"agents_chat_id": -1009999999999})
    with pytest.raises(DeskConfigError) as refused:
        await start_telegram(settings)
    assert missing in str(refused.value) and "telegram.agents_chat_id" in str(refused.value)
    assert fake.calls_of("getUpdates") == []  # it did not start


@pytest.mark.slow  # a `sellerbot run telegram` process
async def test_sellerbot_run_telegram_refuses_a_desk_group_it_cannot_manage(
    fake: FakeBotAPI, data_dir: Path
) -> None:
    from tests.telegram.test_run_command import bot_environment, start_process

    group = fake.group("Agents", forum=True)  # the bot is a plain member
    env = bot_environment(fake, data_dir, SELLERBOT_TELEGRAM__AGENTS_CHAT_ID=str(group.id))
    process = await start_process(env=env)
    async with asyncio.timeout(60):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    assert "the bot is not an administrator there" in stderr.decode()


async def test_a_seller_who_leaves_the_queue_closes_the_topic_and_account_data_stays_in_the_desk(
    desk: DeskHarness,
) -> None:
    seller = desk.private(language="en", name="Kim")
    account = await desk.seller(seller, company="Kim Trading Co., Ltd.")
    await seller.send("/agent")
    topic = await desk.topic_for(seller)
    assert account.email in topic.messages[0].text  # the desk sees the account
    await seller.send("never mind, found it")
    turn = await seller.send("/cancel")
    assert turn.texts == [t("handoff.left", "en")]
    await desk.until(lambda: topic.closed and t("desk.seller_left", "zh") in topic.texts)
    # what the seller wrote before leaving is in the topic, before the notice
    said = topic.texts.index(t("desk.seller_says", "zh", text="never mind, found it"))
    assert said < topic.texts.index(t("desk.seller_left", "zh"))
    async with desk.sessions() as session:
        [handoff] = (await session.execute(select(Handoff))).scalars().all()
    assert handoff.resolution is HandoffResolution.SELLER_LEFT

    # The desk's commands mean nothing in any other group: no card, no account data there.
    sellers_group = desk.fake.group("Sellers group")
    member = desk.in_group(sellers_group, language="en")
    bot = desk.fake.username
    for command in (f"/info@{bot}", f"/note@{bot} hello", f"/close@{bot}"):
        turn = await member.send(command)
        assert all(account.email not in text and account.company not in text for text in turn.texts)
        assert turn.texts[0].startswith("I don't know the command")
    assert all(account.email not in (m.text or "") for m in desk.fake.sent(sellers_group.id))


async def test_agents_names_are_shown_to_sellers_when_configured(
    fake: FakeBotAPI, data_dir: Path, forum: object
) -> None:
    from tests.telegram.harness import ChatSession

    anna_user, mei_user = fake.user("Anna"), fake.user("Mei")
    names = {str(mei_user.id): "小美"}  # Anna has no alias: her first name is shown
    runtime = await start_telegram(
        desk_settings(data_dir, fake, forum, show_agent_names=True, agent_names=names)
    )
    try:
        desk = DeskHarness(fake, runtime, forum)
        anna, mei = ChatSession(desk, anna_user, forum), ChatSession(desk, mei_user, forum)
        seller = desk.private(language="zh")
        await seller.send("/agent")
        topic = await desk.topic_for(seller)
        await anna.send("您好", thread_id=topic.thread)
        await mei.send("我来跟进", thread_id=topic.thread)
        await desk.seller_gets(seller, t("handoff.agent_says", "zh", name="Anna", text="您好"))
        await desk.seller_gets(seller, t("handoff.agent_says", "zh", name="小美", text="我来跟进"))
        async with desk.sessions() as session:
            agent_turns = (
                (await session.execute(select(Turn).where(Turn.author.is_not(None)))).scalars().all()
            )
        assert [turn.text for turn in agent_turns] == ["您好", "我来跟进"]  # the transcript keeps the words
    finally:
        await runtime.stop()
