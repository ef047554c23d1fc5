"""Choices on channels without buttons (QQ): the replies' buttons are shown as numbered lines, and
the seller answers with a number (in a group, `@bot 2`) or with the label.

A number is read against the choices last shown in the conversation (`ConversationState.shown`),
never against older ones: a number that is not among them is politely refused outside a flow,
and inside one it is an answer like any other for the step to judge, which at a choice step asks
again for one of the numbers shown. At a step that takes a typed answer (a parcel count, a code)
a number is that answer. A number whose choice is no longer open (already chosen, or of a step
that moved on) is refused as an old button is.
"""

from __future__ import annotations

from dataclasses import dataclass

from faq.normalize import normalize
from handlers.context import TurnContext
from handlers.state import ConversationState
from handlers.types import Button, ButtonKind, Reply

# "12" may pick the twelfth choice; longer numbers are answers (codes, counts, phone numbers).
MAX_CHOICE_DIGITS = 2


@dataclass(frozen=True)
class Picked:
    """What the text says about the choices shown: the button it picks, or that it is a number
    beyond them."""

    button: str | None = None
    out_of_range: bool = False


def shown_buttons(replies: list[Reply]) -> list[str]:
    """The ids of the replies' buttons a channel numbers, in order (a button that opens the
    private chat is not a choice: the channel says how to get there)."""
    return [b.id for r in replies for b in r.buttons if b.kind is ButtonKind.CALLBACK]


def _step_has_choices(state: ConversationState) -> bool:
    """Whether the flow's current step was shown choices of its own (else it takes a typed
    answer: "2" is then two parcels, even if an answer to a question asked meanwhile showed a
    button)."""
    for button_id in state.shown:
        meaning = state.buttons.get(button_id)
        value = meaning.value if meaning is not None else None
        if (
            meaning is not None
            and meaning.action == "choice"
            and isinstance(value, dict)
            and value.get("flow") == state.flow
            and value.get("step") == state.step
        ):
            return True
    return False


def read(state: ConversationState, text: str) -> Picked:
    if not state.shown:
        return Picked()
    folded = normalize(text)
    numbers_are_choices = state.flow is None or _step_has_choices(state)
    if numbers_are_choices and folded.isdigit() and len(folded) <= MAX_CHOICE_DIGITS:
        number = int(folded)
        if 1 <= number <= len(state.shown):
            return Picked(button=state.shown[number - 1])
        return Picked(out_of_range=True)
    for button_id in state.shown:
        meaning = state.buttons.get(button_id)
        if meaning is not None and meaning.label and normalize(meaning.label) == folded:
            return Picked(button=button_id)
    return Picked()


def refuse_number(ctx: TurnContext) -> None:
    """A number beyond the choices shown: say which numbers there are, with the choices again."""
    live = [
        Button(id=bid, label=ctx.state.buttons[bid].label)
        for bid in ctx.state.shown
        if bid in ctx.state.buttons
    ]
    if not live:
        ctx.refuse_button()
        return
    ctx.say("choices.out_of_range", buttons=live, count=len(live))
