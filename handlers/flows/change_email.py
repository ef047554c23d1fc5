"""Changing the login e-mail: business-licence number + new address → confirmation link.

A licence that matches an account gets a confirmation link at the new address; opening it
changes the login and tells the old address. No match: a person takes the case over, with the
conversation, and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from handlers.context import TurnContext
from handlers.flows.base import Answer, Flow, On, step_table
from handlers.handoff import hand_off
from handlers.helpers import explain_refusal
from handlers.state import FlowData
from services.email_address import clean_email, is_valid_email
from services.email_change import NeedsAgent, request_email_change
from services.results import Refused, Rule, refuse
from services.uscc import licence_violation, normalize_licence


class Step(StrEnum):
    LICENCE = "licence"
    NEW_EMAIL = "new_email"
    CONFIRM = "confirm"


@dataclass
class ChangeEmailAnswers(FlowData):
    licence: str | None = None
    new_email: str | None = None


class ChangeEmailFlow(Flow[ChangeEmailAnswers]):
    name = "change_email"
    kb_action = "change_email"
    payload = "change_email"
    needs_account = False
    answers_type = ChangeEmailAnswers

    async def begin(self, ctx: TurnContext) -> None:
        self.enter(ctx, Step.LICENCE)
        ctx.say("change_email.intro")
        await self.prompt(ctx)

    async def _ask_licence(self, ctx: TurnContext) -> None:
        ctx.say("change_email.ask_licence")

    async def _take_licence(self, ctx: TurnContext, text: str) -> bool:
        bad_licence = licence_violation(text)
        if bad_licence is not None:
            if not any(ch.isdigit() for ch in normalize_licence(text)):
                ctx.say("change_email.licence_invalid_short")
                return False  # not a licence at all: maybe a question
            explain_refusal(ctx, refuse(bad_licence))
            return True
        answers = self.answers(ctx)
        answers.licence = normalize_licence(text)
        self.goto(ctx, Step.CONFIRM if answers.new_email else Step.NEW_EMAIL)
        await self.prompt(ctx)
        return True

    async def _ask_new_email(self, ctx: TurnContext) -> None:
        ctx.say("change_email.ask_new_email")

    async def _take_new_email(self, ctx: TurnContext, text: str) -> bool:
        email = clean_email(text)
        if not is_valid_email(email):
            ctx.say("change_email.email_invalid")
            return False
        self.answers(ctx).new_email = email
        self.goto(ctx, Step.CONFIRM)
        await self.prompt(ctx)
        return True

    async def _ask_confirm(self, ctx: TurnContext) -> None:
        answers = self.answers(ctx)
        buttons = self.choices(
            ctx,
            (ctx.text("actions.confirm"), "confirm"),
            (ctx.text("change_email.edit_licence"), "edit_licence"),
            (ctx.text("change_email.edit_email"), "edit_email"),
            self.cancel_choice(ctx),
        )
        ctx.say("change_email.summary", buttons=buttons, licence=answers.licence, new_email=answers.new_email)

    async def _confirm(self, ctx: TurnContext, value: Any) -> None:
        if value == "confirm":
            await self._request(ctx)
            return
        if value == "edit_licence":
            self.goto(ctx, Step.LICENCE)
        elif value == "edit_email":
            self.goto(ctx, Step.NEW_EMAIL)
        await self.prompt(ctx)

    steps = step_table(
        {
            Step.LICENCE: On(ask=_ask_licence, text=_take_licence),
            Step.NEW_EMAIL: On(ask=_ask_new_email, text=_take_new_email),
            Step.CONFIRM: On(ask=_ask_confirm, text=Flow.use_buttons, choice=_confirm, answer=Answer.BUTTONS),
        }
    )

    async def _request(self, ctx: TurnContext) -> None:
        answers = self.answers(ctx)
        assert answers.licence is not None and answers.new_email is not None
        result = await request_email_change(
            sessions=ctx.core.sessions,
            policy=ctx.core.policy,
            mail=ctx.core.mail,
            licence=answers.licence,
            new_email=answers.new_email,
            lang=ctx.lang,
            actor=ctx.actor,
            idempotency_key=ctx.idempotency_key("email_change"),
            now=ctx.now,
        )
        if isinstance(result, Refused):
            explain_refusal(ctx, result)
            if Rule.LICENCE_INVALID in result.rules:
                self.goto(ctx, Step.LICENCE)
            elif Rule.EMAIL_INVALID in result.rules or "email_unchanged" in {r.value for r in result.rules}:
                self.goto(ctx, Step.NEW_EMAIL)
            else:
                self.finish(ctx)
                return
            await self.prompt(ctx)
            return
        self.finish(ctx)
        outcome = result.value
        if isinstance(outcome, NeedsAgent):
            ctx.say("change_email.needs_agent")
            await hand_off(ctx, reason="email_change_no_match")
            return
        ctx.say("change_email.confirmation_sent", masked=outcome.new_email_masked, minutes=outcome.minutes)
