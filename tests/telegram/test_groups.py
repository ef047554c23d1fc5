"""Groups, with privacy mode on: the bot answers commands (also /cmd@botname), mentions of its
username and replies to its own messages, and nothing else; it answers questions only, and
offers account data and actions in the private chat through a deep link that opens the right
flow there. A keyboard in a group belongs to the person whose question it answers."""

from __future__ import annotations

from handlers import replies
from tests.telegram.harness import Harness


def t(key: str, lang: str, **context: object) -> str:
    return replies.say(key, lang, **context)


async def test_only_what_is_addressed_to_the_bot_is_answered(tg: Harness) -> None:
    bot = tg.fake.username
    group = tg.fake.group()
    ann = tg.in_group(group, language="en")
    bea = tg.in_group(group, language="en")

    assert (await ann.send("how much is the commission?")).messages == []
    assert (await ann.send("/help@other_bot")).messages == []
    assert (await ann.send(f"hey @other_bot what about @{bot}ish")).messages == []

    turn = await ann.send(f"/help@{bot}")
    assert turn.texts[0].startswith("Here is what I can help with")
    assert all(m.reply_to == turn.asked.message_id for m in turn.messages)  # quoting the question

    turn = await ann.send("/help")
    assert turn.messages

    turn = await bea.send(f"@{bot.upper()} how much is the commission?")
    assert "commission" in turn.text
    answer = turn.messages[0]

    # A reply to the bot's message is for the bot; a reply to someone else's is not.
    assert (await ann.send("and how often are payouts made?", reply_to=answer)).messages
    assert (await bea.send("thanks, that helped", reply_to=turn.asked)).messages == []

    # A photo nobody asked the bot about is not even downloaded.
    getfiles = len(tg.fake.calls_of("getFile"))
    assert (await bea.photo(b"\xff\xd8holiday")).messages == []
    assert len(tg.fake.calls_of("getFile")) == getfiles


async def test_account_commands_offer_the_private_chat_which_opens_at_the_right_flow(tg: Harness) -> None:
    bot = tg.fake.username
    group = tg.fake.group()
    cat = tg.in_group(group, language="en")
    await tg.seller(cat, store_limit=2)

    turn = await cat.send(f"/stores@{bot}")
    assert turn.texts == [t("group.private_only", "en")]  # no account data in the group
    [button] = turn.messages[0].buttons
    assert button["text"] == t("actions.stores", "en")
    assert button["url"].startswith(f"https://t.me/{bot}?start=stores")  # a deep link, no callback

    private = tg.private_of(cat)
    turn = await private.follow(button["url"])
    assert turn.texts == [t("account.no_stores", "en")]
    assert turn.messages[0].chat_id == cat.user.id


async def test_a_question_with_an_action_links_to_the_flow_in_private(tg: Harness) -> None:
    bot = tg.fake.username
    group = tg.fake.group()
    dee = tg.in_group(group, language="en")
    turn = await dee.send(f"@{bot} how do I open a new store?")
    link = next(b for b in turn.messages[-1].buttons if "url" in b)
    assert link["url"].startswith(f"https://t.me/{bot}?start=open_store")
    # Not linked yet: the private chat starts by linking, for opening a store.
    turn = await tg.private_of(dee).follow(link["url"])
    assert t("link.intro_for", "en", action=t("actions.open_store", "en")) in turn.texts


async def test_a_keyboard_in_a_group_belongs_to_the_asker(tg: Harness) -> None:
    bot = tg.fake.username
    group = tg.fake.group()
    eve = tg.in_group(group, language="en")
    fox = tg.in_group(group, language="zh")
    turn = await eve.send(f"/help@{bot}")
    menu = turn.last

    other = await fox.press("Payouts", message=menu)
    assert other.messages == []
    assert other.answer == {"text": t("channel.button_not_yours", "zh"), "show_alert": True}
    assert menu.edits == []

    own = await eve.press("Payouts", message=menu)
    assert own.answer == {"text": None, "show_alert": False}
    assert own.messages and all(m.reply_to == turn.asked.message_id for m in own.messages)
    assert menu.text.endswith(t("channel.chosen", "en", label="Payouts"))


async def test_in_a_forum_each_topic_is_a_conversation_of_its_own(tg: Harness) -> None:
    bot = tg.fake.username
    forum = tg.fake.group("Sellers forum", forum=True)
    gia = tg.in_group(forum, language="en")
    turn = await gia.send(f"/lang@{bot}", thread_id=11)
    assert turn.labels == ["中文", "English"] and all(m.thread_id == 11 for m in turn.messages)
    other = await gia.send(f"@{bot} how much is the commission?", thread_id=12)
    assert "commission" in other.text and all(m.thread_id == 12 for m in other.messages)
    # The language chosen in topic 11 stays there.
    chosen = await gia.press("中文", message=turn.last)
    assert chosen.texts == [t("commands.lang_set", "zh")] and chosen.messages[0].thread_id == 11
    again = await gia.send(f"/help@{bot}", thread_id=12)
    assert again.texts[0].startswith("Here is what I can help with")
