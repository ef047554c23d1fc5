"""Small pieces the flows share: explaining a refusal, loading the seller's account."""

from __future__ import annotations

from handlers.context import TurnContext
from services import explain
from services.accounts import AccountView, get_account
from services.results import Refused


def explain_refusal(ctx: TurnContext, refused: Refused) -> None:
    """One reply listing every rule that refused the action and what to do about each."""
    lines = explain.explain_refusal(refused, ctx.lang, policy=ctx.core.policy)
    if len(lines) == 1:
        ctx.say_text(lines[0])
    else:
        ctx.say("refusal.several", reasons=lines)


async def load_account(ctx: TurnContext) -> AccountView | None:
    account_id = await ctx.account_id()
    if account_id is None:
        return None
    async with ctx.core.sessions() as session:
        return await get_account(session, account_id=account_id, policy=ctx.core.policy, now=ctx.now)
