"""Linking this chat user to a merchant account: registered e-mail → 6-digit code → typed back.

The reply after the e-mail is the same whether or not the address is registered, so the chat
cannot be used to find out who sells on Joom.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from handlers.context import TurnContext
from handlers.flows.base import Flow, resume_after_link
from handlers.helpers import explain_refusal
from services.email_address import clean_email, email_key, is_valid_email
from services.linking import request_link_code, unlink, verify_link_code
from services.results import Refused, Rule

_CODE_RE = re.compile(r"^\D*(\d(?:[\s-]?\d){5})\D*$")


def extract_code(text: str) -> str | None:
    """The 6 digits of a code typed as "123456", "123 456" or "code: 123-456"."""
    match = _CODE_RE.match(text.strip())
    return re.sub(r"\D", "", match.group(1)) if match else None


class LinkFlow(Flow):
    name = "link"
    button_steps = frozenset({"already_linked"})
    needs_account = False

    async def begin(self, ctx: TurnContext) -> None:
        if await ctx.account_id() is not None and ctx.state.resume_flow is None:
            self.enter(ctx, "already_linked")
            buttons = self.choices(ctx, (ctx.text("link.relink"), "relink"), self.cancel_choice(ctx))
            ctx.say("link.already_linked", buttons=buttons)
            return
        self.enter(ctx, "email")
        if ctx.state.resume_flow:
            ctx.say("link.intro_for", action=ctx.text(f"actions.{ctx.state.resume_flow}"))
        else:
            ctx.say("link.intro")
        await self.prompt(ctx)

    async def prompt(self, ctx: TurnContext) -> None:
        step = ctx.state.step
        if step == "email":
            ctx.say("link.ask_email")
        elif step == "code":
            buttons = self.choices(
                ctx, (ctx.text("link.resend"), "resend"), (ctx.text("link.other_email"), "email")
            )
            ctx.say("link.ask_code", buttons=buttons, minutes=ctx.core.policy.link_code_minutes)
        elif step == "already_linked":
            buttons = self.choices(ctx, (ctx.text("link.relink"), "relink"), self.cancel_choice(ctx))
            ctx.say("link.already_linked", buttons=buttons)

    async def on_text(self, ctx: TurnContext, text: str) -> bool:
        step = ctx.state.step
        if step == "email":
            email = clean_email(text)
            if not is_valid_email(email):
                ctx.say("link.email_invalid")
                return False
            ctx.state.data["email"] = email
            await self._send_code(ctx)
            return True
        if step == "code":
            code = extract_code(text)
            if code is None:
                ctx.say("link.code_format")
                return False
            await self._verify(ctx, code)
            return True
        return False

    async def on_choice(self, ctx: TurnContext, value: Any) -> None:
        if value == "resend" and ctx.state.data.get("email"):
            await self._send_code(ctx)
        elif value == "email":
            self.goto(ctx, "email")
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
            self.goto(ctx, "email")
            await self.prompt(ctx)
        else:
            await self.prompt(ctx)

    async def _send_code(self, ctx: TurnContext) -> None:
        # Each code this flow sends has its own key: a resend is a new code, while the same
        # send made twice (two messages handled at once, a turn retried) mails one. The address
        # is part of the key, so two different addresses sent at once are two sends.
        sent = int(ctx.state.data.get("codes_sent", 0))
        address = hashlib.sha256(email_key(ctx.state.data["email"]).encode()).hexdigest()[:16]
        result = await request_link_code(
            sessions=ctx.core.sessions,
            policy=ctx.core.policy,
            mail=ctx.core.mail,
            channel=ctx.inbound.channel,
            chat_user_id=ctx.inbound.user_id,
            email=ctx.state.data["email"],
            lang=ctx.lang,
            idempotency_key=ctx.idempotency_key(f"link_code_{sent + 1}_{address}"),
            now=ctx.now,
        )
        if isinstance(result, Refused):
            explain_refusal(ctx, result)
            if Rule.EMAIL_INVALID in result.rules:
                self.goto(ctx, "email")
            return
        ctx.state.data["codes_sent"] = sent + 1
        self.goto(ctx, "code")
        buttons = self.choices(
            ctx, (ctx.text("link.resend"), "resend"), (ctx.text("link.other_email"), "email")
        )
        ctx.say(
            "link.code_sent", buttons=buttons, minutes=result.value.minutes, attempts=result.value.attempts
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
                buttons = self.choices(
                    ctx, (ctx.text("link.resend"), "resend"), (ctx.text("link.other_email"), "email")
                )
                ctx.say("link.ask_new_code", buttons=buttons)
            return
        self.finish(ctx)
        ctx.say("link.linked")
        await resume_after_link(ctx)
