"""A seller on QQ, on either protocol (every test runs on the official API and on OneBot): FAQ
answers, numbered choices, the group etiquette, the flows that act on an account."""

from __future__ import annotations

from sqlalchemy import select

from handlers import replies
from services.models import QuotaRequest, Rating, Store
from services.stores import import_store
from tests.conversation import png
from tests.qq.harness import Harness


def t(key: str, lang: str, **context: object) -> str:
    return replies.say(key, lang, **context)


async def test_a_question_in_a_private_chat_gets_one_message(qq: Harness) -> None:
    seller = qq.private("2001")
    turn = await seller.send("佣金是多少")
    assert len(turn.texts) == 1, turn  # the official API lets the bot answer one message a few times only
    assert "15%" in turn.text


async def test_help_shows_numbered_choices_answered_by_number_or_label(qq: Harness) -> None:
    seller = qq.private("2002")
    menu = await seller.send("/help")
    assert len(menu.choices) >= 3, menu
    assert t("channel.qq.choose_private", "zh") in menu.text
    picked = await seller.send("2")
    other = qq.private("2003")
    await other.send("/help")
    by_label = await other.send(menu.choices[1])
    assert picked.texts == by_label.texts and picked.texts
    # a number beyond the choices is refused politely, with the choices again
    await seller.send("/help")
    beyond = await seller.send(str(len(menu.choices) + 1))
    assert t("choices.out_of_range", "zh", count=len(menu.choices)) in beyond.text
    assert beyond.choices == menu.choices


async def test_in_a_group_only_what_is_addressed_to_the_bot_is_answered(qq: Harness) -> None:
    ann = qq.in_group("300001", "3001")
    assert await ann.unheard("佣金是多少", at=False)
    turn = await ann.send("佣金是多少")  # @-mentioned
    assert "15%" in turn.text
    # a reply to the bot's own message addresses it; the bot's answer quoted the question
    answer_id = turn.sent[0].id if hasattr(turn.sent[0], "id") else turn.sent[0].message_id
    reply_to = answer_id if isinstance(answer_id, str) else int(answer_id)
    follow_up = await ann.send("结算周期呢?", at=False, reply_to=reply_to)
    assert follow_up.texts
    # a command is for the bot even without the mention
    assert (await ann.send("/help", at=False)).choices
    assert t("channel.qq.choose_group", "zh") in ann.last.text


async def test_account_questions_in_a_group_point_to_the_private_chat_in_qqs_terms(qq: Harness) -> None:
    bea = qq.in_group("300002", "3002")
    await qq.seller(bea, store_limit=2)
    turn = await bea.send("/stores")
    assert t("group.private_only", "zh", numbered=True) in turn.text
    assert "Store" not in turn.text  # no account data in a group
    assert "/start stores-zh" in turn.text  # what to send in the private chat
    # the private chat then opens at the right place
    private = qq.private("3002")
    turn = await private.send("/start stores-zh")
    assert t("account.no_stores", "zh") in turn.text


async def test_open_a_store_with_an_icon_in_a_private_chat(qq: Harness) -> None:
    carol = qq.private("2004")
    seller = await qq.seller(carol, store_limit=3)
    turn = await carol.send("/start open_store")
    assert t("open_store.intro", "zh", free=3) in turn.text
    turn = await carol.send("Carol Gadgets")
    turn = await carol.choose("电子产品")
    assert turn.choices == [t("open_store.skip_icon", "zh")]
    turn = await carol.send(images=[png(600, 600)])
    assert t("open_store.icon_ok", "zh", format="PNG", width=600, height=600) in turn.text
    turn = await carol.choose(t("actions.confirm", "zh"))
    assert "Carol Gadgets" in turn.text
    async with qq.sessions() as session:
        titles = (
            (await session.execute(select(Store.title).where(Store.account_id == seller.id))).scalars().all()
        )
    assert titles == ["Carol Gadgets"]


async def test_an_icon_too_small_is_refused_with_the_rule(qq: Harness) -> None:
    dan = qq.private("2005")
    await qq.seller(dan, store_limit=2)
    await dan.send("/start open_store")
    await dan.send("丹丹数码")
    await dan.choose("电子产品")
    turn = await dan.send(images=[png(100, 100)])
    assert "550" in turn.text
    assert turn.choices == [t("open_store.skip_icon", "zh")]


async def test_a_quota_request_is_refused_naming_the_rules(qq: Harness) -> None:
    erin = qq.private("2006")
    seller = await qq.seller(erin, rating=Rating.POOR, store_limit=1)
    # neither limit can be raised: refused at once, without asking which
    turn = await erin.send("/start quota")
    assert t("quota.ask_kind", "zh") not in turn.text
    assert t("quota.not_eligible", "zh") in turn.text
    assert "较差" in turn.text
    async with qq.sessions() as session:
        assert (await session.execute(select(QuotaRequest))).scalars().all() == []
    assert seller.store_limit == 1


async def test_a_long_reply_is_split_at_paragraphs_within_the_limit(qq: Harness) -> None:
    fay = qq.private("2007")
    seller = await qq.seller(fay, store_limit=60)
    titles = [f"A rather long store title number {n:02d}" for n in range(45)]
    for title in titles:
        done = await import_store(
            sessions=qq.sessions,
            policy=qq.runtime.settings.policy,
            account_id=seller.id,
            title=title,
            specialization="electronics",
            actor="test",
        )
        assert done.ok
    turn = await fay.send("/stores")
    limit = qq.runtime.settings.qq.max_message_chars
    assert len(turn.texts) >= 2 and all(len(text) <= limit for text in turn.texts), [
        len(x) for x in turn.texts
    ]
    joined = "\n".join(turn.texts)
    positions = [joined.index(title) for title in titles]
    assert positions == sorted(positions)  # every store, in order, none cut in half


async def test_links_are_written_as_text(qq: Harness) -> None:
    gus = qq.private("2008")
    turn = await gus.send("怎么注册")
    assert "merchant.joom.com" in turn.text
    assert "https://" not in turn.text


async def test_an_unreadable_attachment_gets_a_clear_word(qq: Harness) -> None:
    hal = qq.private("2009")
    if qq.runtime.settings.qq.protocol == "official":
        turn = await hal.send(attachments=[{"content_type": "voice", "url": "https://x/voice.silk"}])
    else:
        turn = await hal.send(segments=[{"type": "record", "data": {"file": "a.silk"}}])
    assert turn.texts == [t("channel.qq.file_unsupported", "zh")]
