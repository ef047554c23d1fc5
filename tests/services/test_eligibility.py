"""The four conditions of a store-quota or listing-capacity request, each with its bad inputs
and its boundary, and all failures reported together with the stores concerned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.eligibility import eligibility_violations
from services.models import Account, Rating, Specialization, Store
from services.policy import Policy
from services.results import Rule

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
POLICY = Policy()


def account(rating: Rating = Rating.AVERAGE) -> Account:
    return Account(rating=rating)


def store(
    title: str,
    rating: Rating = Rating.AVERAGE,
    specialization: Specialization | None = Specialization.APPAREL,
    banned_days_ago: float | None = None,
) -> Store:
    banned_at = None if banned_days_ago is None else NOW - timedelta(days=banned_days_ago)
    return Store(title=title, rating=rating, specialization=specialization, banned_at=banned_at)


def rules(acc: Account, stores: list[Store], policy: Policy = POLICY) -> set[Rule]:
    return {v.rule for v in eligibility_violations(acc, stores, policy=policy, now=NOW)}


def test_a_seller_with_good_stores_is_eligible() -> None:
    assert rules(account(Rating.PERFECT), [store("A"), store("B", Rating.PERFECT)]) == set()
    assert rules(account(Rating.AVERAGE), []) == set()


@pytest.mark.parametrize("rating", [Rating.POOR, Rating.CRITICAL, Rating.UNKNOWN])
def test_seller_rating_must_be_average_or_perfect(rating: Rating) -> None:
    (violation,) = eligibility_violations(account(rating), [store("A")], policy=POLICY, now=NOW)
    assert violation.rule is Rule.SELLER_RATING
    assert violation.params == {"rating": rating.value, "required": ["average", "perfect"]}


@pytest.mark.parametrize(
    ("days_ago", "blocks"),
    [(0, True), (1, True), (182.99, True), (183, False), (400, False)],
)
def test_a_store_banned_within_the_lookback_blocks(days_ago: float, blocks: bool) -> None:
    found = eligibility_violations(
        account(), [store("Old", banned_days_ago=days_ago)], policy=POLICY, now=NOW
    )
    assert (Rule.RECENT_BAN in {v.rule for v in found}) is blocks
    if blocks:
        (violation,) = found
        assert violation.params["stores"] == ["Old"]
        assert violation.params["days"] == 183
        banned = NOW - timedelta(days=days_ago)
        assert violation.params["eligible_from"] == (banned + timedelta(days=183)).date().isoformat()


def test_the_ban_lookback_is_policy() -> None:
    short = Policy(ban_lookback_days=30)
    assert rules(account(), [store("A", banned_days_ago=31)], short) == set()
    assert rules(account(), [store("A", banned_days_ago=29)], short) == {Rule.RECENT_BAN}


@pytest.mark.parametrize("rating", [Rating.POOR, Rating.CRITICAL])
def test_a_poor_or_critical_store_blocks(rating: Rating) -> None:
    (violation,) = eligibility_violations(
        account(), [store("Good"), store("Bad", rating)], policy=POLICY, now=NOW
    )
    assert violation.rule is Rule.STORE_RATINGS
    assert violation.params == {"stores": ["Bad"], "ratings": {"Bad": rating.value}}


@pytest.mark.parametrize(("unknown", "blocks"), [(0, False), (5, False), (6, True), (9, True)])
def test_at_most_five_stores_may_be_unknown(unknown: int, blocks: bool) -> None:
    stores = [store(f"U{i}", Rating.UNKNOWN) for i in range(unknown)] + [store("Rated")]
    found = eligibility_violations(account(), stores, policy=POLICY, now=NOW)
    assert (Rule.UNKNOWN_STORES in {v.rule for v in found}) is blocks
    if blocks:
        (violation,) = found
        assert violation.params == {"stores": [f"U{i}" for i in range(unknown)], "count": unknown, "max": 5}


def test_every_store_needs_a_specialization() -> None:
    (violation,) = eligibility_violations(
        account(), [store("A"), store("Plain", specialization=None)], policy=POLICY, now=NOW
    )
    assert violation.rule is Rule.SPECIALIZATION_MISSING
    assert violation.params == {"stores": ["Plain"]}


def test_closed_and_banned_stores_count_too() -> None:
    banned_long_ago = store("Gone", Rating.CRITICAL, specialization=None, banned_days_ago=900)
    assert rules(account(), [banned_long_ago]) == {Rule.STORE_RATINGS, Rule.SPECIALIZATION_MISSING}


def test_every_failed_condition_is_reported_at_once() -> None:
    stores = [
        store("Banned", banned_days_ago=10),
        store("Weak", Rating.POOR),
        store("Bad", Rating.CRITICAL),
        store("NoSpec", specialization=None),
        *[store(f"New{i}", Rating.UNKNOWN) for i in range(6)],
    ]
    found = {
        v.rule: v.params for v in eligibility_violations(account(Rating.POOR), stores, policy=POLICY, now=NOW)
    }
    assert set(found) == {
        Rule.SELLER_RATING,
        Rule.RECENT_BAN,
        Rule.STORE_RATINGS,
        Rule.UNKNOWN_STORES,
        Rule.SPECIALIZATION_MISSING,
    }
    assert found[Rule.STORE_RATINGS]["stores"] == ["Weak", "Bad"]
    assert found[Rule.RECENT_BAN]["stores"] == ["Banned"]
    assert found[Rule.SPECIALIZATION_MISSING]["stores"] == ["NoSpec"]
    assert found[Rule.UNKNOWN_STORES]["count"] == 6
