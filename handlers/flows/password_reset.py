"""Password reset: the link always goes to the account's registered address.

A linked seller confirms and the link goes to the registered address (shown masked). Anyone
else types the address; the reply is the same whether or not it belongs to an account.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from handlers.context import TurnContext
from handlers.flows.base import Answer, Flow, On, step_table
from handlers.helpers import explain_refusal, load_account
from handlers.state import FlowData
from services.email_address import clean_email, is_valid_email
from services.mail import mask_email
from services.password_reset import request_password_reset
from services.results import Refused


class Step(StrEnum):
    CONFIRM_LINKED = "confirm_linked"
    EMAIL = "email"


@dataclass
class ResetAnswers(FlowData):
    # the registered address of a linked seller, masked, as the confirmation shows it
    masked: str | None = None


class PasswordResetFlow(Flow[ResetAnswers]):
    name = "password_reset"
    kb_action = "send_reset_link"
    payload = "password_reset"
    needs_account = False
    answers_type = ResetAnswers

    async def begin(self, ctx: TurnContext) -> None:
        account = await load_account(ctx)
        if account is not None:
            self.enter(ctx, Step.CONFIRM_LINKED, ResetAnswers(masked=mask_email(account.email)))
        else:
            self.enter(ctx, Step.EMAIL)
        await self.prompt(ctx)

    async def _ask_confirm_linked(self, ctx: TurnContext) -> None:
        buttons = self.choices(ctx, (ctx.text("reset.send"), "send"), self.cancel_choice(ctx))
        ctx.say("reset.confirm_linked", buttons=buttons, masked=self.answers(ctx).masked)

    async def _confirm_linked(self, ctx: TurnContext, value: Any) -> None:
        if value != "send":
            await self.prompt(ctx)
            return
        account = await load_account(ctx)
        if account is None:
            self.goto(ctx, Step.EMAIL)
            await self.prompt(ctx)
            return
        await self._send(ctx, account.email, masked=self.answers(ctx).masked)

    async def _ask_email(self, ctx: TurnContext) -> None:
        ctx.say("reset.ask_email")

    async def _take_email(self, ctx: TurnContext, text: str) -> bool:
        email = clean_email(text)
        if not is_valid_email(email):
            ctx.say("reset.email_invalid")
            return False
        await self._send(ctx, email)
        return True

    steps = step_table(
        {
            Step.CONFIRM_LINKED: On(
                ask=_ask_confirm_linked, text=Flow.use_buttons, choice=_confirm_linked, answer=Answer.BUTTONS
            ),
            Step.EMAIL: On(ask=_ask_email, text=_take_email),
        }
    )

    async def _send(self, ctx: TurnContext, email: str, *, masked: str | None = None) -> None:
        """Send the link; `masked` is the registered address of a linked seller (who may be told
        where it went), None for an address typed in chat (answered the same either way)."""
        result = await request_password_reset(
            sessions=ctx.core.sessions,
            policy=ctx.core.policy,
            mail=ctx.core.mail,
            email=email,
            lang=ctx.lang,
            actor=ctx.actor,
            idempotency_key=ctx.idempotency_key("password_reset"),
            now=ctx.now,
        )
        self.finish(ctx)
        if isinstance(result, Refused):
            explain_refusal(ctx, result)
            return
        support = ctx.core.policy.support_email
        if masked is not None:
            ctx.say("reset.sent_linked", masked=masked, minutes=result.value.minutes, support_email=support)
        else:
            ctx.say("reset.sent", minutes=result.value.minutes, support_email=support)
