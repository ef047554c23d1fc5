"""What the desk writes, from the catalogue (`desk.*` in handlers/replies): the context card,
topic names, and the support hours as agents read them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers import replies
from services.desk import Context
from services.explain import label
from services.handoff import HandoffView
from services.handoff_settings import HandoffSettings
from services.stores import StoreView

MAX_TOPIC_NAME = 128
CARD_TURN_CHARS = 300
REASONS = ("requested", "misses", "email_change_no_match")


def seller_name(context: Context) -> str:
    """The seller as agents know them: the company, else the chat name, else the chat user."""
    handoff = context.handoff
    if context.account is not None:
        return context.account.company
    return handoff.display_name or f"{handoff.channel} {handoff.user_id}"


def topic_name(context: Context, lang: str) -> str:
    name = replies.say(
        "desk.topic_name",
        lang,
        seller=seller_name(context)[:80],
        conversation=context.handoff.conversation_id,
    )
    return name[:MAX_TOPIC_NAME]


def closed_topic_name(name: str, lang: str) -> str:
    return replies.say("desk.topic_closed_name", lang, name=name)[:MAX_TOPIC_NAME]


def reason_text(reason: str, lang: str) -> str:
    if reason in REASONS:
        return replies.say(f"desk.reasons.{reason}", lang)
    return replies.say("desk.reasons.other", lang, reason=reason)


def language_name(code: str) -> str:
    return replies.say(f"commands.lang_{code}", code) if code in replies.LANGUAGES else code


def hours_text(settings: HandoffSettings, now: datetime, lang: str) -> str:
    hours = settings.hours
    if hours.around_the_clock:
        return ""
    back = hours.next_opening(now)
    if back is None:
        return replies.say("desk.on_duty", lang)
    return replies.say("desk.off_duty", lang, back=f"{back:%Y-%m-%d %H:%M} ({settings.time_zone})")


def _store_row(store: StoreView, lang: str) -> dict[str, Any]:
    if store.banned_at is not None:
        status = "banned"
    else:
        status = "open" if store.enabled else "closed"
    return {
        "title": store.title,
        "rating": label("rating", store.rating.value, lang),
        "listings": store.listings,
        "status": replies.say(f"desk.store_status.{status}", lang),
        "blockers": [label("blocker", b, lang) for b in store.selling_blockers],
    }


def _who(author: str | None, direction: str, lang: str) -> str:
    if direction == "in":
        return replies.say("desk.who_seller", lang)
    if author and author.startswith("agent:"):
        return replies.say("desk.who_agent", lang, name=author.removeprefix("agent:"))
    return replies.say("desk.who_bot", lang)


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= CARD_TURN_CHARS else flat[: CARD_TURN_CHARS - 1] + "…"


def card(
    context: Context,
    *,
    lang: str,
    settings: HandoffSettings,
    now: datetime,
    again: bool = False,
    recreated: bool = False,
) -> str:
    """The context card: who the seller is, their account, why they were handed over, when
    agents are there, and the last turns."""
    handoff: HandoffView = context.handoff
    account = context.account
    hours = settings.hours
    account_data = None
    if account is not None:
        account_data = {
            "company": account.company,
            "email": account.email,
            "state": label("state", account.state.value, lang),
            "kyc": replies.say(f"desk.kyc.{account.kyc.value}", lang),
            "payout": replies.say(f"desk.payout.{account.payout.value}", lang),
            "rating": label("rating", account.rating.value, lang),
            "stores": account.stores,
            "store_limit": account.store_limit,
            "listing_limit": account.listing_limit,
            "requests": [
                {
                    "id": r.id,
                    "kind": label("kind", r.kind.value, lang),
                    "status": label("status", r.status.value, lang),
                }
                for r in account.open_requests
            ],
        }
    return replies.say(
        "desk.card",
        lang,
        again=again,
        recreated=recreated,
        conversation=handoff.conversation_id,
        reason=reason_text(handoff.reason, lang),
        seller=seller_name(context),
        channel=handoff.channel,
        user=handoff.user_id,
        language=language_name(handoff.language),
        account=account_data,
        store_rows=[_store_row(s, lang) for s in context.stores],
        at=f"{hours.local(handoff.created_at):%Y-%m-%d %H:%M}",
        hours=hours_text(settings, now, lang),
        turns=[
            {
                "at": f"{hours.local(t.at):%H:%M}",
                "who": _who(t.author, t.direction, lang),
                "text": _one_line(t.text),
            }
            for t in handoff.last_turns
        ],
    )


__all__ = ["card", "closed_topic_name", "hours_text", "seller_name", "topic_name"]
