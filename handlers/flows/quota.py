"""Requesting more stores or more listing capacity.

The seller picks what to ask for, sees the eligibility verdict at once (every failed condition,
with the stores concerned and what to do), and confirms an eligible request. The service
checks everything again on confirm, so a verdict that went stale in between cannot slip through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from handlers.context import TurnContext
from handlers.flows.base import Answer, Flow, On, step_table
from handlers.helpers import explain_refusal
from handlers.state import FlowData
from services.models import RequestKind, RequestStatus
from services.quota import IncreasePreview, preview_increase, request_increase
from services.results import Refused, Violation, refuse

KINDS = {"store_quota": RequestKind.STORE_QUOTA, "listing_capacity": RequestKind.LISTING_CAPACITY}
_KIND_WORDS = {
    "store_quota": ("store", "shop", "店铺", "店"),
    "listing_capacity": ("listing", "product", "sku", "商品", "产品", "库容", "上架"),
}


# "单店商品上限", "listings per store": the store there only says what the listing limit counts.
_PER_STORE = re.compile(r"单店|每个?[家间]?店铺?|per (store|shop)|each (store|shop)|a (store|shop)\b")


def kind_named_in(text: str) -> str | None:
    """The limit a message names, if it names exactly one: more stores or more listings."""
    lowered = _PER_STORE.sub(" ", text.casefold())
    kinds = [k for k, words in _KIND_WORDS.items() if any(w in lowered for w in words)]
    return kinds[0] if len(kinds) == 1 else None


class Step(StrEnum):
    KIND = "kind"
    CONFIRM = "confirm"


@dataclass
class QuotaAnswers(FlowData):
    kind: str | None = None  # one of KINDS
    # the limit now and once the request is granted, as the verdict found them
    before: int | None = None
    after: int | None = None


class QuotaFlow(Flow[QuotaAnswers]):
    name = "quota"
    kb_action = "request_increase"
    payload = "quota"
    answers_type = QuotaAnswers

    async def begin(self, ctx: TurnContext) -> None:
        self.enter(ctx, Step.KIND)
        await self._settle_kind(ctx)

    async def resume(self, ctx: TurnContext, answers: QuotaAnswers) -> None:
        """Start with the kind already named ("raise my listing limit"), or settle it."""
        self.enter(ctx, Step.KIND)
        if answers.kind in KINDS:
            await self._verdict(ctx, str(answers.kind))
        else:
            await self._settle_kind(ctx)

    async def _settle_kind(self, ctx: TurnContext) -> None:
        """Which limit, when the words leave it open: the account settles it where only one of
        the two can be requested (the listing limit is at its cap, or one request is already
        open), and refuses at once, naming every rule, where neither can; otherwise it asks."""
        previews = await self._previews(ctx, list(KINDS))
        if previews is None:
            self.finish(ctx)
            ctx.say("errors.not_linked")
            return
        open_kinds = [kind for kind, preview in previews.items() if not preview.violations]
        if len(open_kinds) == 1:
            (kind,) = open_kinds
            (closed,) = [k for k in KINDS if k != kind]
            ctx.say("quota.only_kind", other=ctx.text(f"quota.kind_{closed}"))
            explain_refusal(ctx, refuse(*previews[closed].violations))
            self._await_confirmation(ctx, kind, previews[kind])
            await self.prompt(ctx)
        elif not open_kinds:
            self.finish(ctx)
            ctx.say("quota.not_eligible")
            violations: list[Violation] = []
            for preview in previews.values():  # both kinds share the eligibility rules: name them once
                violations += [v for v in preview.violations if v not in violations]
            explain_refusal(ctx, refuse(*violations))
        else:
            await self.prompt(ctx)

    async def _previews(self, ctx: TurnContext, kinds: list[str]) -> dict[str, IncreasePreview] | None:
        """The verdict a request of each of `kinds` would get now (None: no linked account)."""
        account_id = await ctx.account_id()
        if account_id is None:
            return None
        previews = {}
        async with ctx.core.sessions() as session:
            for kind in kinds:
                preview = await preview_increase(
                    session, account_id=account_id, kind=KINDS[kind], policy=ctx.core.policy, now=ctx.now
                )
                if preview is None:
                    return None
                previews[kind] = preview
        return previews

    def answers_in(self, text: str) -> QuotaAnswers | None:
        kind = kind_named_in(text)
        return QuotaAnswers(kind=kind) if kind is not None else None

    async def _ask_kind(self, ctx: TurnContext) -> None:
        buttons = self.choices(
            ctx,
            (ctx.text("quota.kind_store_quota"), "store_quota"),
            (ctx.text("quota.kind_listing_capacity"), "listing_capacity"),
            self.cancel_choice(ctx),
        )
        ctx.say("quota.ask_kind", buttons=buttons)

    async def _take_kind(self, ctx: TurnContext, text: str) -> bool:
        kind = kind_named_in(text)
        if kind is None:
            return await self.use_buttons(ctx, text)
        await self._verdict(ctx, kind)
        return True

    async def _choose_kind(self, ctx: TurnContext, value: Any) -> None:
        if value in KINDS:
            await self._verdict(ctx, value)
        else:
            await self.prompt(ctx)

    async def _ask_confirm(self, ctx: TurnContext) -> None:
        answers = self.answers(ctx)
        buttons = self.choices(ctx, (ctx.text("actions.confirm"), "confirm"), self.cancel_choice(ctx))
        ctx.say(f"quota.confirm_{answers.kind}", buttons=buttons, before=answers.before, after=answers.after)

    async def _confirm(self, ctx: TurnContext, value: Any) -> None:
        if value == "confirm":
            await self._request(ctx)
        else:
            await self.prompt(ctx)

    steps = step_table(
        {
            Step.KIND: On(ask=_ask_kind, text=_take_kind, choice=_choose_kind, answer=Answer.BUTTONS),
            Step.CONFIRM: On(ask=_ask_confirm, text=Flow.use_buttons, choice=_confirm, answer=Answer.BUTTONS),
        }
    )

    async def _verdict(self, ctx: TurnContext, kind: str) -> None:
        previews = await self._previews(ctx, [kind])
        if previews is None:
            self.finish(ctx)
            ctx.say("errors.not_linked")
            return
        preview = previews[kind]
        if preview.violations:
            self.finish(ctx)
            ctx.say("quota.not_eligible")
            explain_refusal(ctx, refuse(*preview.violations))
            return
        self._await_confirmation(ctx, kind, preview)
        await self.prompt(ctx)

    def _await_confirmation(self, ctx: TurnContext, kind: str, preview: IncreasePreview) -> None:
        """After an accepted verdict: keep the limit before and after, and wait for the confirmation."""
        answers = self.answers(ctx)
        answers.kind, answers.before, answers.after = kind, preview.before, preview.after
        self.goto(ctx, Step.CONFIRM)

    async def _request(self, ctx: TurnContext) -> None:
        account_id = await ctx.account_id()
        kind = str(self.answers(ctx).kind)
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
