"""Adding a flow is one declaration (the recipe in handlers/flows/__init__.py): a flow declared
here, with its replies, is reached by its command, its deep link, the button of an answer with its
knowledge-base action, and from a group through the private chat, with no list edited anywhere."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from enum import StrEnum

import pytest

from handlers import replies
from handlers.commands import group_commands
from handlers.context import TurnContext
from handlers.flows import FLOWS, Flow
from handlers.flows.base import On, step_table
from handlers.state import FlowData
from tests.conversation import Bot, t

# The flow's replies, as its entries in handlers/replies/{zh,en}.yaml would be.
REPLIES = {
    "en": {
        "actions.greet": "Say hello",
        "greet.ask_name": "What is your name?",
        "greet.hello": "Hello, {{ name }}!",
    },
    "zh": {"actions.greet": "打个招呼", "greet.ask_name": "您叫什么名字?", "greet.hello": "{{ name }},您好!"},
}
LANGS = ["zh", "en"]
FEES_QUESTION = {"zh": "佣金是多少?", "en": "What is the commission?"}


@pytest.fixture
def greet_flow(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Flow[FlowData]]]:
    for lang, entries in REPLIES.items():
        for key, text in entries.items():
            monkeypatch.setitem(replies.catalogue(lang), key, text)
    # The knowledge base names the action on an intent (a support lead's edit, not code).
    fees = bot.knowledge.intents["fees"]
    monkeypatch.setitem(bot.knowledge.intents, "fees", dataclasses.replace(fees, action="greet_seller"))

    class Step(StrEnum):
        NAME = "name"

    @dataclasses.dataclass
    class GreetAnswers(FlowData):
        name: str | None = None

    class GreetFlow(Flow[GreetAnswers]):
        name = "greet"
        command = "greet"
        kb_action = "greet_seller"
        payload = "greet"
        needs_account = False
        answers_type = GreetAnswers

        async def begin(self, ctx: TurnContext) -> None:
            self.enter(ctx, Step.NAME)
            await self.prompt(ctx)

        async def _ask_name(self, ctx: TurnContext) -> None:
            ctx.say("greet.ask_name")

        async def _take_name(self, ctx: TurnContext, text: str) -> bool:
            self.answers(ctx).name = text.strip()
            ctx.say("greet.hello", name=self.answers(ctx).name)
            self.finish(ctx)
            return True

        steps = step_table({Step.NAME: On(ask=_ask_name, text=_take_name)})

    yield GreetFlow
    # Declaring registered it for the whole process: the other tests know only the bot's flows.
    del FLOWS["greet"]


@pytest.mark.parametrize("lang", LANGS)
async def test_a_declared_flow_is_reached_by_command_deep_link_and_button(
    bot: Bot, greet_flow: type[Flow[FlowData]], lang: str
) -> None:
    chat = bot.chat(lang=lang)
    r = await chat.send("/greet")
    assert r.texts == [t("greet.ask_name", lang)]
    r = await chat.send("Lin")
    assert r.texts == [t("greet.hello", lang, name="Lin")]
    r = await chat.send(f"/start greet-{lang}")
    assert r.texts == [t("greet.ask_name", lang)]
    await chat.send("/cancel")
    r = await chat.send(FEES_QUESTION[lang])
    assert r.texts == [bot.knowledge.render("fees", lang, bot.policy)]
    assert r.labels == [t("actions.greet", lang)]
    r = await chat.press(t("actions.greet", lang))
    assert r.texts == [t("greet.ask_name", lang)]
    # and the list of commands names it
    r = await chat.send("/frobnicate")
    assert "/greet" in r.text


async def test_a_group_is_offered_the_private_chat_unless_the_flow_allows_groups(
    bot: Bot, greet_flow: type[Flow[FlowData]], monkeypatch: pytest.MonkeyPatch
) -> None:
    member = bot.chat(group=True, lang="en")
    r = await member.send("/greet")
    assert r.texts == [t("group.private_only", "en")]
    assert "greet" not in group_commands()
    r = await member.press(t("actions.greet", "en"))  # opens the private chat at the flow
    assert r.texts == [t("greet.ask_name", "en")]
    monkeypatch.setattr(greet_flow, "in_groups", True)
    other = bot.chat("seller-2", group=True, lang="en")
    r = await other.send("/greet")
    assert r.texts == [t("greet.ask_name", "en")]
    assert group_commands() == ("help", "lang", "greet", "agent")


def test_a_flow_claiming_what_another_declares_is_refused() -> None:
    with pytest.raises(ValueError, match="both declare command"):

        class LinkAgain(Flow[FlowData]):
            name = "link_again"
            command = "link"

    assert "link_again" not in FLOWS
