"""Changing the login e-mail: business-licence number + new address → confirmation link.

A licence that matches an account gets a confirmation link at the new address; opening it
changes the login and tells the old address. No match: a person takes the case over, with the
conversation, and nothing changes.
"""

from __future__ import annotations

from typing import Any

from handlers.context import TurnContext
from handlers.flows.base import Flow
from handlers.helpers import explain_refusal
from services.email_address import clean_email, is_valid_email
from services.email_change import NeedsAgent, request_email_change
from services.results import Refused, Rule, refuse
from services.uscc import licence_violation, normalize_licence


class ChangeEmailFlow(Flow):
    name = "change_email"
    button_steps = frozenset({"confirm"})
    needs_account = False

    async def begin(self, ctx: TurnContext) -> None:
        self.enter(ctx, "licence")
        ctx.say("change_email.intro")
        await self.prompt(ctx)

    async def prompt(self, ctx: TurnContext) -> None:
        step, data = ctx.state.step, ctx.state.data
        if step == "licence":
            ctx.say("change_email.ask_licence")
        elif step == "new_email":
            ctx.say("change_email.ask_new_email")
        elif step == "confirm":
            buttons = self.choices(
                ctx,
                (ctx.text("actions.confirm"), "confirm"),
                (ctx.text("change_email.edit_licence"), "edit_licence"),
                (ctx.text("change_email.edit_email"), "edit_email"),
                self.cancel_choice(ctx),
            )
            ctx.say(
                "change_email.summary", buttons=buttons, licence=data["licence"], new_email=data["new_email"]
            )

    async def on_text(self, ctx: TurnContext, text: str) -> bool:
        step, data = ctx.state.step, ctx.state.data
        if step == "licence":
            bad_licence = licence_violation(text)
            if bad_licence is not None:
                if not any(ch.isdigit() for ch in normalize_licence(text)):
                    ctx.say("change_email.licence_invalid_short")
                    return False  # not a licence at all: maybe a question
                explain_refusal(ctx, refuse(bad_licence))
                return True
            data["licence"] = normalize_licence(text)
            self.goto(ctx, "confirm" if data.get("new_email") else "new_email")
            await self.prompt(ctx)
            return True
        if step == "new_email":
            email = clean_email(text)
            if not is_valid_email(email):
                ctx.say("change_email.email_invalid")
                return False
            data["new_email"] = email
            self.goto(ctx, "confirm")
            await self.prompt(ctx)
            return True
        ctx.say("flows.use_buttons")
        return False

    async def on_choice(self, ctx: TurnContext, value: Any) -> None:
        if ctx.state.step != "confirm":
            await self.prompt(ctx)
        elif value == "confirm":
            await self._request(ctx)
        elif value == "edit_licence":
            self.goto(ctx, "licence")
            await self.prompt(ctx)
        elif value == "edit_email":
            self.goto(ctx, "new_email")
            await self.prompt(ctx)

    async def _request(self, ctx: TurnContext) -> None:
        data = ctx.state.data
        result = await request_email_change(
            sessions=ctx.core.sessions,
            policy=ctx.core.policy,
            mail=ctx.core.mail,
            licence=data["licence"],
            new_email=data["new_email"],
            lang=ctx.lang,
            actor=ctx.actor,
            idempotency_key=ctx.idempotency_key("email_change"),
            now=ctx.now,
        )
        if isinstance(result, Refused):
            explain_refusal(ctx, result)
            if Rule.LICENCE_INVALID in result.rules:
                self.goto(ctx, "licence")
            elif Rule.EMAIL_INVALID in result.rules or "email_unchanged" in {r.value for r in result.rules}:
                self.goto(ctx, "new_email")
            else:
                self.finish(ctx)
                return
            await self.prompt(ctx)
            return
        self.finish(ctx)
        outcome = result.value
        if isinstance(outcome, NeedsAgent):
            from handlers.handoff import hand_off

            ctx.say("change_email.needs_agent")
            await hand_off(ctx, reason="email_change_no_match")
            return
        ctx.say("change_email.confirmation_sent", masked=outcome.new_email_masked, minutes=outcome.minutes)
