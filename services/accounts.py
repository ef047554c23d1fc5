"""Merchant accounts: creating one (operator tooling mirrors the platform's record), changing
its state, and reading it.

Rules: the e-mail is valid and unique case-insensitively (EMAIL_INVALID, EMAIL_TAKEN); the
business licence is a valid Unified Social Credit Code (LICENCE_INVALID, with what is wrong) and
unique — a second account for the same licence is MULTIPLE_ACCOUNTS, because one company may
hold one account; only mainland-China companies may join (COUNTRY_NOT_ACCEPTED); the company
name is 2–200 characters (COMPANY_NAME_INVALID). Account states move
pending_verification → active ⇄ suspended (ACCOUNT_STATE_TRANSITION).

The rules, with their tests: docs/domain.md#email_invalid, docs/domain.md#email_taken,
docs/domain.md#multiple_accounts, docs/domain.md#licence_invalid,
docs/domain.md#country_not_accepted, docs/domain.md#company_name_invalid,
docs/domain.md#new_account_limits, docs/domain.md#limit_invalid,
docs/domain.md#account_state_transition.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.actions import Outcome, run_action
from services.audit import violations_detail
from services.db import Sessions
from services.eligibility import eligibility_violations
from services.email_address import clean_email, email_key, is_valid_email
from services.models import Account, AccountState, KycStatus, PayoutStatus, Rating, RequestStatus, utcnow
from services.policy import Policy
from services.quota import RequestView, list_requests
from services.results import Done, Refused, Rule, Violation, refuse
from services.stores import account_stores
from services.uscc import licence_violation, normalize_licence

ACCEPTED_COUNTRIES = ("CN",)
COMPANY_NAME_MIN, COMPANY_NAME_MAX = 2, 200
# Which state an account may move to from each state (a state may always be kept).
STATE_TRANSITIONS: dict[AccountState, tuple[AccountState, ...]] = {
    AccountState.PENDING_VERIFICATION: (AccountState.ACTIVE, AccountState.SUSPENDED),
    AccountState.ACTIVE: (AccountState.SUSPENDED,),
    AccountState.SUSPENDED: (AccountState.ACTIVE,),
}
# An operator-set store limit above this is a typing mistake, not a decision.
MAX_STORE_LIMIT = 10_000


@dataclass(frozen=True)
class AccountView:
    id: int
    email: str
    company: str
    licence: str
    country: str
    state: AccountState
    kyc: KycStatus
    payout: PayoutStatus
    rating: Rating
    store_limit: int
    listing_limit: int
    stores: int
    open_requests: tuple[RequestView, ...]
    # The conditions a store-quota or listing-capacity request would fail now (empty: eligible).
    increase_blockers: tuple[Violation, ...] = field(default=())
    created_at: datetime | None = None

    @property
    def free_store_slots(self) -> int:
        return max(0, self.store_limit - self.stores)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "company": self.company,
            "licence": self.licence,
            "country": self.country,
            "state": self.state.value,
            "kyc": self.kyc.value,
            "payout": self.payout.value,
            "rating": self.rating.value,
            "store_limit": self.store_limit,
            "listing_limit": self.listing_limit,
            "stores": self.stores,
            "free_store_slots": self.free_store_slots,
            "open_requests": [r.as_json() for r in self.open_requests],
            "increase_blockers": violations_detail(self.increase_blockers),
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


async def account_view(
    session: AsyncSession, account: Account, *, policy: Policy, now: datetime | None = None
) -> AccountView:
    stores = await account_stores(session, account.id)
    return AccountView(
        id=account.id,
        email=account.email,
        company=account.company,
        licence=account.licence,
        country=account.country,
        state=account.state,
        kyc=account.kyc,
        payout=account.payout,
        rating=account.rating,
        store_limit=account.store_limit,
        listing_limit=account.listing_limit,
        stores=len(stores),
        open_requests=tuple(await list_requests(session, account_id=account.id, status=RequestStatus.OPEN)),
        increase_blockers=tuple(eligibility_violations(account, stores, policy=policy, now=now or utcnow())),
        created_at=account.created_at,
    )


async def find_account_by_email(session: AsyncSession, email: str) -> Account | None:
    stmt = select(Account).where(Account.email_key == email_key(email))
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_account_by_licence(session: AsyncSession, licence: str) -> Account | None:
    stmt = select(Account).where(Account.licence == normalize_licence(licence))
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_account(
    session: AsyncSession, *, account_id: int, policy: Policy, now: datetime | None = None
) -> AccountView | None:
    account = await session.get(Account, account_id)
    return None if account is None else await account_view(session, account, policy=policy, now=now)


def clean_company(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _limit_violation(name: str, value: int | None, low: int, high: int) -> list[Violation]:
    if value is None or low <= value <= high:
        return []
    return [Violation(Rule.LIMIT_INVALID, {"field": name, "value": value, "min": low, "max": high})]


def new_account_violations(
    *,
    email: str,
    company: str,
    licence: str,
    country: str,
    store_limit: int | None = None,
    listing_limit: int | None = None,
    policy: Policy,
) -> list[Violation]:
    """Every rule the new account's own fields break, without looking at the database (the
    command line checks these before it opens the database)."""
    violations = []
    if not is_valid_email(email):
        violations.append(Violation(Rule.EMAIL_INVALID, {"email": clean_email(email)}))
    name = clean_company(company)
    if not COMPANY_NAME_MIN <= len(name) <= COMPANY_NAME_MAX or any(
        unicodedata.category(ch) in ("Cc", "Cf") for ch in name
    ):
        violations.append(
            Violation(
                Rule.COMPANY_NAME_INVALID,
                {"length": len(name), "min": COMPANY_NAME_MIN, "max": COMPANY_NAME_MAX},
            )
        )
    if (bad_licence := licence_violation(licence)) is not None:
        violations.append(bad_licence)
    if country.strip().upper() not in ACCEPTED_COUNTRIES:
        violations.append(
            Violation(
                Rule.COUNTRY_NOT_ACCEPTED, {"country": country.strip(), "accepted": list(ACCEPTED_COUNTRIES)}
            )
        )
    violations += _limit_violation("store_limit", store_limit, 1, MAX_STORE_LIMIT)
    violations += _limit_violation("listing_limit", listing_limit, 1, policy.listing_hard_cap)
    return violations


def _replayer(policy: Policy, now: datetime) -> Callable[[AsyncSession, int | None], Awaitable[AccountView]]:
    async def replay(session: AsyncSession, account_id: int | None) -> AccountView:
        account = await session.get(Account, account_id)
        assert account is not None
        return await account_view(session, account, policy=policy, now=now)

    return replay


async def create_account(
    *,
    sessions: Sessions,
    policy: Policy,
    email: str,
    company: str,
    licence: str,
    country: str = "CN",
    state: AccountState = AccountState.PENDING_VERIFICATION,
    kyc: KycStatus = KycStatus.NOT_SUBMITTED,
    payout: PayoutStatus = PayoutStatus.UNBOUND,
    rating: Rating = Rating.UNKNOWN,
    store_limit: int | None = None,
    listing_limit: int | None = None,
    actor: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Done[AccountView] | Refused:
    """Create a merchant account. Limits default to the policy's values for a new account."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Outcome[AccountView]:
        violations = new_account_violations(
            email=email,
            company=company,
            licence=licence,
            country=country,
            store_limit=store_limit,
            listing_limit=listing_limit,
            policy=policy,
        )
        if await find_account_by_email(session, email) is not None:
            violations.append(Violation(Rule.EMAIL_TAKEN, {"email": clean_email(email)}))
        holder = await find_account_by_licence(session, licence)
        if holder is not None:
            violations.append(
                Violation(
                    Rule.MULTIPLE_ACCOUNTS, {"licence": normalize_licence(licence), "company": holder.company}
                )
            )
        if violations:
            return Outcome(refuse(*violations))
        account = Account(
            email=clean_email(email),
            email_key=email_key(email),
            company=clean_company(company),
            licence=normalize_licence(licence),
            country=country.strip().upper(),
            state=AccountState(state),
            kyc=KycStatus(kyc),
            payout=PayoutStatus(payout),
            rating=Rating(rating),
            store_limit=policy.store_limit if store_limit is None else store_limit,
            listing_limit=policy.listing_limit if listing_limit is None else listing_limit,
            created_at=now,
            updated_at=now,
        )
        session.add(account)
        await session.flush()
        view = await account_view(session, account, policy=policy, now=now)
        return Outcome(Done(view), account_id=account.id, result_id=account.id)

    return await run_action(
        sessions,
        action="create_account",
        actor=actor,
        params={
            "email": email,
            "company": company,
            "licence": licence,
            "country": country,
            "state": state,
            "kyc": kyc,
            "payout": payout,
            "rating": rating,
            "store_limit": store_limit,
            "listing_limit": listing_limit,
        },
        work=work,
        replay=_replayer(policy, now),
        now=now,
        idempotency_key=idempotency_key,
    )


async def update_account(
    *,
    sessions: Sessions,
    policy: Policy,
    account_id: int,
    state: AccountState | None = None,
    kyc: KycStatus | None = None,
    payout: PayoutStatus | None = None,
    rating: Rating | None = None,
    store_limit: int | None = None,
    listing_limit: int | None = None,
    actor: str,
    now: datetime | None = None,
) -> Done[AccountView] | Refused:
    """Change what the platform changed: state (pending_verification → active ⇄ suspended),
    KYC, payout binding, the seller rating, or the limits. Fields left None stay as they are."""
    now = now or utcnow()

    async def work(session: AsyncSession) -> Outcome[AccountView]:
        account = await session.get(Account, account_id)
        if account is None:
            return Outcome(refuse(Violation(Rule.ACCOUNT_NOT_FOUND, {"account_id": account_id})))
        violations = _limit_violation("store_limit", store_limit, 1, MAX_STORE_LIMIT)
        violations += _limit_violation("listing_limit", listing_limit, 1, policy.listing_hard_cap)
        if state is not None and state != account.state and state not in STATE_TRANSITIONS[account.state]:
            violations.append(
                Violation(
                    Rule.ACCOUNT_STATE_TRANSITION,
                    {
                        "from": account.state.value,
                        "to": AccountState(state).value,
                        "allowed": [s.value for s in STATE_TRANSITIONS[account.state]],
                    },
                )
            )
        if violations:
            return Outcome(refuse(*violations), account_id=account.id)
        changes: dict[str, Any] = {}
        for name, value, cast in (
            ("state", state, AccountState),
            ("kyc", kyc, KycStatus),
            ("payout", payout, PayoutStatus),
            ("rating", rating, Rating),
            ("store_limit", store_limit, int),
            ("listing_limit", listing_limit, int),
        ):
            if value is not None and getattr(account, name) != cast(value):
                changes[name] = {"from": getattr(account, name), "to": cast(value)}
                setattr(account, name, cast(value))
        account.updated_at = now
        await session.flush()
        view = await account_view(session, account, policy=policy, now=now)
        return Outcome(Done(view), account_id=account.id, result_id=account.id, details={"changes": changes})

    return await run_action(
        sessions,
        action="update_account",
        actor=actor,
        params={
            "account_id": account_id,
            "state": state,
            "kyc": kyc,
            "payout": payout,
            "rating": rating,
            "store_limit": store_limit,
            "listing_limit": listing_limit,
        },
        work=work,
        replay=_replayer(policy, now),
        now=now,
        account_id=account_id,
    )
