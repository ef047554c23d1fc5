"""Rule explanations: every rule reads in Chinese and English, names what failed (stores,
limits) and what to do, and never treats user text as a template."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import jinja2
import pytest

from services.db import Database
from services.explain import explain, explain_refusal, label
from services.models import Rating, RequestKind
from services.pickup import book_pickup
from services.policy import Policy
from services.quota import request_increase
from services.results import Rule, Violation
from services.stores import import_store, open_store
from tests.services.conftest import make_account

# Parameters as the services produce them (see the service that refuses by each rule).
SAMPLES: dict[Rule, dict] = {
    Rule.EMAIL_INVALID: {"email": "seller@"},
    Rule.EMAIL_TAKEN: {"email": "seller@example.com"},
    Rule.MULTIPLE_ACCOUNTS: {"licence": "91440300000000010X", "company": "Sunrise Co."},
    Rule.LICENCE_INVALID: {"licence": "123", "problem": "length"},
    Rule.COMPANY_NAME_INVALID: {"length": 1, "min": 2, "max": 200},
    Rule.ACCOUNT_NOT_FOUND: {"account_id": 7},
    Rule.HANDOFF_NOT_FOUND: {"handoff_id": 3},
    Rule.HANDOFF_CLOSED: {"handoff_id": 3},
    Rule.MESSAGE_INVALID: {"problem": "too_long", "max": 4000},
    Rule.ACCOUNT_NOT_ACTIVE: {"state": "suspended"},
    Rule.COUNTRY_NOT_ACCEPTED: {"country": "US", "accepted": ["CN"]},
    Rule.ACCOUNT_STATE_TRANSITION: {"from": "active", "to": "pending_verification", "allowed": ["suspended"]},
    Rule.LIMIT_INVALID: {"field": "store_limit", "value": 0, "min": 1, "max": 10000},
    Rule.STORE_LIMIT_REACHED: {"limit": 1, "stores": 1},
    Rule.TITLE_LENGTH: {"length": 51, "min": 2, "max": 50},
    Rule.TITLE_DUPLICATE: {"title": "Sunrise"},
    Rule.TITLE_FORBIDDEN_CONTENT: {"title": "JoomShop", "found": ["joom", "url"]},
    Rule.SPECIALIZATION_INVALID: {
        "given": "books",
        "options": ["apparel", "health_beauty", "electronics", "adult", "other"],
    },
    Rule.ICON_FORMAT: {"reason": "not_jpeg_or_png", "detected": "gif"},
    Rule.ICON_NOT_SQUARE: {"width": 600, "height": 500},
    Rule.ICON_TOO_SMALL: {"width": 300, "height": 300, "min": 550},
    Rule.ICON_TOO_LARGE: {"size": 6_000_000, "max_bytes": 5_242_880},
    Rule.STORE_NOT_FOUND: {"store_id": 3},
    Rule.CANNOT_SELL: {"store": "Sunrise", "missing": ["kyc_not_approved", "icon_missing"]},
    Rule.SELLER_RATING: {"rating": "poor", "required": ["average", "perfect"]},
    Rule.RECENT_BAN: {
        "stores": ["Old Shop"],
        "banned_at": {"Old Shop": "2025-01-10"},
        "days": 183,
        "eligible_from": "2025-07-12",
    },
    Rule.STORE_RATINGS: {"stores": ["A", "B"], "ratings": {"A": "poor", "B": "critical"}},
    Rule.UNKNOWN_STORES: {"stores": ["N1", "N2", "N3", "N4", "N5", "N6"], "count": 6, "max": 5},
    Rule.SPECIALIZATION_MISSING: {"stores": ["Plain"]},
    Rule.REQUEST_ALREADY_OPEN: {
        "kind": "store_quota",
        "request_id": 12,
        "requested_at": "2025-05-01T08:00:00+00:00",
    },
    Rule.LISTING_CAP_REACHED: {"limit": 1000, "cap": 1000},
    Rule.REQUEST_NOT_FOUND: {"request_id": 99},
    Rule.REQUEST_NOT_OPEN: {"request_id": 12, "status": "approved"},
    Rule.RATE_LIMITED: {"limit": 3, "per": "hour", "retry_after_minutes": 20},
    Rule.TOKEN_INVALID: {},
    Rule.CODE_WRONG: {"attempts_left": 2},
    Rule.CODE_EXPIRED: {"minutes": 10},
    Rule.CODE_ATTEMPTS_EXHAUSTED: {"attempts": 5},
    Rule.EMAIL_UNCHANGED: {},
    Rule.PICKUP_CITY: {
        "city": "Guangzhou",
        "recognised": True,
        "pickup_cities": ["Shenzhen"],
        "carrier": "SF Express",
        "carrier_zh": "顺丰",
        "warehouse_address": "Warehouse A",
        "warehouse_address_zh": "仓库A",
    },
    Rule.PICKUP_DETAILS_INVALID: {
        "problems": {"phone": "format", "date": "past"},
        "address_min": 5,
        "address_max": 300,
        "max_parcels": 500,
        "earliest": "2025-05-02",
        "latest": "2025-05-16",
    },
    Rule.NOT_LINKED: {},
    Rule.GROUP_CHAT: {},
    Rule.CHAT_IDENTITY_INVALID: {"fields": ["user"]},
    Rule.HANDOFF_TAKEN: {"agent": "Li Na (web li@support.example)"},
    Rule.AGENT_EXISTS: {"email": "li@support.example"},
    Rule.AGENT_NOT_FOUND: {},
    Rule.NAME_INVALID: {"max": 120},
    Rule.PASSWORD_INVALID: {"min": 10, "max": 200},
    Rule.SIGN_IN_FAILED: {},
}


def test_every_rule_has_a_sample() -> None:
    assert set(SAMPLES) == set(Rule)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("rule", list(Rule))
def test_every_rule_reads_in_both_languages(rule: Rule, lang: str) -> None:
    text = explain(Violation(rule, SAMPLES[rule]), lang)
    assert len(text) >= 6 and "{{" not in text and "{%" not in text
    if lang == "zh":
        assert re.search(r"[\u4e00-\u9fff]", text), text
    # the stores concerned are named
    stores = SAMPLES[rule].get("stores")
    for title in stores if isinstance(stores, list) else []:
        assert title in text


@pytest.mark.parametrize(
    ("rule", "lang", "expected"),
    [
        (Rule.STORE_RATINGS, "en", ["“A” (poor)", "“B” (critical)"]),
        (Rule.STORE_RATINGS, "zh", ["“A”(较差)", "“B”(严重)"]),
        (Rule.UNKNOWN_STORES, "en", ["6", "at most 5"]),
        (Rule.RECENT_BAN, "en", ["Old Shop", "183 days", "2025-07-12"]),
        (Rule.RECENT_BAN, "zh", ["Old Shop", "183天", "2025-07-12"]),
        (Rule.STORE_LIMIT_REACHED, "en", ["limit is 1", "adds 10"]),
        (Rule.PICKUP_CITY, "en", ["SF Express", "freight collect", "Warehouse A", "Shenzhen"]),
        (Rule.PICKUP_CITY, "zh", ["顺丰到付", "仓库A", "深圳"]),
        (Rule.LICENCE_INVALID, "en", ["18 characters"]),
        (Rule.TITLE_FORBIDDEN_CONTENT, "en", ["“Joom”", "web address"]),
        (Rule.CANNOT_SELL, "zh", ["KYC", "图标"]),
        (Rule.CODE_WRONG, "en", ["2 tries left"]),
    ],
)
def test_explanations_carry_the_parameters(rule: Rule, lang: str, expected: list[str]) -> None:
    text = explain(Violation(rule, SAMPLES[rule]), lang)
    for fragment in expected:
        assert fragment in text, text


def test_policy_values_appear_in_explanations() -> None:
    text = explain(
        Violation(Rule.STORE_LIMIT_REACHED, SAMPLES[Rule.STORE_LIMIT_REACHED]),
        "en",
        policy=Policy(quota_step=7),
    )
    assert "adds 7" in text


def test_user_text_is_printed_not_run() -> None:
    text = explain(
        Violation(Rule.TITLE_DUPLICATE, {"title": "{{ 7*7 }}{% for x in range(3) %}x{% endfor %}"}), "en"
    )
    assert "{{ 7*7 }}{% for x in range(3) %}x{% endfor %}" in text and "49" not in text


def test_an_unknown_language_is_an_error() -> None:
    with pytest.raises(ValueError, match="language"):
        explain(Violation(Rule.TOKEN_INVALID, {}), "fr")


def test_a_missing_parameter_fails_loudly() -> None:
    with pytest.raises(jinja2.UndefinedError):
        explain(Violation(Rule.TITLE_LENGTH, {}), "en")


async def test_real_refusals_explain_every_rule_they_name(db: Database, policy: Policy) -> None:
    """The parameters the services really produce fit the templates."""
    account = await make_account(db, policy, rating=Rating.POOR, store_limit=1)
    await import_store(
        sessions=db.sessions,
        policy=policy,
        account_id=account.id,
        title="Banned Shop",
        specialization=None,
        rating=Rating.CRITICAL,
        banned_at=datetime.now(UTC) - timedelta(days=3),
        actor="t",
    )
    refusals = [
        await request_increase(
            sessions=db.sessions,
            policy=policy,
            account_id=account.id,
            kind=RequestKind.STORE_QUOTA,
            actor="t",
        ),
        await open_store(
            sessions=db.sessions,
            policy=policy,
            account_id=account.id,
            title="banned shop www.joom.com",
            specialization="books",
            icon=b"GIF89a",
            actor="t",
        ),
        await book_pickup(
            sessions=db.sessions,
            policy=policy,
            account_id=account.id,
            city="深圳",
            address="x",
            phone="1",
            parcels=0,
            pickup_date=datetime(2020, 1, 1).date(),
            actor="t",
        ),
        await book_pickup(
            sessions=db.sessions,
            policy=policy,
            account_id=account.id,
            city="广州",
            address="x",
            phone="1",
            parcels=0,
            pickup_date=datetime(2020, 1, 1).date(),
            actor="t",
        ),
    ]
    named = set()
    for refused in refusals:
        assert not refused.ok
        named |= refused.rules
        for lang in ("zh", "en"):
            texts = explain_refusal(refused, lang, policy=policy)
            assert len(texts) == len(refused.violations) and all(texts)
    assert {Rule.SELLER_RATING, Rule.RECENT_BAN, Rule.STORE_RATINGS, Rule.SPECIALIZATION_MISSING} <= named
    assert {
        Rule.STORE_LIMIT_REACHED,
        Rule.TITLE_FORBIDDEN_CONTENT,
        Rule.SPECIALIZATION_INVALID,
        Rule.ICON_FORMAT,
    } <= named
    assert {Rule.PICKUP_DETAILS_INVALID, Rule.PICKUP_CITY} <= named


def test_labels_name_ids_for_people() -> None:
    assert label("rating", "poor", "zh") == "较差"
    assert label("specialization", "health_beauty", "en") == "health & beauty"
    assert label("blocker", "payout_unbound", "zh").startswith("尚未绑定")
    assert label("rating", "unheard_of", "en") == "unheard_of"
    with pytest.raises(ValueError):
        label("rating", "poor", "de")
