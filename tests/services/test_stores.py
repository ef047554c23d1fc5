"""Opening a store: an active account, a free slot (closed and banned stores count), the title
rules, the specialization, the optional icon; a new store is unknown and sells only with KYC
approved, payout bound and an icon."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from PIL import Image
from sqlalchemy import func, select

from services import audit
from services.db import Database
from services.models import AccountState, AuditOutcome, KycStatus, PayoutStatus, Rating, Specialization, Store
from services.policy import Policy
from services.results import Rule
from services.stores import can_sell, import_store, list_stores, open_store, set_store_icon
from tests.services.conftest import make_account


@cache
def png(width: int = 600, height: int = 600, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


async def opened(db: Database, policy: Policy, account_id: int, title: str = "Sunrise", **kw):
    kw.setdefault("specialization", "apparel")
    return await open_store(
        sessions=db.sessions, policy=policy, account_id=account_id, title=title, actor="test", **kw
    )


async def stores_of(db: Database, account_id: int) -> int:
    async with db.sessions() as session:
        stmt = select(func.count()).select_from(Store).where(Store.account_id == account_id)
        return (await session.execute(stmt)).scalar_one()


async def test_a_new_store_starts_unknown_and_enabled(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy)
    result = await opened(db, policy, account.id, "  Sunrise   Apparel ", specialization="Health & Beauty")
    assert result.ok, result
    store = result.value
    assert store.title == "Sunrise Apparel"
    assert store.rating is Rating.UNKNOWN
    assert store.enabled and store.banned_at is None and store.listings == 0
    assert store.specialization is Specialization.HEALTH_BEAUTY
    # the icon is optional at opening, but the store cannot sell without one
    assert not store.has_icon and store.selling_blockers == ("icon_missing",)
    async with db.sessions() as session:
        assert [s.title for s in await list_stores(session, account_id=account.id)] == ["Sunrise Apparel"]


@pytest.mark.parametrize("state", [AccountState.PENDING_VERIFICATION, AccountState.SUSPENDED])
async def test_opening_needs_an_active_account(db: Database, policy: Policy, state: AccountState) -> None:
    account = await make_account(db, policy, state=state)
    result = await opened(db, policy, account.id)
    assert result.rules == {Rule.ACCOUNT_NOT_ACTIVE}
    assert result.violation(Rule.ACCOUNT_NOT_ACTIVE).params == {"state": state.value}
    assert await stores_of(db, account.id) == 0


async def test_unknown_account(db: Database, policy: Policy) -> None:
    assert (await opened(db, policy, 12345)).rules == {Rule.ACCOUNT_NOT_FOUND}


async def test_store_limit_counts_every_store(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy, store_limit=3)
    assert (await opened(db, policy, account.id, "First")).ok
    long_ago = datetime.now(UTC) - timedelta(days=400)
    for title in ("Closed Banned", "Old Banned"):
        result = await import_store(
            sessions=db.sessions,
            policy=policy,
            account_id=account.id,
            title=title,
            specialization="other",
            banned_at=long_ago,
            actor="test",
        )
        assert result.ok and not result.value.enabled
    result = await opened(db, policy, account.id, "Fourth")
    assert result.rules == {Rule.STORE_LIMIT_REACHED}
    assert result.violation(Rule.STORE_LIMIT_REACHED).params == {"limit": 3, "stores": 3}
    assert await stores_of(db, account.id) == 3


async def test_the_default_limit_is_one_store(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy)
    assert (await opened(db, policy, account.id, "One")).ok
    assert (await opened(db, policy, account.id, "Two")).rules == {Rule.STORE_LIMIT_REACHED}


async def test_titles_are_unique_per_account_not_globally(db: Database, policy: Policy) -> None:
    first = await make_account(db, policy, store_limit=5)
    second = await make_account(db, policy)
    assert (await opened(db, policy, first.id, "Sunrise")).ok
    duplicate = await opened(db, policy, first.id, "SUNRISE")
    assert duplicate.rules == {Rule.TITLE_DUPLICATE}
    assert duplicate.violation(Rule.TITLE_DUPLICATE).params == {
        "title": "Sunrise"
    }  # the existing store, as written
    assert (await opened(db, policy, second.id, "Sunrise")).ok


@pytest.mark.parametrize(
    ("title", "rule"),
    [
        ("J", Rule.TITLE_LENGTH),
        ("JoomShop", Rule.TITLE_FORBIDDEN_CONTENT),
        ("shop.com", Rule.TITLE_FORBIDDEN_CONTENT),
    ],
)
async def test_title_rules_apply_when_opening(db: Database, policy: Policy, title: str, rule: Rule) -> None:
    account = await make_account(db, policy)
    assert (await opened(db, policy, account.id, title)).rules == {rule}
    assert await stores_of(db, account.id) == 0


@pytest.mark.parametrize("specialization", [None, "", "books", "服装鞋帽", "health"])
async def test_specialization_must_be_one_of_five(
    db: Database, policy: Policy, specialization: str | None
) -> None:
    account = await make_account(db, policy)
    result = await opened(db, policy, account.id, specialization=specialization)
    assert result.rules == {Rule.SPECIALIZATION_INVALID}
    assert result.violation(Rule.SPECIALIZATION_INVALID).params["options"] == [
        "apparel",
        "health_beauty",
        "electronics",
        "adult",
        "other",
    ]


@pytest.mark.parametrize(
    ("icon", "rule"),
    [
        (b"", Rule.ICON_FORMAT),
        (b"GIF89a not an icon", Rule.ICON_FORMAT),
        (png(600, 500), Rule.ICON_NOT_SQUARE),
        (png(300, 300), Rule.ICON_TOO_SMALL),
        (png(600, 600, "GIF"), Rule.ICON_FORMAT),
    ],
)
async def test_a_given_icon_is_judged_by_content(
    db: Database, policy: Policy, icon: bytes, rule: Rule
) -> None:
    account = await make_account(db, policy)
    result = await opened(db, policy, account.id, icon=icon)
    assert rule in result.rules
    assert await stores_of(db, account.id) == 0


async def test_icon_size_limit_is_policy(db: Database) -> None:
    policy = Policy(icon_max_bytes=1000)
    account = await make_account(db, policy)
    assert Rule.ICON_TOO_LARGE in (await opened(db, policy, account.id, icon=png())).rules


async def test_every_problem_is_named_at_once(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy, state=AccountState.SUSPENDED, store_limit=1)
    await import_store(
        sessions=db.sessions,
        policy=policy,
        account_id=account.id,
        title="Joom",
        specialization=None,
        actor="t",
    )
    # the import above was refused (its title), so the slot is still free; fill it
    await import_store(
        sessions=db.sessions,
        policy=policy,
        account_id=account.id,
        title="Taken",
        specialization=None,
        actor="t",
    )
    result = await opened(db, policy, account.id, "taken", specialization="books", icon=png(300, 200))
    assert result.rules == {
        Rule.ACCOUNT_NOT_ACTIVE,
        Rule.STORE_LIMIT_REACHED,
        Rule.TITLE_DUPLICATE,
        Rule.SPECIALIZATION_INVALID,
        Rule.ICON_NOT_SQUARE,
        Rule.ICON_TOO_SMALL,
    }


@pytest.mark.parametrize(
    ("kyc", "payout", "icon", "missing"),
    [
        (KycStatus.APPROVED, PayoutStatus.BOUND, True, []),
        (KycStatus.PENDING, PayoutStatus.BOUND, True, ["kyc_not_approved"]),
        (KycStatus.REJECTED, PayoutStatus.BOUND, True, ["kyc_not_approved"]),
        (KycStatus.APPROVED, PayoutStatus.UNBOUND, True, ["payout_unbound"]),
        (KycStatus.APPROVED, PayoutStatus.BOUND, False, ["icon_missing"]),
        (
            KycStatus.NOT_SUBMITTED,
            PayoutStatus.UNBOUND,
            False,
            ["kyc_not_approved", "payout_unbound", "icon_missing"],
        ),
    ],
)
async def test_a_store_sells_only_with_kyc_payout_and_icon(
    db: Database, policy: Policy, kyc: KycStatus, payout: PayoutStatus, icon: bool, missing: list[str]
) -> None:
    account = await make_account(db, policy, kyc=kyc, payout=payout)
    result = await opened(db, policy, account.id, icon=png() if icon else None)
    assert result.ok
    assert list(result.value.selling_blockers) == missing
    assert result.value.can_sell is (not missing)
    async with db.sessions() as session:
        from services.models import Account

        acc = await session.get(Account, account.id)
        store = await session.get(Store, result.value.id)
        verdict = can_sell(acc, store)
    if missing:
        assert verdict.rules == {Rule.CANNOT_SELL}
        assert verdict.violation(Rule.CANNOT_SELL).params == {"store": "Sunrise", "missing": missing}
    else:
        assert verdict.ok


async def test_adding_the_icon_later_lets_the_store_sell(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy)
    store = (await opened(db, policy, account.id)).value
    bad = await set_store_icon(
        sessions=db.sessions,
        policy=policy,
        account_id=account.id,
        store_id=store.id,
        icon=png(100, 100),
        actor="t",
    )
    assert bad.rules == {Rule.ICON_TOO_SMALL}
    good = await set_store_icon(
        sessions=db.sessions, policy=policy, account_id=account.id, store_id=store.id, icon=png(), actor="t"
    )
    assert good.ok and good.value.can_sell
    other = await make_account(db, policy)
    foreign = await set_store_icon(
        sessions=db.sessions, policy=policy, account_id=other.id, store_id=store.id, icon=png(), actor="t"
    )
    assert foreign.rules == {Rule.STORE_NOT_FOUND}


async def test_import_records_existing_stores_without_slot_or_state_checks(
    db: Database, policy: Policy
) -> None:
    account = await make_account(db, policy, state=AccountState.SUSPENDED)
    for i in range(3):
        result = await import_store(
            sessions=db.sessions,
            policy=policy,
            account_id=account.id,
            title=f"Legacy {i}",
            specialization=None,
            rating=Rating.POOR,
            listings=700,
            actor="t",
        )
        assert result.ok and result.value.specialization is None and result.value.listings == 700
    future = datetime.now(UTC) + timedelta(days=1)
    bad = await import_store(
        sessions=db.sessions,
        policy=policy,
        account_id=account.id,
        title="legacy 0",
        specialization="books",
        banned_at=future,
        listings=-1,
        actor="t",
    )
    assert bad.rules == {Rule.TITLE_DUPLICATE, Rule.SPECIALIZATION_INVALID, Rule.LIMIT_INVALID}
    over_cap = await import_store(
        sessions=db.sessions,
        policy=policy,
        account_id=account.id,
        title="Huge",
        specialization="other",
        listings=policy.listing_hard_cap + 1,
        actor="t",
    )
    assert over_cap.rules == {Rule.LIMIT_INVALID}
    assert over_cap.violation(Rule.LIMIT_INVALID).params["max"] == 1000


async def test_refusals_write_nothing_but_their_audit_event(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy)
    assert (await opened(db, policy, account.id, "x")).rules == {Rule.TITLE_LENGTH}
    assert (await opened(db, policy, account.id, "Fine Title")).ok
    assert await stores_of(db, account.id) == 1
    async with db.sessions() as session:
        events = await audit.events(session, account_id=account.id, action="open_store")
    assert [e.outcome for e in events] == [AuditOutcome.DONE, AuditOutcome.REFUSED]
    assert events[1].details["violations"] == [
        {"rule": "title_length", "params": {"length": 1, "min": 2, "max": 50}}
    ]
    assert events[0].details["params"]["icon"] is False  # the icon's bytes are never logged
