"""Linking this chat user to a merchant account: registered e-mail → 6-digit code → typed back.

The reply after the e-mail is the same whether or not the address is registered, so the chat
cannot be used to find out who sells on Joom.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from handlers.context import TurnContext
from handlers.flows.base import Answer, Flow, On, resume_after_link, step_table
from handlers.helpers import explain_refusal
from handlers.state import FlowData
from services.email_address import clean_email, email_key, is_valid_email
from services.linking import request_link_code, unlink, verify_link_code
from services.results import Refused, Rule

_CODE_RE = re.compile(r"^\D*(\d(?:[\s-]?\d){5})\D*$")


def extract_code(text: str) -> str | None:
    """The 6 digits of a code typed as "123456", "123 456" or "code: 123-456"."""
    match = _CODE_RE.match(text.strip())
    return re.sub(r"\D", "", match.group(1)) if match else None


class Step(StrEnum):
    EMAIL = "email"
    CODE = "code"
    ALREADY_LINKED = "already_linked"


@dataclass
class LinkAnswers(FlowData):
    email: str | None = None
    # codes sent in this run: each send has its own idempotency key
    codes_sent: int = 0


class LinkFlow(Flow[LinkAnswers]):
    name = "link"
    command = "link"
    payload = "link"
    needs_account = False
    answers_type = LinkAnswers

    async def begin(self, ctx: TurnContext) -> None:
        if await ctx.account_id() is not None and ctx.state.resume_flow is None:
            self.enter(ctx, Step.ALREADY_LINKED)
            await self._ask_already_linked(ctx)
            return
        self.enter(ctx, Step.EMAIL)
        if ctx.state.resume_flow:
            ctx.say("link.intro_for", action=ctx.text(f"actions.{ctx.state.resume_flow}"))
        else:
            ctx.say("link.intro")
        await self.prompt(ctx)

    # -- the steps --------------------------------------------------------------------------
    async def _ask_email(self, ctx: TurnContext) -> None:
        ctx.say("link.ask_email")

    async def _take_email(self, ctx: TurnContext, text: str) -> bool:
        email = clean_email(text)
        if not is_valid_email(email):
            ctx.say("link.email_invalid")
            return False
        self.answers(ctx).email = email
        await self._send_code(ctx)
        return True

    async def _ask_code(self, ctx: TurnContext) -> None:
        ctx.say("link.ask_code", buttons=self._code_buttons(ctx), minutes=ctx.core.policy.link_code_minutes)

    async def _take_code(self, ctx: TurnContext, text: str) -> bool:
        code = extract_code(text)
        if code is None:
            ctx.say("link.code_format")
            return False
        await self._verify(ctx, code)
        return True

    async def _ask_already_linked(self, ctx: TurnContext) -> None:
        buttons = self.choices(ctx, (ctx.text("link.relink"), "relink"), self.cancel_choice(ctx))
        ctx.say("link.already_linked", buttons=buttons)

    async def _choose(self, ctx: TurnContext, value: Any) -> None:
        """The buttons of the code and already-linked steps."""
        if value == "resend" and self.answers(ctx).email:
            await self._send_code(ctx)
        elif value == "email":
            self.goto(ctx, Step.EMAIL)
            await self.prompt(ctx)
        elif value == "relink":
            await unlink(
                sessions=ctx.core.sessions,
                channel=ctx.inbound.channel,
                chat_user_id=ctx.inbound.user_id,
                actor=ctx.actor,
                now=ctx.now,
            )
            ctx.forget_account()
            self.goto(ctx, Step.EMAIL)
            await self.prompt(ctx)
        else:
            await self.prompt(ctx)

    steps = step_table(
        {
            Step.EMAIL: On(ask=_ask_email, text=_take_email),
            Step.CODE: On(ask=_ask_code, text=_take_code, choice=_choose),
            Step.ALREADY_LINKED: On(ask=_ask_already_linked, choice=_choose, answer=Answer.BUTTONS),
        }
    )

    def _code_buttons(self, ctx: TurnContext) -> list:
        return self.choices(ctx, (ctx.text("link.resend"), "resend"), (ctx.text("link.other_email"), "email"))

    async def _send_code(self, ctx: TurnContext) -> None:
        # Each code this flow sends has its own key: a resend is a new code, while the same
        # send made twice (two messages handled at once, a turn retried) mails one. The address
        # is part of the key, so two different addresses sent at once are two sends.
        answers = self.answers(ctx)
        assert answers.email is not None
        sent = int(answers.codes_sent)
        address = hashlib.sha256(email_key(answers.email).encode()).hexdigest()[:16]
        result = await request_link_code(
            sessions=ctx.core.sessions,
            policy=ctx.core.policy,
            mail=ctx.core.mail,
            channel=ctx.inbound.channel,
            chat_user_id=ctx.inbound.user_id,
            email=answers.email,
            lang=ctx.lang,
            idempotency_key=ctx.idempotency_key(f"link_code_{sent + 1}_{address}"),
            now=ctx.now,
        )
        if isinstance(result, Refused):
            explain_refusal(ctx, result)
            if Rule.EMAIL_INVALID in result.rules:
                self.goto(ctx, Step.EMAIL)
            return
        answers.codes_sent = sent + 1
        self.goto(ctx, Step.CODE)
        ctx.say(
            "link.code_sent",
            buttons=self._code_buttons(ctx),
            minutes=result.value.minutes,
            attempts=result.value.attempts,
        )

    async def _verify(self, ctx: TurnContext, code: str) -> None:
        result = await verify_link_code(
            sessions=ctx.core.sessions,
            policy=ctx.core.policy,
            channel=ctx.inbound.channel,
            chat_user_id=ctx.inbound.user_id,
            code=code,
            now=ctx.now,
        )
        if isinstance(result, Refused):
            explain_refusal(ctx, result)
            if result.rules & {Rule.CODE_EXPIRED, Rule.CODE_ATTEMPTS_EXHAUSTED}:
                ctx.say("link.ask_new_code", buttons=self._code_buttons(ctx))
            return
        self.finish(ctx)
        ctx.say("link.linked")
        await resume_after_link(ctx)
