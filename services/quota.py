"""Requests for more stores (store quota) and more listings per store (listing capacity).

A store-quota request adds `quota_step` stores to the account's store_limit; a listing-capacity
request raises the per-store listing limit to `listing_hard_cap`. Either may be repeated, each
time only when the seller is eligible (services/eligibility.py). At most one request of each
kind is open per account — checked here and enforced by a partial unique index. With
`auto_approve` an eligible request is approved at once; otherwise it waits for an agent, who
approves (the conditions are checked again) or rejects it with a reason.

The rules, with their tests: docs/domain.md#quota_step, docs/domain.md#listing_cap_reached,
docs/domain.md#request_already_open, docs/domain.md#auto_approve, docs/domain.md#approval_rechecks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.actions import Outcome, run_action
from services.db import Sessions, lock_account
from services.eligibility import eligibility_violations
from services.models import Account, AccountState, QuotaRequest, RequestKind, RequestStatus, utcnow
from services.policy import Policy
from services.results import Done, Refused, Rule, Violation, refuse
from services.stores import account_stores

AUTO_APPROVER = "auto"


@dataclass(frozen=True)
class RequestView:
    id: int
    account_id: int
    kind: RequestKind
    status: RequestStatus
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    # the account's store_limit (store_quota) or listing_limit (listing_capacity) before and after
    limit_before: int | None
    limit_after: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "status": self.status.value,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(),
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "reason": self.reason,
            "limit_before": self.limit_before,
            "limit_after": self.limit_after,
        }


def request_view(request: QuotaRequest) -> RequestView:
    return RequestView(
        id=request.id,
        account_id=request.account_id,
        kind=request.kind,
        status=request.status,
        requested_by=request.requested_by,
        requested_at=request.requested_at,
        decided_by=request.decided_by,
        decided_at=request.decided_at,
        reason=request.reason,
        limit_before=request.limit_before,
        limit_after=request.limit_after,
    )


async def _replay_request(session: AsyncSession, request_id: int | None) -> RequestView:
    request = await session.get(QuotaRequest, request_id)
    assert request is not None
    return request_view(request)


async def list_requests(
    session: AsyncSession, *, account_id: int | None = None, status: RequestStatus | None = None
) -> list[RequestView]:
    stmt = select(QuotaRequest).order_by(QuotaRequest.id)
    if account_id is not None:
        stmt = stmt.where(QuotaRequest.account_id == account_id)
    if status is not None:
        stmt = stmt.where(QuotaRequest.status == status)
    return [request_view(r) for r in (await session.execute(stmt)).scalars()]


async def _open_request(session: AsyncSession, account_id: int, kind: RequestKind) -> QuotaRequest | None:
    stmt = select(QuotaRequest).where(
        QuotaRequest.account_id == account_id,
        QuotaRequest.kind == kind,
        QuotaRequest.status == RequestStatus.OPEN,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _grant_violations(
    session: AsyncSession, account: Account, kind: RequestKind, *, policy: Policy, now: datetime
) -> list[Violation]:
    """Every reason the increase cannot be granted now (for a new request and for an approval)."""
    violations: list[Violation] = []
    if account.state is not AccountState.ACTIVE:
        violations.append(Violation(Rule.ACCOUNT_NOT_ACTIVE, {"state": account.state.value}))
    if kind is RequestKind.LISTING_CAPACITY and account.listing_limit >= policy.listing_hard_cap:
        violations.append(
            Violation(
                Rule.LISTING_CAP_REACHED, {"limit": account.listing_limit, "cap": policy.listing_hard_cap}
            )
        )
    stores = await account_stores(session, account.id)
    violations += eligibility_violations(account, stores, policy=policy, now=now)
    return violations


async def _request_violations(
    session: AsyncSession, account: Account, kind: RequestKind, *, policy: Policy, now: datetime
) -> list[Violation]:
    """Every reason a new request of this kind is refused now: one already open, and every
    reason it could not be granted."""
    violations = []
    already = await _open_request(session, account.id, kind)
    if already is not None:
        violations.append(
            Violation(
                Rule.REQUEST_ALREADY_OPEN,
                {
                    "kind": kind.value,
                    "request_id": already.id,
                    "requested_at": already.requested_at.isoformat(),
                },
            )
        )
    return violations + await _grant_violations(session, account, kind, policy=policy, now=now)


def _limits_after(account: Account, kind: RequestKind, policy: Policy) -> tuple[int, int]:
    """The limit a granted request of this kind raises, before and after."""
    if kind is RequestKind.STORE_QUOTA:
        return account.store_limit, account.store_limit + policy.quota_step
    return account.listing_limit, policy.listing_hard_cap


@dataclass(frozen=True)
class IncreasePreview:
    """What a request would do now, before the seller confirms it: the limit before and after,
    and every rule that would refuse it (empty: it would be accepted)."""

    kind: RequestKind
    before: int
    after: int
    violations: tuple[Violation, ...]


async def preview_increase(
    session: AsyncSession, *, account_id: int, kind: RequestKind, policy: Policy, now: datetime | None = None
) -> IncreasePreview | None:
    """The verdict `request_increase` would give now (None: no such account). The request itself
    checks everything again, so a verdict that went stale cannot slip through."""
    account = await session.get(Account, account_id)
    if account is None:
        return None
    kind = RequestKind(kind)
    violations = await _request_violations(session, account, kind, policy=policy, now=now or utcnow())
    before, after = _limits_after(account, kind, policy)
    return IncreasePreview(kind=kind, before=before, after=after, violations=tuple(violations))


def _grant(
    account: Account, request: QuotaRequest, *, policy: Policy, decided_by: str, now: datetime
) -> None:
    request.limit_before, request.limit_after = _limits_after(account, request.kind, policy)
    if request.kind is RequestKind.STORE_QUOTA:
        account.store_limit = request.limit_after
    else:
        account.listing_limit = request.limit_after
    request.status = RequestStatus.APPROVED
    request.decided_by = decided_by
    request.decided_at = now


async def request_increase(
    *,
    sessions: Sessions,
    policy: Policy,
    account_id: int,
    kind: RequestKind,
    actor: str,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Done[RequestView] | Refused:
    """Ask for more stores (kind=store_quota) or more listings per store (listing_capacity).
    Done carries the request: `approved` (with the new limit) under auto_approve, else `open`.
    Refused names every failed condition, including an already open request of this kind."""
    now = now or utcnow()
    kind = RequestKind(kind)

    async def work(session: AsyncSession) -> Outcome[RequestView]:
        account = await session.get(Account, account_id)
        if account is None:
            return Outcome(refuse(Violation(Rule.ACCOUNT_NOT_FOUND, {"account_id": account_id})))
        violations = await _request_violations(session, account, kind, policy=policy, now=now)
        if violations:
            return Outcome(refuse(*violations), account_id=account.id)
        request = QuotaRequest(
            account_id=account.id,
            kind=kind,
            status=RequestStatus.OPEN,
            requested_by=actor,
            requested_at=now,
        )
        if policy.auto_approve:
            _grant(account, request, policy=policy, decided_by=AUTO_APPROVER, now=now)
        session.add(request)
        await session.flush()
        return Outcome(
            Done(request_view(request)),
            account_id=account.id,
            result_id=request.id,
            details={"request_id": request.id, "status": request.status, "limit_after": request.limit_after},
        )

    return await run_action(
        sessions,
        action=f"request_{kind.value}",
        actor=actor,
        params={"account_id": account_id, "kind": kind},
        work=work,
        replay=_replay_request,
        now=now,
        account_id=account_id,
        idempotency_key=idempotency_key,
    )


async def _decide(
    *,
    sessions: Sessions,
    policy: Policy,
    request_id: int,
    agent: str,
    approve: bool,
    reason: str | None,
    now: datetime,
) -> Done[RequestView] | Refused:
    async def work(session: AsyncSession) -> Outcome[RequestView]:
        found = await session.get(QuotaRequest, request_id)
        if found is None:
            return Outcome(refuse(Violation(Rule.REQUEST_NOT_FOUND, {"request_id": request_id})))
        account = await lock_account(session, found.account_id)
        # Read again under the account lock: a concurrent decision has committed by now.
        request = await session.get(QuotaRequest, request_id, populate_existing=True)
        assert account is not None and request is not None
        if request.status is not RequestStatus.OPEN:
            violation = Violation(
                Rule.REQUEST_NOT_OPEN, {"request_id": request.id, "status": request.status.value}
            )
            return Outcome(refuse(violation), account_id=account.id)
        if approve:
            violations = await _grant_violations(session, account, request.kind, policy=policy, now=now)
            if violations:
                return Outcome(refuse(*violations), account_id=account.id)
            _grant(account, request, policy=policy, decided_by=agent, now=now)
        else:
            request.status = RequestStatus.REJECTED
            request.decided_by = agent
            request.decided_at = now
            request.reason = reason
        await session.flush()
        return Outcome(Done(request_view(request)), account_id=account.id, result_id=request.id)

    return await run_action(
        sessions,
        action="approve_request" if approve else "reject_request",
        actor=agent,
        params={"request_id": request_id, "reason": reason},
        work=work,
        replay=_replay_request,
        now=now,
    )


async def approve_request(
    *, sessions: Sessions, policy: Policy, request_id: int, agent: str, now: datetime | None = None
) -> Done[RequestView] | Refused:
    """An agent approves an open request. The conditions are checked again: a seller whose store
    was banned since asking is refused, naming the rule."""
    return await _decide(
        sessions=sessions,
        policy=policy,
        request_id=request_id,
        agent=agent,
        approve=True,
        reason=None,
        now=now or utcnow(),
    )


async def reject_request(
    *,
    sessions: Sessions,
    policy: Policy,
    request_id: int,
    agent: str,
    reason: str,
    now: datetime | None = None,
) -> Done[RequestView] | Refused:
    """An agent rejects an open request, with a reason the seller is shown."""
    return await _decide(
        sessions=sessions,
        policy=policy,
        request_id=request_id,
        agent=agent,
        approve=False,
        reason=reason.strip() or None,
        now=now or utcnow(),
    )
