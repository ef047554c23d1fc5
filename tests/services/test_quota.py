"""Store-quota and listing-capacity requests: eligible requests are granted (at once or by an
agent), ineligible ones name every failed condition, and one request of a kind is open at most."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.accounts import get_account
from services.db import Database
from services.models import AccountState, Rating, RequestKind, RequestStatus
from services.policy import Policy
from services.quota import (
    approve_request,
    list_requests,
    preview_increase,
    reject_request,
    request_increase,
)
from services.results import Rule
from services.stores import import_store
from tests.services.conftest import make_account

QUEUED = Policy(auto_approve=False)


async def add_store(db: Database, account_id: int, title: str, **kw) -> None:
    kw.setdefault("specialization", "apparel")
    result = await import_store(
        sessions=db.sessions, policy=Policy(), account_id=account_id, title=title, actor="t", **kw
    )
    assert result.ok, result


async def limits(db: Database, account_id: int) -> tuple[int, int]:
    async with db.sessions() as session:
        view = await get_account(session, account_id=account_id, policy=Policy())
    return view.store_limit, view.listing_limit


async def ask(db: Database, policy: Policy, account_id: int, kind: RequestKind, **kw):
    return await request_increase(
        sessions=db.sessions, policy=policy, account_id=account_id, kind=kind, actor="t", **kw
    )


async def test_an_eligible_store_quota_request_adds_quota_step_each_time(
    db: Database, policy: Policy
) -> None:
    account = await make_account(db, policy)
    await add_store(db, account.id, "Rated", rating=Rating.AVERAGE)
    first = await ask(db, policy, account.id, RequestKind.STORE_QUOTA)
    assert first.ok and first.value.status is RequestStatus.APPROVED
    assert (first.value.limit_before, first.value.limit_after) == (1, 11)
    second = await ask(db, policy, account.id, RequestKind.STORE_QUOTA)
    assert second.ok and second.value.limit_after == 21
    assert await limits(db, account.id) == (21, 500)


async def test_quota_step_is_policy(db: Database) -> None:
    policy = Policy(quota_step=3)
    account = await make_account(db, policy)
    assert (await ask(db, policy, account.id, RequestKind.STORE_QUOTA)).value.limit_after == 4


async def test_listing_capacity_rises_to_the_hard_cap_once(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy)
    result = await ask(db, policy, account.id, RequestKind.LISTING_CAPACITY)
    assert result.ok and (result.value.limit_before, result.value.limit_after) == (500, 1000)
    assert await limits(db, account.id) == (1, 1000)
    again = await ask(db, policy, account.id, RequestKind.LISTING_CAPACITY)
    assert again.rules == {Rule.LISTING_CAP_REACHED}
    assert again.violation(Rule.LISTING_CAP_REACHED).params == {"limit": 1000, "cap": 1000}


@pytest.mark.parametrize("kind", list(RequestKind))
async def test_an_ineligible_request_names_every_condition_and_changes_nothing(
    db: Database, policy: Policy, kind: RequestKind
) -> None:
    account = await make_account(db, policy, rating=Rating.POOR, store_limit=20)
    await add_store(db, account.id, "Banned", banned_at=datetime.now(UTC) - timedelta(days=30))
    await add_store(db, account.id, "Weak", rating=Rating.CRITICAL)
    await add_store(db, account.id, "Plain", specialization=None, rating=Rating.AVERAGE)
    for i in range(6):
        await add_store(db, account.id, f"New {i}")
    result = await ask(db, policy, account.id, kind)
    assert result.rules == {
        Rule.SELLER_RATING,
        Rule.RECENT_BAN,
        Rule.STORE_RATINGS,
        Rule.UNKNOWN_STORES,
        Rule.SPECIALIZATION_MISSING,
    }
    assert result.violation(Rule.RECENT_BAN).params["stores"] == ["Banned"]
    assert result.violation(Rule.STORE_RATINGS).params["stores"] == ["Weak"]
    assert result.violation(Rule.SPECIALIZATION_MISSING).params["stores"] == ["Plain"]
    assert result.violation(Rule.UNKNOWN_STORES).params["count"] == 7  # "Banned" is unknown too
    assert await limits(db, account.id) == (20, 500)
    async with db.sessions() as session:
        assert await list_requests(session, account_id=account.id) == []


@pytest.mark.parametrize("rating", [Rating.POOR, Rating.CRITICAL, Rating.UNKNOWN])
async def test_each_seller_rating_that_blocks(db: Database, policy: Policy, rating: Rating) -> None:
    account = await make_account(db, policy, rating=rating)
    assert (await ask(db, policy, account.id, RequestKind.STORE_QUOTA)).rules == {Rule.SELLER_RATING}


async def test_requests_need_an_active_account(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy, state=AccountState.SUSPENDED)
    assert (await ask(db, policy, account.id, RequestKind.STORE_QUOTA)).rules == {Rule.ACCOUNT_NOT_ACTIVE}
    assert (await ask(db, policy, 99999, RequestKind.STORE_QUOTA)).rules == {Rule.ACCOUNT_NOT_FOUND}


async def test_without_auto_approve_the_request_waits_and_only_one_per_kind(db: Database) -> None:
    account = await make_account(db, QUEUED)
    first = await ask(db, QUEUED, account.id, RequestKind.STORE_QUOTA)
    assert first.ok and first.value.status is RequestStatus.OPEN and first.value.limit_after is None
    assert await limits(db, account.id) == (1, 500)
    second = await ask(db, QUEUED, account.id, RequestKind.STORE_QUOTA)
    assert second.rules == {Rule.REQUEST_ALREADY_OPEN}
    assert second.violation(Rule.REQUEST_ALREADY_OPEN).params["request_id"] == first.value.id
    # the other kind is independent
    assert (await ask(db, QUEUED, account.id, RequestKind.LISTING_CAPACITY)).ok
    async with db.sessions() as session:
        view = await get_account(session, account_id=account.id, policy=QUEUED)
    assert {r.kind for r in view.open_requests} == set(RequestKind)


async def test_an_agent_approves_or_rejects_an_open_request(db: Database) -> None:
    account = await make_account(db, QUEUED)
    open_quota = (await ask(db, QUEUED, account.id, RequestKind.STORE_QUOTA)).value
    open_capacity = (await ask(db, QUEUED, account.id, RequestKind.LISTING_CAPACITY)).value
    approved = await approve_request(
        sessions=db.sessions, policy=QUEUED, request_id=open_quota.id, agent="agent:li"
    )
    assert (
        approved.ok
        and approved.value.status is RequestStatus.APPROVED
        and approved.value.decided_by == "agent:li"
    )
    rejected = await reject_request(
        sessions=db.sessions,
        policy=QUEUED,
        request_id=open_capacity.id,
        agent="agent:li",
        reason="  duplicate  ",
    )
    assert (
        rejected.ok
        and rejected.value.status is RequestStatus.REJECTED
        and rejected.value.reason == "duplicate"
    )
    assert await limits(db, account.id) == (11, 500)
    # decided requests cannot be decided again
    for decide in (approve_request, reject_request):
        kwargs = {"reason": "x"} if decide is reject_request else {}
        again = await decide(
            sessions=db.sessions, policy=QUEUED, request_id=open_quota.id, agent="a", **kwargs
        )
        assert again.rules == {Rule.REQUEST_NOT_OPEN}
    missing = await approve_request(sessions=db.sessions, policy=QUEUED, request_id=4242, agent="a")
    assert missing.rules == {Rule.REQUEST_NOT_FOUND}
    # a new request of the kind can be opened once the last one is decided
    assert (await ask(db, QUEUED, account.id, RequestKind.STORE_QUOTA)).ok


async def test_approval_checks_the_conditions_again(db: Database) -> None:
    account = await make_account(db, QUEUED, store_limit=5)
    request = (await ask(db, QUEUED, account.id, RequestKind.STORE_QUOTA)).value
    await add_store(db, account.id, "Banned since", banned_at=datetime.now(UTC) - timedelta(days=1))
    result = await approve_request(sessions=db.sessions, policy=QUEUED, request_id=request.id, agent="a")
    assert result.rules == {Rule.RECENT_BAN}
    assert await limits(db, account.id) == (5, 500)


async def test_a_repeated_idempotency_key_grants_once(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy)
    first = await ask(db, policy, account.id, RequestKind.STORE_QUOTA, idempotency_key="msg-77")
    again = await ask(db, policy, account.id, RequestKind.STORE_QUOTA, idempotency_key="msg-77")
    assert first.value == again.value
    assert await limits(db, account.id) == (11, 500)


async def preview(db: Database, policy: Policy, account_id: int, kind: RequestKind):
    async with db.sessions() as session:
        return await preview_increase(session, account_id=account_id, kind=kind, policy=policy)


@pytest.mark.parametrize("kind", list(RequestKind))
async def test_the_preview_is_the_verdict_the_request_gets(
    db: Database, policy: Policy, kind: RequestKind
) -> None:
    """What the seller is shown before confirming is what the request then does or refuses."""
    account = await make_account(db, policy)
    shown = await preview(db, policy, account.id, kind)
    assert shown.violations == ()
    granted = await ask(db, policy, account.id, kind)
    assert (shown.before, shown.after) == (granted.value.limit_before, granted.value.limit_after)

    blocked = await make_account(db, policy, rating=Rating.POOR)
    await add_store(db, blocked.id, "Bad", rating=Rating.CRITICAL, specialization=None)
    shown = await preview(db, policy, blocked.id, kind)
    refused = await ask(db, policy, blocked.id, kind)
    assert {v.rule for v in shown.violations} == refused.rules
    assert {Rule.SELLER_RATING, Rule.STORE_RATINGS, Rule.SPECIALIZATION_MISSING} <= refused.rules


async def test_the_preview_names_an_open_request(db: Database) -> None:
    account = await make_account(db, QUEUED)
    assert (await ask(db, QUEUED, account.id, RequestKind.STORE_QUOTA)).value.status is RequestStatus.OPEN
    shown = await preview(db, QUEUED, account.id, RequestKind.STORE_QUOTA)
    assert [v.rule for v in shown.violations] == [Rule.REQUEST_ALREADY_OPEN]
    assert await preview(db, QUEUED, account.id + 999, RequestKind.STORE_QUOTA) is None
