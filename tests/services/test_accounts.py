"""Accounts: e-mail and licence uniqueness (one company, one account), the USCC check character,
the accepted country, limits and state transitions. Each rule with its bad inputs."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from services import audit
from services.accounts import create_account, find_account_by_email, get_account, update_account
from services.db import Database
from services.models import Account, AccountState, AuditOutcome, KycStatus, PayoutStatus, Rating
from services.policy import Policy
from services.results import Rule
from tests.services.conftest import make_account, make_licence

GOOD = {"email": "seller@example.com", "company": "Shenzhen Sunrise Trading Co., Ltd.", "country": "CN"}


async def create(db: Database, policy: Policy, **fields):
    values = {**GOOD, "licence": make_licence(), **fields}
    return await create_account(sessions=db.sessions, policy=policy, actor="test", **values)


async def count_accounts(db: Database) -> int:
    async with db.sessions() as session:
        return (await session.execute(select(func.count()).select_from(Account))).scalar_one()


async def test_a_new_account_gets_the_policy_limits(db: Database) -> None:
    policy = Policy(store_limit=2, listing_limit=300)
    licence = make_licence()
    spaced = f"{licence[:4]} {licence[4:8]}-{licence[8:]}".lower()
    result = await create(db, policy, email="  New.Seller@Example.COM ", licence=spaced)
    assert result.ok, result
    view = result.value
    assert view.licence == licence
    assert (view.store_limit, view.listing_limit) == (2, 300)
    assert view.email == "New.Seller@Example.COM"
    assert view.state is AccountState.PENDING_VERIFICATION
    assert (view.kyc, view.payout, view.rating) == (
        KycStatus.NOT_SUBMITTED,
        PayoutStatus.UNBOUND,
        Rating.UNKNOWN,
    )
    assert view.open_requests == ()
    async with db.sessions() as session:
        assert (await find_account_by_email(session, "new.seller@example.com")) is not None


@pytest.mark.parametrize(
    "email",
    [
        "",
        "seller",
        "seller@",
        "@example.com",
        "seller@example",
        "a b@example.com",
        "a@@example.com",
        "a@exa_mple.com",
        "a..b@example.com",
        "a@example.c0m",
        "卖家@example.com",
        "x" * 250 + "@example.com",
    ],
)
async def test_email_must_be_valid(db: Database, policy: Policy, email: str) -> None:
    result = await create(db, policy, email=email)
    assert result.rules == {Rule.EMAIL_INVALID}
    assert await count_accounts(db) == 0


@pytest.mark.parametrize(
    "second",
    ["seller@example.com", "SELLER@EXAMPLE.COM", " Seller@Example.com ", "ｓｅｌｌｅｒ＠example.com"],
)
async def test_email_unique_case_insensitively(db: Database, policy: Policy, second: str) -> None:
    assert (await create(db, policy)).ok
    result = await create(db, policy, email=second)
    assert result.rules == {Rule.EMAIL_TAKEN}
    assert await count_accounts(db) == 1


async def test_a_second_account_for_the_same_licence_is_multiple_accounts(
    db: Database, policy: Policy
) -> None:
    licence = make_licence()
    assert (await create(db, policy, licence=licence)).ok
    # the same code typed differently: lower case, spaces, hyphens, full-width
    for variant in [
        licence.lower(),
        " ".join(licence),
        f"{licence[:6]}-{licence[6:]}",
        licence.translate({ord(c): ord(c) + 0xFEE0 for c in licence}),
    ]:
        result = await create(db, policy, email="other@example.com", licence=variant)
        assert result.rules == {Rule.MULTIPLE_ACCOUNTS}, variant
        assert result.violation(Rule.MULTIPLE_ACCOUNTS).params["licence"] == licence
    assert await count_accounts(db) == 1


@pytest.mark.parametrize(
    ("licence", "problem"),
    [
        ("91440300MA5F00K12", "length"),
        ("91440300MA5F00K12XX", "length"),
        ("", "length"),
        ("91440300MA5F00KI2X", "characters"),  # I is not in the alphabet
        ("91440300MA5F00K1$X", "characters"),
    ],
)
async def test_licence_must_be_a_valid_uscc(db: Database, policy: Policy, licence: str, problem: str) -> None:
    result = await create(db, policy, licence=licence)
    assert result.rules == {Rule.LICENCE_INVALID}
    assert result.violation(Rule.LICENCE_INVALID).params["problem"] == problem


async def test_licence_check_character_is_verified(db: Database, policy: Policy) -> None:
    good = make_licence()
    wrong_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    result = await create(db, policy, licence=wrong_check)
    assert result.rules == {Rule.LICENCE_INVALID}
    assert result.violation(Rule.LICENCE_INVALID).params["problem"] == "check_character"
    assert (await create(db, policy, licence=good)).ok


@pytest.mark.parametrize("company", ["", " ", "A", "x" * 201, "Bad\x00Name"])
async def test_company_name_must_be_2_to_200_visible_characters(
    db: Database, policy: Policy, company: str
) -> None:
    assert (await create(db, policy, company=company)).rules == {Rule.COMPANY_NAME_INVALID}


@pytest.mark.parametrize("country", ["US", "HK", "", "China"])
async def test_only_mainland_china_companies_join(db: Database, policy: Policy, country: str) -> None:
    assert (await create(db, policy, country=country)).rules == {Rule.COUNTRY_NOT_ACCEPTED}
    assert (await create(db, policy, country="cn")).ok


@pytest.mark.parametrize(
    ("field", "value"),
    [("store_limit", 0), ("store_limit", 10_001), ("listing_limit", 0), ("listing_limit", 1001)],
)
async def test_operator_limits_must_be_in_range(db: Database, policy: Policy, field: str, value: int) -> None:
    result = await create(db, policy, **{field: value})
    assert result.rules == {Rule.LIMIT_INVALID}
    assert result.violation(Rule.LIMIT_INVALID).params["field"] == field


async def test_every_problem_is_named_at_once(db: Database, policy: Policy) -> None:
    existing = await make_account(db, policy)
    result = await create(db, policy, email=existing.email.upper(), licence=existing.licence, company="")
    assert result.rules == {Rule.EMAIL_TAKEN, Rule.MULTIPLE_ACCOUNTS, Rule.COMPANY_NAME_INVALID}
    result = await create(db, policy, email="bad", licence="123", company="", country="JP", store_limit=0)
    assert result.rules == {
        Rule.EMAIL_INVALID,
        Rule.LICENCE_INVALID,
        Rule.COMPANY_NAME_INVALID,
        Rule.COUNTRY_NOT_ACCEPTED,
        Rule.LIMIT_INVALID,
    }


async def test_creation_and_refusal_are_audited(db: Database, policy: Policy) -> None:
    assert (await create(db, policy, email="audit@example.com")).ok
    assert not (await create(db, policy, email="audit@example.com")).ok
    async with db.sessions() as session:
        events = await audit.events(session, action="create_account")
    assert [e.outcome for e in events] == [AuditOutcome.REFUSED, AuditOutcome.DONE]
    assert events[0].details["violations"][0]["rule"] == "email_taken"
    assert events[0].account_id is None and events[1].account_id is not None


async def test_concurrent_creations_of_one_company_leave_one_account(db: Database, policy: Policy) -> None:
    licence = make_licence()
    results = await asyncio.gather(
        *(create(db, policy, email=f"racer{i}@example.com", licence=licence) for i in range(6))
    )
    assert sum(r.ok for r in results) == 1
    assert all(r.rules == {Rule.MULTIPLE_ACCOUNTS} for r in results if not r.ok)
    assert await count_accounts(db) == 1


@pytest.mark.parametrize(
    ("start", "target", "allowed"),
    [
        (AccountState.PENDING_VERIFICATION, AccountState.ACTIVE, True),
        (AccountState.PENDING_VERIFICATION, AccountState.SUSPENDED, True),
        (AccountState.ACTIVE, AccountState.SUSPENDED, True),
        (AccountState.SUSPENDED, AccountState.ACTIVE, True),
        (AccountState.ACTIVE, AccountState.ACTIVE, True),
        (AccountState.ACTIVE, AccountState.PENDING_VERIFICATION, False),
        (AccountState.SUSPENDED, AccountState.PENDING_VERIFICATION, False),
    ],
)
async def test_account_state_transitions(
    db: Database, policy: Policy, start: AccountState, target: AccountState, allowed: bool
) -> None:
    account = await make_account(db, policy, state=start)
    result = await update_account(
        sessions=db.sessions, policy=policy, account_id=account.id, state=target, actor="op"
    )
    if allowed:
        assert result.ok and result.value.state is target
    else:
        assert result.rules == {Rule.ACCOUNT_STATE_TRANSITION}
        async with db.sessions() as session:
            assert (await get_account(session, account_id=account.id, policy=policy)).state is start


async def test_update_changes_only_what_is_given(db: Database, policy: Policy) -> None:
    account = await make_account(db, policy, kyc=KycStatus.PENDING)
    result = await update_account(
        sessions=db.sessions,
        policy=policy,
        account_id=account.id,
        kyc=KycStatus.APPROVED,
        store_limit=4,
        actor="op",
    )
    assert result.ok
    assert (result.value.kyc, result.value.store_limit, result.value.payout) == (
        KycStatus.APPROVED,
        4,
        account.payout,
    )
    missing = await update_account(
        sessions=db.sessions, policy=policy, account_id=9999, kyc=KycStatus.APPROVED, actor="op"
    )
    assert missing.rules == {Rule.ACCOUNT_NOT_FOUND}


async def test_idempotent_creation_returns_the_same_account(db: Database, policy: Policy) -> None:
    first = await create(db, policy, licence=make_licence(4242), idempotency_key="create-1")
    again = await create(db, policy, licence=make_licence(4242), idempotency_key="create-1")
    assert first.ok and again.ok and first.value.id == again.value.id
    assert await count_accounts(db) == 1
