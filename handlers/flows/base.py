"""Multi-step flows: how a flow starts, takes answers, is interrupted by a question and goes on.

A flow is a small state machine whose step and collected answers live in the conversation
state. Every answer is validated with the service rules as it is given, the seller can
correct any answer from the summary, and nothing changes until the seller confirms.

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
import secrets
from typing import Any, ClassVar

from handlers.context import TurnContext, Understanding
from handlers.types import InboundFile

# Flows a deep link or an action button may open.
FLOW_ENTRY_POINTS = (
    "link",
    "open_store",
    "quota",
    "password_reset",
    "change_email",
    "pickup",
    "stores",
    "limits",
)
# The value of every flow's Cancel button (see `Flow.cancel_choice`).
CANCEL = "cancel"
# Intents that never interrupt a flow (a "thanks" or "ok" mid-flow is not a question).
NOT_INTERRUPTING = {"smalltalk"}
_QUESTION_RE = re.compile(
    r"[?？]|吗|么|怎|如何|多少|几|哪|为什么|能不能|可以|是否|啥|什么|"
    r"\b(how|what|why|when|where|which|can|could|do|does|is|are|should|may)\b",
    re.IGNORECASE,
)


def looks_like_question(text: str) -> bool:
    return bool(_QUESTION_RE.search(text))


class Flow:
    """Base of every flow. Subclasses set `name`, implement `begin` and `prompt`, and whichever
    of `on_text`, `on_choice`, `on_file` their steps need."""

    name: ClassVar[str]
    needs_account: ClassVar[bool] = True
    private_only: ClassVar[bool] = True
    free_text_steps: ClassVar[frozenset[str]] = frozenset()
    # Steps answered with buttons: typed words there can only be a question or a request.
    button_steps: ClassVar[frozenset[str]] = frozenset()
    file_steps: ClassVar[frozenset[str]] = frozenset()

    # -- to implement -----------------------------------------------------------------------
    async def begin(self, ctx: TurnContext) -> None:
        raise NotImplementedError

    async def prompt(self, ctx: TurnContext) -> None:
        """Ask the current step's question again (after an interruption or a bad answer)."""
        raise NotImplementedError

    async def on_text(self, ctx: TurnContext, text: str) -> bool:
        """Take a typed answer. True if it was the step's answer (valid or not, the replies say
        what happened); False if the step cannot use it, so it may be a question instead."""
        return False

    async def on_choice(self, ctx: TurnContext, value: Any) -> None:
        await self.prompt(ctx)

    async def on_file(self, ctx: TurnContext, file: InboundFile) -> None:
        ctx.say("files.unexpected")
        await self.prompt(ctx)

    async def resume(self, ctx: TurnContext, data: dict[str, Any]) -> None:
        """Go on after the account was linked, with the answers `link_first` kept (`data`);
        by default the flow starts over."""
        await self.begin(ctx)

    # -- helpers for subclasses -------------------------------------------------------------
    def enter(self, ctx: TurnContext, step: str, **data: Any) -> None:
        """Start this flow at `step`; `flow_id` makes the flow's idempotency keys unique."""
        ctx.state.enter(self.name, step, flow_id=secrets.token_hex(6), **data)

    def goto(self, ctx: TurnContext, step: str) -> None:
        ctx.state.step = step

    def finish(self, ctx: TurnContext) -> None:
        ctx.state.leave_flow()

    def cancel_choice(self, ctx: TurnContext) -> tuple[str, Any]:
        """The (label, value) of a step's Cancel button; pressing it ends the flow, changing nothing."""
        return (ctx.text("actions.cancel"), CANCEL)

    async def edit(self, ctx: TurnContext, step: str) -> None:
        """Go back to `step` to change an answer; once answered, the flow returns to the summary."""
        ctx.state.data["editing"] = True
        self.goto(ctx, step)
        await self.prompt(ctx)

    def next_step(self, ctx: TurnContext, step: str) -> str:
        """`step`, or the summary while an answer is being changed from it."""
        return "summary" if ctx.state.data.get("editing") else step

    def choices(self, ctx: TurnContext, *specs: tuple[str, Any]) -> list:
        """Buttons for the current step: (label, value). A press is only taken while this run of
        the flow is still at that step; an older button (of an earlier step, or of a run that was
        cancelled, whose summary said something else) is answered as expired."""
        step, run = ctx.state.step, ctx.state.data.get("flow_id")
        return ctx.buttons(
            *[
                (label, "choice", {"flow": self.name, "step": step, "run": run, "value": v})
                for label, v in specs
            ]
        )


def flow_named(ctx: TurnContext, name: str | None) -> Flow | None:
    return ctx.core.flows.get(name) if name else None


async def start_flow(ctx: TurnContext, name: str, resume_data: dict[str, Any] | None = None) -> None:
    """Open a flow: in a group, offer the private chat instead; without a linked account, link
    first and come back to this flow. `resume_data`: answers kept while the account was linked."""
    if name == "agent":
        from handlers.handoff import hand_off

        await hand_off(ctx, reason="requested")
        return
    flow = flow_named(ctx, name)
    if flow is None:
        ctx.refuse_button()
        return
    if ctx.inbound.is_group and flow.private_only:
        label = ctx.text(f"actions.{name}")
        ctx.say("group.private_only", buttons=[ctx.private_chat_button(label, name)])
        return
    ctx.state.leave_flow()
    if flow.needs_account and await ctx.account_id() is None:
        await link_first(ctx, name, resume_data or {})
        return
    if resume_data:
        await flow.resume(ctx, resume_data)
    else:
        await flow.begin(ctx)


async def link_first(ctx: TurnContext, name: str, data: dict[str, Any]) -> None:
    """Link the chat to an account, then go on with flow `name`, handing it `data` (answers it
    already has, e.g. the pickup city, so the seller is not asked again)."""
    ctx.state.resume_flow, ctx.state.resume_data = name, dict(data)
    link = flow_named(ctx, "link")
    assert link is not None
    await link.begin(ctx)


async def resume_after_link(ctx: TurnContext) -> None:
    """Called by the link flow once linked: go on with the flow the seller first asked for."""
    name, data = ctx.state.resume_flow, ctx.state.resume_data
    ctx.state.forget_resume()
    ctx.forget_account()
    if name:
        await start_flow(ctx, name, data)


async def continue_flow_after_interruption(ctx: TurnContext) -> None:
    flow = flow_named(ctx, ctx.state.flow)
    if flow is not None:
        ctx.say("flows.resume")
        await flow.prompt(ctx)


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


def _offer_switch(ctx: TurnContext, flow: Flow, text: str) -> bool:
    """A request for another action in the middle of this one ("帮我预约揽收" while opening a
    store): ask whether to finish this one first or switch (nothing is lost by asking)."""
    from faq.modes import mode_of
    from handlers.understanding import flow_for_request

    if mode_of(text) != "request":
        return False
    match = ctx.core.matcher.match(text)
    intent = ctx.core.knowledge.intents.get(match.intent)
    if match.decision != "answer" or intent is None or float(match.score) < ctx.core.options.interrupt_score:
        return False
    other = flow_for_request(match.intent, intent.action, text)
    if other is None or other == flow.name or other not in ctx.core.flows:
        return False
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
    match = ctx.core.matcher.match(text)
    return match.decision == "answer" and match.intent == "human_agent"


async def _show_buttons_again(ctx: TurnContext, flow: Flow) -> None:
    """Ask the step again if it is answered with buttons (a channel may not keep older ones at
    hand, as the console does not); a step answered by typing needs no second question."""
    start = len(ctx.replies)
    await flow.prompt(ctx)
    if not any(reply.buttons for reply in ctx.replies[start:]):
        del ctx.replies[start:]


async def _answer_if_question(
    ctx: TurnContext, text: str, min_score: float, drop_from: int | None = None
) -> bool:
    from handlers.understanding import answer_intent

    match = ctx.core.matcher.match(text)
    if match.decision != "answer" or match.intent in NOT_INTERRUPTING or float(match.score) < min_score:
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
        or value.get("run") != ctx.state.data.get("flow_id")
    ):
        ctx.refuse_button()
        await continue_flow_after_interruption(ctx)
        return
    if value.get("value") == CANCEL:
        flow.finish(ctx)
        ctx.say("commands.cancelled_short")
        return
    await flow.on_choice(ctx, value.get("value"))
