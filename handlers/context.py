"""What a handler works with during one inbound message: the message, the conversation state,
the services, and the replies it is building."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from faq.matcher import Match
from handlers import replies
from handlers.deep_links import start_payload
from handlers.state import ButtonMeaning, ConversationState
from handlers.types import Button, ButtonKind, Inbound, Reply

if TYPE_CHECKING:
    from handlers.core import ConversationCore


@dataclass
class Understanding:
    """What the matcher made of the message (logged with the turn)."""

    intent: str | None = None
    score: float | None = None
    decision: str | None = None


@dataclass
class TurnContext:
    core: ConversationCore
    inbound: Inbound
    state: ConversationState
    conversation_id: int
    now: datetime
    replies: list[Reply] = field(default_factory=list)
    understood: Understanding = field(default_factory=Understanding)
    _account_id: int | None = None
    _account_looked_up: bool = False
    # the matcher's reading of the turn's text (asked, mid-flow, whether it is a request, a
    # question or a call for a person: one reading serves them all)
    _match: tuple[str, Match] | None = None
    # the label of the button pressed in this turn, for the transcript
    pressed_label: str | None = None
    # set when the conversation was handed to a person during this turn
    handed_off: bool = False
    # keep the message's files with its turn (the transcript of a handed-off conversation)
    keep_files: bool = False

    # -- language and replies -------------------------------------------------------------
    @property
    def lang(self) -> str:
        return self.state.lang

    def text(self, key: str, **context: Any) -> str:
        # `numbered`: the channel numbers the choices instead of showing buttons, so the words
        # say "reply with the number" rather than "tap the button".
        return replies.say(key, self.lang, numbered=self.inbound.numbered_choices, **context)

    def say(self, key: str, /, *, buttons: list[Button] | tuple[Button, ...] = (), **context: Any) -> None:
        """Add the reply `key` (from the catalogue) with optional buttons."""
        self.replies.append(Reply(text=self.text(key, **context), buttons=tuple(buttons)))

    def refuse_button(self, key: str = "buttons.expired") -> None:
        """Say that the pressed button was not taken (`buttons.expired` or
        `buttons.already_pressed`); nothing else changes."""
        self.replies.append(Reply(text=self.text(key), button_refused=True))

    def say_text(self, text: str, *, buttons: list[Button] | tuple[Button, ...] = ()) -> None:
        """Add a reply whose text was rendered elsewhere (a knowledge-base answer, a rule
        explanation)."""
        self.replies.append(Reply(text=text, buttons=tuple(buttons)))

    def buttons(self, *specs: tuple[str, str, Any]) -> list[Button]:
        """Buttons for one message: each spec is (label, action, value). They share one group,
        so pressing one retires the others (a second click is then "already done")."""
        group = self.state.new_button_group()
        made = []
        for label, action, value in specs:
            bid = self.state.add_button(ButtonMeaning(action=action, value=value, group=group, label=label))
            made.append(Button(id=bid, label=label))
        return made

    def private_chat_button(self, label: str, target: str) -> Button:
        """A button that opens the private chat with the bot at `target` (a flow's deep-link
        payload, "agent"), going on in this conversation's language."""
        return Button(id=start_payload(target, self.lang), label=label, kind=ButtonKind.PRIVATE_CHAT)

    # -- the seller's account -------------------------------------------------------------
    @property
    def actor(self) -> str:
        """Who acts, for the audit log: the chat user on their channel."""
        return f"{self.inbound.channel}:{self.inbound.user_id}"

    def match(self, text: str) -> Match:
        """The matcher's reading of `text`, made once per turn."""
        if self._match is None or self._match[0] != text:
            self._match = (text, self.core.matcher.match(text))
        return self._match[1]

    async def account_id(self) -> int | None:
        """The merchant account this chat user is linked to, if any (looked up once per turn)."""
        if not self._account_looked_up:
            self._account_id = await self.core.linked_account(self.inbound)
            self._account_looked_up = True
        return self._account_id

    def knows_account(self, account_id: int | None) -> None:
        """The linked account as the turn's first read found it (so it is not looked up again)."""
        self._account_id, self._account_looked_up = account_id, True

    def forget_account(self) -> None:
        self._account_looked_up = False

    def idempotency_key(self, action: str) -> str:
        """One effect per confirmed action: the key names the conversation, the flow's own id
        (fixed when the flow started) and the action, so a repeated confirm press or a redelivered
        message repeats nothing."""
        return f"conv{self.conversation_id}:{self.state.flow_id}:{action}"
