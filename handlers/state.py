"""The state of one conversation, stored in the database between messages.

Nothing about a conversation is kept in process memory: a restart, or another bot process,
continues exactly where the last message left it. The state is small JSON: the reply
language, the flow in progress with its step and collected answers, the live buttons and the
count of consecutive misses.
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Self

from faq.normalize import detect_language

# Buttons of the most recent messages stay pressable; older ones expire.
LIVE_BUTTON_GROUPS = 4
# Pressed button ids remembered, so a second click is told "already done", not "expired".
REMEMBERED_PRESSES = 30


@dataclass
class FlowData:
    """The answers a flow has collected, as stored in the conversation state. Each flow extends it
    with its own fields (all with defaults). A state stored by another version of the bot loads:
    unknown keys are dropped and missing ones take their defaults."""

    # This run of the flow: its buttons and its actions' idempotency keys name it.
    flow_id: str = ""
    # An answer is being changed from the summary: once given, the flow returns there.
    editing: bool = False

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> Self:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in stored.items() if k in names})

    def to_json(self) -> dict[str, Any]:
        # The fields are JSON values (str, int, bool, None): no deep copy needed.
        return {f.name: getattr(self, f.name) for f in fields(self)}


def stored_answers(answers: FlowData | dict[str, Any] | None) -> dict[str, Any]:
    """A flow's answers as the conversation state stores them (a new dict either way)."""
    return answers.to_json() if isinstance(answers, FlowData) else dict(answers or {})


@dataclass
class ButtonMeaning:
    action: str  # what pressing it does: "intent", "flow", "choice", "agent", ...
    value: Any = None
    group: int = 0  # buttons sent in one message share a group; pressing one retires the group
    label: str = ""


@dataclass
class ConversationState:
    lang: str
    flow: str | None = None
    step: str | None = None
    # The flow's answers: its `FlowData` once the flow has read them, the stored JSON until then.
    data: FlowData | dict[str, Any] = field(default_factory=dict)
    buttons: dict[str, ButtonMeaning] = field(default_factory=dict)
    pressed: list[str] = field(default_factory=list)
    group_seq: int = 0
    # consecutive questions the bot could not answer; two in a row offer a human agent
    misses: int = 0
    # the flow to resume after the account is linked (e.g. open_store asked by an unlinked user),
    # and the answers it already has (e.g. the pickup city)
    resume_flow: str | None = None
    resume_data: dict[str, Any] = field(default_factory=dict)
    # the seller chose the reply language with /lang: replies keep it, whatever language the
    # next messages are in (until /lang again)
    lang_chosen: bool = False
    # On channels that number buttons instead of showing them: the ids of the buttons last shown,
    # in the order they were numbered (a number typed now means one of these)
    shown: list[str] = field(default_factory=list)

    # -- persistence -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        # lang, flow and step have columns of their own on the conversation row. (Written out, not
        # dataclasses.asdict: this runs at every turn, and asdict deep-copies field by field.)
        return {
            "data": self.data.to_json() if isinstance(self.data, FlowData) else copy.deepcopy(self.data),
            "buttons": {bid: asdict(meaning) for bid, meaning in self.buttons.items()},
            "pressed": list(self.pressed),
            "group_seq": self.group_seq,
            "misses": self.misses,
            "resume_flow": self.resume_flow,
            "resume_data": copy.deepcopy(self.resume_data),
            "lang_chosen": self.lang_chosen,
            "shown": list(self.shown),
        }

    @classmethod
    def from_row(
        cls, *, lang: str, flow: str | None, step: str | None, data: dict[str, Any] | None
    ) -> ConversationState:
        data = dict(data or {})
        buttons = {
            str(k): ButtonMeaning(**v)
            for k, v in (data.pop("buttons", None) or {}).items()
            if isinstance(v, dict)
        }
        known = {f for f in cls.__dataclass_fields__ if f not in {"lang", "flow", "step", "buttons"}}
        kwargs = {k: v for k, v in data.items() if k in known}
        return cls(lang=lang, flow=flow, step=step, buttons=buttons, **kwargs)

    # -- flows -------------------------------------------------------------------------------
    def enter(self, flow: str, step: str, data: FlowData) -> None:
        self.flow, self.step, self.data = flow, step, data

    @property
    def flow_id(self) -> str:
        """The id of the flow run in progress ("" outside a flow)."""
        if isinstance(self.data, FlowData):
            return self.data.flow_id
        return str(self.data.get("flow_id", ""))

    def follow_language(self, text: str) -> None:
        """Reply in the language `text` is written in, unless the seller chose one with /lang."""
        if not self.lang_chosen:
            self.lang = detect_language(text, self.lang)

    def leave_flow(self) -> None:
        self.flow, self.step, self.data = None, None, {}

    def forget_resume(self) -> None:
        """No flow waits for the account to be linked any more."""
        self.resume_flow, self.resume_data = None, {}

    # -- buttons -----------------------------------------------------------------------------
    def new_button_group(self) -> int:
        self.group_seq += 1
        live = sorted({m.group for m in self.buttons.values()})
        for old in live[: max(0, len(live) - (LIVE_BUTTON_GROUPS - 1))]:
            self._retire_group(old, remember=False)
        return self.group_seq

    def add_button(self, meaning: ButtonMeaning) -> str:
        # Short, opaque, and not guessable from the previous one.
        while True:
            button_id = f"{meaning.group:x}{secrets.token_hex(2)}"
            if button_id not in self.buttons:
                break
        self.buttons[button_id] = meaning
        return button_id

    def press(self, button_id: str) -> ButtonMeaning | None:
        """The meaning of a pressed button, retiring its group; None if unknown or already used."""
        meaning = self.buttons.get(button_id)
        if meaning is None:
            return None
        self._retire_group(meaning.group, remember=True)
        return meaning

    def show(self, button_ids: list[str]) -> None:
        """The buttons just shown, in order (on channels that number them)."""
        self.shown = list(button_ids)

    def was_pressed(self, button_id: str) -> bool:
        return button_id in self.pressed

    def _retire_group(self, group: int, *, remember: bool) -> None:
        for bid in [b for b, m in self.buttons.items() if m.group == group]:
            del self.buttons[bid]
            if remember:
                self.pressed.append(bid)
        del self.pressed[:-REMEMBERED_PRESSES]
