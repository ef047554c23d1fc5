"""When a seller may get more stores or more listings per store. Both requests use the same
four conditions:

1. SELLER_RATING: the seller's performance rating is `average` or `perfect`;
2. RECENT_BAN: no store of the account was banned in the last `ban_lookback_days` days;
3. STORE_RATINGS / UNKNOWN_STORES: no store is rated `poor` or `critical`, and at most
   `max_unknown_stores` stores are rated `unknown`;
4. SPECIALIZATION_MISSING: every store has a specialization.

`eligibility_violations` returns every condition that fails, each with the stores concerned,
so the seller learns everything to fix at once. All stores count: closed and banned ones too.

The rules, with their tests: docs/domain.md#seller_rating, docs/domain.md#recent_ban,
docs/domain.md#store_ratings, docs/domain.md#unknown_stores, docs/domain.md#specialization_missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from services.models import Account, Rating, Store
from services.policy import Policy
from services.results import Rule, Violation

ELIGIBLE_SELLER_RATINGS = (Rating.AVERAGE, Rating.PERFECT)
BLOCKING_STORE_RATINGS = (Rating.POOR, Rating.CRITICAL)


def eligibility_violations(
    account: Account, stores: Sequence[Store], *, policy: Policy, now: datetime
) -> list[Violation]:
    """Every failed condition for a store-quota or listing-capacity request (empty: eligible)."""
    violations = []

    if account.rating not in ELIGIBLE_SELLER_RATINGS:
        violations.append(
            Violation(
                Rule.SELLER_RATING,
                {"rating": account.rating.value, "required": [r.value for r in ELIGIBLE_SELLER_RATINGS]},
            )
        )

    window = timedelta(days=policy.ban_lookback_days)
    recent = [s for s in stores if s.banned_at is not None and now - s.banned_at < window]
    ban_dates = {s.title: s.banned_at for s in recent if s.banned_at is not None}
    if ban_dates:
        violations.append(
            Violation(
                Rule.RECENT_BAN,
                {
                    "stores": list(ban_dates),
                    "banned_at": {title: at.date().isoformat() for title, at in ban_dates.items()},
                    "days": policy.ban_lookback_days,
                    # the first day on which no ban is recent any more
                    "eligible_from": (max(ban_dates.values()) + window).date().isoformat(),
                },
            )
        )

    low = [s for s in stores if s.rating in BLOCKING_STORE_RATINGS]
    if low:
        violations.append(
            Violation(
                Rule.STORE_RATINGS,
                {"stores": [s.title for s in low], "ratings": {s.title: s.rating.value for s in low}},
            )
        )

    unknown = [s for s in stores if s.rating is Rating.UNKNOWN]
    if len(unknown) > policy.max_unknown_stores:
        violations.append(
            Violation(
                Rule.UNKNOWN_STORES,
                {
                    "stores": [s.title for s in unknown],
                    "count": len(unknown),
                    "max": policy.max_unknown_stores,
                },
            )
        )

    unspecialized = [s for s in stores if s.specialization is None]
    if unspecialized:
        missing = [s.title for s in unspecialized]
        violations.append(Violation(Rule.SPECIALIZATION_MISSING, {"stores": missing}))

    return violations
