"""What the seller can look up about their own account: stores, limits and open requests, and
the account's status (KYC, payout account, rating).

Private chat only (account data never appears in a group), and only for a linked chat user.
They answer at once: no steps, nothing collected.
"""

from __future__ import annotations

from handlers.context import TurnContext
from handlers.flows.base import Flow
from handlers.helpers import explain_refusal, load_account
from handlers.state import FlowData
from services.explain import label
from services.results import refuse
from services.stores import account_blockers, list_stores


class StoresFlow(Flow[FlowData]):
    name = "stores"
    command = "stores"
    kb_action = "show_stores"
    payload = "stores"
    personal_intents = ("store_management",)

    async def begin(self, ctx: TurnContext) -> None:
        account_id = await ctx.account_id()
        if account_id is None:
            ctx.say("errors.not_linked")
            return
        async with ctx.core.sessions() as session:
            stores = await list_stores(session, account_id=account_id)
        if not stores:
            ctx.say(
                "account.no_stores",
                buttons=ctx.buttons((ctx.text("actions.open_store"), "flow", "open_store")),
            )
            return
        rows = [
            {
                "title": s.title,
                "specialization": label("specialization", s.specialization.value, ctx.lang)
                if s.specialization
                else None,
                "rating": label("rating", s.rating.value, ctx.lang),
                "enabled": s.enabled,
                "banned": s.banned_at is not None,
                "listings": s.listings,
                "blockers": [label("blocker", b, ctx.lang) for b in s.selling_blockers],
            }
            for s in stores
        ]
        ctx.say("account.stores", stores=rows)


class LimitsFlow(Flow[FlowData]):
    name = "limits"
    command = "limits"
    kb_action = "show_limits"
    payload = "limits"
    personal_intents = ("store_limits", "open_store", "quota_increase")

    async def begin(self, ctx: TurnContext) -> None:
        account = await load_account(ctx)
        if account is None:
            ctx.say("errors.not_linked")
            return
        requests = [
            {
                "id": r.id,
                "kind": label("kind", r.kind.value, ctx.lang),
                "status": label("status", r.status.value, ctx.lang),
            }
            for r in account.open_requests
        ]
        buttons = []
        if not account.increase_blockers:
            buttons = ctx.buttons((ctx.text("actions.quota"), "flow", "quota"))
        ctx.say(
            "account.limits",
            buttons=buttons,
            stores=account.stores,
            store_limit=account.store_limit,
            free=account.free_store_slots,
            listing_limit=account.listing_limit,
            hard_cap=ctx.core.policy.listing_hard_cap,
            requests=requests,
            eligible=not account.increase_blockers,
        )
        if account.increase_blockers:
            # A dry run of the eligibility check: every rule and store, as a refusal would name
            # them, with nothing submitted.
            explain_refusal(ctx, refuse(*account.increase_blockers))


class StatusFlow(Flow[FlowData]):
    """The account's status: is KYC approved, is a payout account bound, and what of the account
    stops stores from selling."""

    name = "status"
    personal_intents = ("kyc", "payment_account")

    async def begin(self, ctx: TurnContext) -> None:
        account = await load_account(ctx)
        if account is None:
            ctx.say("errors.not_linked")
            return
        blockers = account_blockers(account.state, account.kyc, account.payout)
        ctx.say(
            "account.status",
            company=account.company,
            state=label("state", account.state.value, ctx.lang),
            kyc=label("kyc", account.kyc.value, ctx.lang),
            payout=label("payout", account.payout.value, ctx.lang),
            rating=label("rating", account.rating.value, ctx.lang),
            blockers=[label("blocker", b, ctx.lang) for b in blockers],
        )
