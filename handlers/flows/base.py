"""What every flow is: a declaration of how a seller reaches it, a table of its steps, and the
answers it collects; and how a flow starts, links the account first, and goes on afterwards.

A flow is a small state machine whose step and collected answers live in the conversation
state. Every answer is validated with the service rules as it is given, the seller can
correct any answer from the summary, and nothing changes until the seller confirms.

Declaring a subclass of `Flow` with a `name` registers it in `FLOWS`; the commands, deep-link
payloads, answer buttons and personal questions that open flows are all read from these
declarations (see `handlers.flows` for the recipe).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar, cast

from handlers.context import TurnContext
from handlers.handoff import hand_off
from handlers.state import FlowData, stored_answers
from handlers.types import InboundFile

# The value of every flow's Cancel button (see `Flow.cancel_choice`).
CANCEL = "cancel"

AnswersT = TypeVar("AnswersT", bound=FlowData)


class Answer(Enum):
    """How a step is answered, which decides what a message the step cannot use is taken for
    (see `handlers.in_flow`)."""

    # A value (an e-mail address, a code): what is not one may be a question.
    TYPED = "typed"
    # Almost anything is a valid answer (a store title, an address): only a message that looks
    # like a question, and that the matcher is sure about, interrupts the flow.
    FREE_TEXT = "free_text"
    # A choice among buttons: typed words can only be a question or a request.
    BUTTONS = "buttons"


@dataclass(frozen=True)
class On:
    """What one step does, as the flow's `steps` table lists it: how it asks its question and
    what it takes. Each handler is a method of the flow, called with the flow as `self`."""

    ask: Callable[[Any, TurnContext], Awaitable[None]]
    # A typed answer: True if it was the step's answer (valid or not, the replies say what
    # happened); False if the step cannot use it, so it may be a question instead.
    text: Callable[[Any, TurnContext, str], Awaitable[bool]] | None = None
    # A press of one of the step's buttons, with its value (by default the step is asked again).
    choice: Callable[[Any, TurnContext, Any], Awaitable[None]] | None = None
    # A file sent at this step (at a step without one, a file is unexpected).
    file: Callable[[Any, TurnContext, InboundFile], Awaitable[None]] | None = None
    answer: Answer = Answer.TYPED


def step_table(steps: dict[Any, On]) -> Mapping[StrEnum, On]:
    """A flow's `steps`: each step of its `StrEnum` and what it does (read-only)."""
    return MappingProxyType(steps)


# Every flow, by name, in the order the modules declared them.
FLOWS: dict[str, Flow[Any]] = {}


class Flow(Generic[AnswersT]):
    """Base of every flow. A subclass declares its `name`, how it is reached (`command`,
    `kb_action`, `payload`, `personal_intents`, `in_groups`), its `Step` enum with the `steps`
    table, and the dataclass of its answers (`answers_type`); it implements `begin`."""

    name: ClassVar[str]
    # `/<command>` starts it.
    command: ClassVar[str | None] = None
    # The knowledge-base action it performs: an answer with this action offers a button that
    # starts it, and a request for it ("帮我开个店") starts it at once.
    kb_action: ClassVar[str | None] = None
    # `/start <payload>` (a deep link, a group's private-chat button) opens it in the private chat.
    payload: ClassVar[str | None] = None
    # Intents whose personal questions ("我的店铺有哪些") it answers from the seller's account.
    personal_intents: ClassVar[tuple[str, ...]] = ()
    # Requests it takes from another flow's intent when their words say so (see `claims`).
    claimed_intents: ClassVar[tuple[str, ...]] = ()
    # A group may start it; otherwise a group is offered the private chat (account data and
    # actions are private).
    in_groups: ClassVar[bool] = False
    needs_account: ClassVar[bool] = True
    answers_type: ClassVar[type[FlowData]] = FlowData
    # The step table, as python-telegram-bot's `ConversationHandler(states=…)`: each step of the
    # flow's own `StrEnum` (whose values are what the conversation state stores) and what it does.
    steps: ClassVar[Mapping[StrEnum, On]] = MappingProxyType({})
    # Derived from `steps`, by how each is answered.
    free_text_steps: ClassVar[frozenset[str]] = frozenset()
    button_steps: ClassVar[frozenset[str]] = frozenset()
    file_steps: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        steps = cls.steps.items()
        cls.free_text_steps = frozenset(s.value for s, on in steps if on.answer is Answer.FREE_TEXT)
        cls.button_steps = frozenset(s.value for s, on in steps if on.answer is Answer.BUTTONS)
        cls.file_steps = frozenset(s.value for s, on in steps if on.file is not None)
        if "name" in cls.__dict__:
            _check_unique(cls)
            FLOWS[cls.name] = cls()

    # -- to implement -----------------------------------------------------------------------
    async def begin(self, ctx: TurnContext) -> None:
        raise NotImplementedError

    async def resume(self, ctx: TurnContext, answers: AnswersT) -> None:
        """Go on after the account was linked, or after a request that already said some answers
        (`answers`: those `link_first` kept, or `answers_in`); by default the flow starts over."""
        await self.begin(ctx)

    def claims(self, text: str) -> bool:
        """Whether a request matched as one of `claimed_intents` is for this flow by its words
        ("我想再开一家店铺", close to asking for more stores, speaks of opening one)."""
        return False

    def answers_in(self, text: str) -> AnswersT | None:
        """What a request already says that the flow would ask ("raise my listing limit": which
        limit), so that the seller is not asked it again; None when it says nothing."""
        return None

    # -- the current step -------------------------------------------------------------------
    def _on(self, ctx: TurnContext) -> On | None:
        # A StrEnum member hashes and compares as its value: the stored step finds its entry.
        return self.steps.get(cast(StrEnum, ctx.state.step)) if ctx.state.step is not None else None

    async def prompt(self, ctx: TurnContext) -> None:
        """Ask the current step's question again (after an interruption or a bad answer)."""
        on = self._on(ctx)
        if on is not None:
            await on.ask(self, ctx)

    async def on_text(self, ctx: TurnContext, text: str) -> bool:
        """Offer a typed message to the current step (see `On.text`)."""
        on = self._on(ctx)
        return on is not None and on.text is not None and await on.text(self, ctx, text)

    async def on_choice(self, ctx: TurnContext, value: Any) -> None:
        on = self._on(ctx)
        if on is not None and on.choice is not None:
            await on.choice(self, ctx, value)
        else:
            await self.prompt(ctx)

    async def on_file(self, ctx: TurnContext, file: InboundFile) -> None:
        on = self._on(ctx)
        if on is not None and on.file is not None:
            await on.file(self, ctx, file)
            return
        ctx.say("files.unexpected")
        await self.prompt(ctx)

    # -- helpers for subclasses -------------------------------------------------------------
    def answers(self, ctx: TurnContext) -> AnswersT:
        """The answers collected so far, as this flow's dataclass (read from the stored JSON the
        first time in a turn; changes to it are saved with the state)."""
        data = ctx.state.data
        if not isinstance(data, self.answers_type):
            data = self.answers_type.from_json(stored_answers(data))
            ctx.state.data = data
        return cast(AnswersT, data)

    def enter(self, ctx: TurnContext, step: StrEnum, answers: AnswersT | None = None) -> None:
        """Start this flow at `step`; the new `flow_id` makes the flow's idempotency keys unique."""
        data = answers if answers is not None else cast(AnswersT, self.answers_type())
        data.flow_id = secrets.token_hex(6)
        data.editing = False
        ctx.state.enter(self.name, step.value, data)

    def goto(self, ctx: TurnContext, step: StrEnum) -> None:
        ctx.state.step = step.value

    def finish(self, ctx: TurnContext) -> None:
        ctx.state.leave_flow()

    def cancel_choice(self, ctx: TurnContext) -> tuple[str, Any]:
        """The (label, value) of a step's Cancel button; pressing it ends the flow, changing nothing."""
        return (ctx.text("actions.cancel"), CANCEL)

    async def use_buttons(self, ctx: TurnContext, text: str) -> bool:
        """The `On.text` of a step answered only with its buttons."""
        ctx.say("flows.use_buttons")
        return False

    async def edit(self, ctx: TurnContext, step: StrEnum) -> None:
        """Go back to `step` to change an answer; once answered, the flow returns to the summary."""
        self.answers(ctx).editing = True
        self.goto(ctx, step)
        await self.prompt(ctx)

    def next_step(self, ctx: TurnContext, step: StrEnum, summary: StrEnum) -> StrEnum:
        """`step`, or the `summary` while an answer is being changed from it."""
        return summary if self.answers(ctx).editing else step

    def choices(self, ctx: TurnContext, *specs: tuple[str, Any]) -> list:
        """Buttons for the current step: (label, value). A press is only taken while this run of
        the flow is still at that step; an older button (of an earlier step, or of a run that was
        cancelled, whose summary said something else) is answered as expired."""
        step, run = ctx.state.step, ctx.state.flow_id
        return ctx.buttons(
            *[
                (label, "choice", {"flow": self.name, "step": step, "run": run, "value": v})
                for label, v in specs
            ]
        )


# -- the registries, read from the declarations ----------------------------------------------
def _check_unique(flow: type[Flow[Any]]) -> None:
    """A name, command, action, payload or personal question belongs to one flow: a second
    claim would leave one of the two flows unreachable without a word."""
    for other in FLOWS.values():
        claims = {
            "name": {flow.name} & {other.name},
            "command": {flow.command} & {other.command} - {None},
            "kb_action": {flow.kb_action} & {other.kb_action} - {None},
            "payload": {flow.payload} & {other.payload} - {None},
            "personal_intents": set(flow.personal_intents) & set(other.personal_intents),
        }
        for what, both in claims.items():
            if both:
                raise ValueError(f"flows {other.name!r} and {flow.name!r} both declare {what} {sorted(both)}")


def flow_named(ctx: TurnContext, name: str | None) -> Flow[Any] | None:
    return ctx.core.flows.get(name) if name else None


def flow_commanded(command: str) -> Flow[Any] | None:
    """The flow `/<command>` starts."""
    return next((f for f in FLOWS.values() if f.command == command), None)


def flow_of_payload(payload: str) -> Flow[Any] | None:
    """The flow a deep link's payload opens."""
    return next((f for f in FLOWS.values() if f.payload == payload), None)


def flow_of_action(action: str | None) -> Flow[Any] | None:
    """The flow that performs a knowledge-base action."""
    return next((f for f in FLOWS.values() if action and f.kb_action == action), None)


def flow_for_request(intent_id: str, action: str | None, text: str) -> Flow[Any] | None:
    """The flow a request starts: one that claims it by its words, else the one that performs the
    intent's action. What the words still leave open, the flow settles from the seller's account
    as it starts (which limit to raise; whether a store can be opened or more must be asked for)."""
    claimed = (f for f in FLOWS.values() if intent_id in f.claimed_intents and f.claims(text))
    return next(claimed, None) or flow_of_action(action)


def flow_of_personal_question(intent_id: str) -> Flow[Any] | None:
    """The flow that answers a personal question about `intent_id` from the seller's account."""
    return next((f for f in FLOWS.values() if intent_id in f.personal_intents), None)


def flow_commands(*, in_groups: bool = False) -> tuple[str, ...]:
    """The commands flows declare (only those a group may start, with `in_groups`): those a chat
    not linked to an account can use first, as a new seller needs them first."""
    flows = sorted(FLOWS.values(), key=lambda f: f.needs_account)
    return tuple(f.command for f in flows if f.command and (f.in_groups or not in_groups))


# -- starting and going on ----------------------------------------------------------------------
async def start_flow(ctx: TurnContext, name: str, answers: FlowData | dict[str, Any] | None = None) -> None:
    """Open a flow: in a group, offer the private chat instead; without a linked account, link
    first and come back to this flow. `answers`: those it already has (kept while the account
    was linked, as stored, or said in the request); the flow resumes with them."""
    if name == "agent":
        await hand_off(ctx, reason="requested")
        return
    flow = flow_named(ctx, name)
    if flow is None:
        ctx.refuse_button()
        return
    if ctx.inbound.is_group and not flow.in_groups:
        label = ctx.text(f"actions.{name}")
        buttons = [ctx.private_chat_button(label, flow.payload)] if flow.payload else []
        ctx.say("group.private_only", buttons=buttons)
        return
    ctx.state.leave_flow()
    stored = stored_answers(answers)
    if flow.needs_account and await ctx.account_id() is None:
        await link_first(ctx, name, stored)
        return
    if stored:
        await flow.resume(ctx, flow.answers_type.from_json(stored))
    else:
        await flow.begin(ctx)


async def link_first(ctx: TurnContext, name: str, answers: FlowData | dict[str, Any]) -> None:
    """Link the chat to an account, then go on with flow `name`, handing it `answers` (those it
    already has, e.g. the pickup city, so the seller is not asked again)."""
    stored = stored_answers(answers)
    stored.pop("flow_id", None)  # the flow starts a new run once linked
    stored.pop("editing", None)
    ctx.state.resume_flow, ctx.state.resume_data = name, stored
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
