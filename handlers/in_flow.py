"""A message, a file or a button press while a flow is in progress: the step's answer, a
question that interrupts the flow, or a request for another action.

A message typed during a flow is first offered to the current step. If the step cannot use
it and the matcher recognises a question, the question is answered and the step asked again:
the flow goes on. Where a step takes free text (a store title, an address), almost anything
is a valid answer, so only a message that looks like a question and that the matcher is sure
about interrupts the flow. At the other steps (an e-mail address, a code, a choice), a message
the step cannot use is a wrong answer unless it looks like a question or asks for a person: the
step says what is wrong with it rather than answering "not-an-email" as a question about
e-mail. After a message a step cannot use, the step's buttons are shown again, at hand.
"""

from __future__ import annotations

import re
from typing import Any

from faq.matcher import Decision
from faq.modes import mode_of
from handlers.context import TurnContext, Understanding
from handlers.flows.base import CANCEL, Flow, continue_flow_after_interruption, flow_for_request, flow_named
from handlers.types import InboundFile
from handlers.understanding import answer_intent

# Intents that never interrupt a flow (a "thanks" or "ok" mid-flow is not a question).
NOT_INTERRUPTING = {"smalltalk"}
_QUESTION_RE = re.compile(
    r"[?？]|吗|么|怎|如何|多少|几|哪|为什么|能不能|可以|是否|啥|什么|"
    r"\b(how|what|why|when|where|which|can|could|do|does|is|are|should|may)\b",
    re.IGNORECASE,
)


def looks_like_question(text: str) -> bool:
    return bool(_QUESTION_RE.search(text))


async def run_flow_text(ctx: TurnContext, text: str) -> None:
    flow = flow_named(ctx, ctx.state.flow)
    if flow is None:  # a flow of an older version of the bot
        ctx.state.leave_flow()
        ctx.say("flows.lost")
        return
    if _offer_switch(ctx, flow, text):
        return
    if ctx.state.step in flow.free_text_steps:
        if looks_like_question(text) and await _answer_if_question(
            ctx, text, ctx.core.options.interrupt_score
        ):
            return
        await flow.on_text(ctx, text)
        return
    mark = len(ctx.replies)
    if await flow.on_text(ctx, text):
        return
    if (looks_like_question(text) or _asks_for_a_person(ctx, text)) and await _answer_if_question(
        ctx, text, 0.0, drop_from=mark
    ):
        return
    # At a step answered with buttons, words the knowledge base understands with confidence
    # ("忘记密码了") are answered, then the step is asked again.
    if ctx.state.step in flow.button_steps and await _answer_if_question(
        ctx, text, ctx.core.options.interrupt_score, drop_from=mark
    ):
        return
    # Neither an answer nor a question: the step's own explanation stands, with its buttons.
    if len(ctx.replies) == mark:
        await flow.prompt(ctx)
    elif not any(reply.buttons for reply in ctx.replies[mark:]):
        await _show_buttons_again(ctx, flow)


def _offer_switch(ctx: TurnContext, flow: Flow[Any], text: str) -> bool:
    """A request for another action in the middle of this one ("帮我预约揽收" while opening a
    store): ask whether to finish this one first or switch (nothing is lost by asking)."""
    if mode_of(text) != "request":
        return False
    match = ctx.match(text)
    intent = ctx.core.knowledge.intents.get(match.intent)
    if (
        match.decision is not Decision.ANSWER
        or intent is None
        or float(match.score) < ctx.core.options.interrupt_score
    ):
        return False
    wanted_flow = flow_for_request(match.intent, intent.action, text)
    if wanted_flow is None or wanted_flow.name == flow.name or wanted_flow.name not in ctx.core.flows:
        return False
    other = wanted_flow.name
    current, wanted = ctx.text(f"actions.{flow.name}"), ctx.text(f"actions.{other}")
    ctx.say(
        "flows.switch",
        current=current,
        other=wanted,
        buttons=ctx.buttons(
            (ctx.text("flows.stay", current=current), "resume", None),
            (ctx.text("flows.go", other=wanted), "flow", other),
        ),
    )
    return True


def _asks_for_a_person(ctx: TurnContext, text: str) -> bool:
    """ "转人工", "I want to talk to a person": always heard, question or not."""
    match = ctx.match(text)
    return match.decision is Decision.ANSWER and match.intent == "human_agent"


async def _show_buttons_again(ctx: TurnContext, flow: Flow[Any]) -> None:
    """Ask the step again if it is answered with buttons (a channel may not keep older ones at
    hand, as the console does not); a step answered by typing needs no second question."""
    start = len(ctx.replies)
    await flow.prompt(ctx)
    if not any(reply.buttons for reply in ctx.replies[start:]):
        del ctx.replies[start:]


async def _answer_if_question(
    ctx: TurnContext, text: str, min_score: float, drop_from: int | None = None
) -> bool:
    match = ctx.match(text)
    if (
        match.decision is not Decision.ANSWER
        or match.intent in NOT_INTERRUPTING
        or float(match.score) < min_score
    ):
        return False
    if drop_from is not None:
        del ctx.replies[drop_from:]
    ctx.state.follow_language(text)
    ctx.understood = Understanding(intent=match.intent, score=float(match.score), decision=match.decision)
    current = ctx.state.flow
    await answer_intent(ctx, match.intent)
    if ctx.state.flow == current and not ctx.handed_off:
        await continue_flow_after_interruption(ctx)
    return True


async def run_flow_file(ctx: TurnContext, file: InboundFile) -> None:
    flow = flow_named(ctx, ctx.state.flow)
    if flow is None:
        ctx.say("files.unexpected_no_flow")
        return
    if ctx.state.step not in flow.file_steps:
        ctx.say("files.unexpected")
        await flow.prompt(ctx)
        return
    await flow.on_file(ctx, file)


async def run_flow_choice(ctx: TurnContext, value: Any) -> None:
    flow = flow_named(ctx, ctx.state.flow)
    if (
        flow is None
        or not isinstance(value, dict)
        or value.get("flow") != flow.name
        or value.get("step") != ctx.state.step
        or value.get("run") != ctx.state.flow_id
    ):
        ctx.refuse_button()
        await continue_flow_after_interruption(ctx)
        return
    if value.get("value") == CANCEL:
        flow.finish(ctx)
        ctx.say("commands.cancelled_short")
        return
    await flow.on_choice(ctx, value.get("value"))
