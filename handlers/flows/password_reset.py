"""Password reset: the link always goes to the account's registered address.

A linked seller confirms and the link goes to the registered address (shown masked). Anyone
else types the address; the reply is the same whether or not it belongs to an account.
"""

from __future__ import annotations

from typing import Any

from handlers.context import TurnContext
from handlers.flows.base import Flow
from handlers.helpers import explain_refusal, load_account
from services.email_address import clean_email, is_valid_email
from services.mail import mask_email
from services.password_reset import request_password_reset
from services.results import Refused


class PasswordResetFlow(Flow):
    name = "password_reset"
    button_steps = frozenset({"confirm_linked"})
    needs_account = False

    async def begin(self, ctx: TurnContext) -> None:
        account = await load_account(ctx)
        if account is not None:
            self.enter(ctx, "confirm_linked", masked=mask_email(account.email))
        else:
            self.enter(ctx, "email")
        await self.prompt(ctx)

    async def prompt(self, ctx: TurnContext) -> None:
        step = ctx.state.step
        if step == "confirm_linked":
            buttons = self.choices(ctx, (ctx.text("reset.send"), "send"), self.cancel_choice(ctx))
            ctx.say("reset.confirm_linked", buttons=buttons, masked=ctx.state.data["masked"])
        elif step == "email":
            ctx.say("reset.ask_email")

    async def on_text(self, ctx: TurnContext, text: str) -> bool:
        if ctx.state.step != "email":
            ctx.say("flows.use_buttons")
            return False
        email = clean_email(text)
        if not is_valid_email(email):
            ctx.say("reset.email_invalid")
            return False
        await self._send(ctx, email)
        return True

    async def on_choice(self, ctx: TurnContext, value: Any) -> None:
        if ctx.state.step == "confirm_linked" and value == "send":
            account = await load_account(ctx)
            if account is None:
                self.goto(ctx, "email")
                await self.prompt(ctx)
                return
            await self._send(ctx, account.email, masked=ctx.state.data["masked"])
        else:
            await self.prompt(ctx)

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
