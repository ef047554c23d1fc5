"""Requesting more stores or more listing capacity.

The seller picks what to ask for, sees the eligibility verdict at once (every failed condition,
with the stores concerned and what to do), and confirms an eligible request. The service
checks everything again on confirm, so a verdict that went stale in between cannot slip through.
"""

from __future__ import annotations

from typing import Any

from handlers.context import TurnContext
from handlers.flows.base import Flow
from handlers.helpers import explain_refusal
from services.models import RequestKind, RequestStatus
from services.quota import preview_increase, request_increase
from services.results import Refused, refuse

KINDS = {"store_quota": RequestKind.STORE_QUOTA, "listing_capacity": RequestKind.LISTING_CAPACITY}
_KIND_WORDS = {
    "store_quota": ("store", "shop", "店铺", "店"),
    "listing_capacity": ("listing", "product", "sku", "商品", "产品", "库容", "上架"),
}


def kind_named_in(text: str) -> str | None:
    """The limit a message names, if it names exactly one: more stores or more listings."""
    lowered = text.casefold()
    kinds = [k for k, words in _KIND_WORDS.items() if any(w in lowered for w in words)]
    return kinds[0] if len(kinds) == 1 else None


class QuotaFlow(Flow):
    name = "quota"
    button_steps = frozenset({"kind", "confirm"})

    async def begin(self, ctx: TurnContext) -> None:
        self.enter(ctx, "kind")
        await self.prompt(ctx)

    async def resume(self, ctx: TurnContext, data: dict[str, Any]) -> None:
        """Start with the kind already named ("raise my listing limit"), or ask for it."""
        self.enter(ctx, "kind")
        if data.get("kind") in KINDS:
            await self._verdict(ctx, str(data["kind"]))
        else:
            await self.prompt(ctx)

    async def prompt(self, ctx: TurnContext) -> None:
        step, data = ctx.state.step, ctx.state.data
        if step == "kind":
            buttons = self.choices(
                ctx,
                (ctx.text("quota.kind_store_quota"), "store_quota"),
                (ctx.text("quota.kind_listing_capacity"), "listing_capacity"),
                self.cancel_choice(ctx),
            )
            ctx.say("quota.ask_kind", buttons=buttons)
        elif step == "confirm":
            buttons = self.choices(ctx, (ctx.text("actions.confirm"), "confirm"), self.cancel_choice(ctx))
            ctx.say(
                f"quota.confirm_{data['kind']}", buttons=buttons, before=data["before"], after=data["after"]
            )

    async def on_text(self, ctx: TurnContext, text: str) -> bool:
        if ctx.state.step == "kind":
            kind = kind_named_in(text)
            if kind is not None:
                await self._verdict(ctx, kind)
                return True
        ctx.say("flows.use_buttons")
        return False

    async def on_choice(self, ctx: TurnContext, value: Any) -> None:
        step = ctx.state.step
        if step == "kind" and value in KINDS:
            await self._verdict(ctx, value)
        elif step == "confirm" and value == "confirm":
            await self._request(ctx)
        else:
            await self.prompt(ctx)

    async def _verdict(self, ctx: TurnContext, kind: str) -> None:
        account_id = await ctx.account_id()
        preview = None
        if account_id is not None:
            async with ctx.core.sessions() as session:
                preview = await preview_increase(
                    session, account_id=account_id, kind=KINDS[kind], policy=ctx.core.policy, now=ctx.now
                )
        if preview is None:
            self.finish(ctx)
            ctx.say("errors.not_linked")
            return
        if preview.violations:
            self.finish(ctx)
            ctx.say("quota.not_eligible")
            explain_refusal(ctx, refuse(*preview.violations))
            return
        ctx.state.data.update(kind=kind, before=preview.before, after=preview.after)
        self.goto(ctx, "confirm")
        await self.prompt(ctx)

    async def _request(self, ctx: TurnContext) -> None:
        account_id = await ctx.account_id()
        kind = ctx.state.data["kind"]
        # The key names this flow (its id is in the flow's data): taken before the flow ends, or
        # every request of the conversation would share one key and replay the first.
        idempotency_key = ctx.idempotency_key(f"request_{kind}")
        self.finish(ctx)
        if account_id is None:
            ctx.say("errors.not_linked")
            return
        result = await request_increase(
            sessions=ctx.core.sessions,
            policy=ctx.core.policy,
            account_id=account_id,
            kind=KINDS[kind],
            actor=ctx.actor,
            idempotency_key=idempotency_key,
            now=ctx.now,
        )
        if isinstance(result, Refused):
            ctx.say("quota.not_eligible")
            explain_refusal(ctx, result)
            return
        request = result.value
        if request.status is RequestStatus.APPROVED:
            ctx.say(f"quota.approved_{kind}", before=request.limit_before, after=request.limit_after)
        else:
            ctx.say("quota.queued", request_id=request.id)
