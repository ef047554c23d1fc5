"""Forgetting what has served its purpose: expired links and codes, old idempotency keys, and
icons of flows that were never finished.

Without it these tables only grow (an abandoned icon upload holds up to 5 MB). Kept for
`keep_days` after they stopped mattering, so that support can still look at a recent case:

- password-reset tokens, linking codes and unconfirmed login-change requests, once expired;
- idempotency keys, once `keep_days` old (a repeat comes within seconds or minutes: a second
  click, a redelivered message);
- uploads no turn refers to (icons sent during a flow that was cancelled or left);
- the record of messages sent on QQ, and QQ's reply windows, once `keep_days` old.

What stays: accounts, stores, requests, bookings, confirmed login changes, chat links, the
audit log, conversations and their transcripts (with the files of handed-off conversations).
The rate limits look back one hour, far less than `keep_days`, so purging never lets a
request through that would have been refused.

The rule, with its test: docs/domain.md#records_kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete

from services.db import Sessions
from services.models import (
    EmailChangeRequest,
    IdempotencyKey,
    LinkCode,
    OutboundMessage,
    ReplyWindow,
    ResetToken,
    Upload,
)
from services.policy import Policy


@dataclass(frozen=True)
class Purged:
    """How many rows of each kind were deleted."""

    reset_tokens: int = 0
    link_codes: int = 0
    email_change_requests: int = 0
    idempotency_keys: int = 0
    uploads: int = 0
    outbound_messages: int = 0
    reply_windows: int = 0

    @property
    def total(self) -> int:
        return sum(asdict(self).values())


async def purge_expired(*, sessions: Sessions, keep_days: int, now: datetime, policy: Policy) -> Purged:
    """Delete what expired (or was created, for idempotency keys and uploads) more than
    `keep_days` before `now`, in one transaction. A login-change request is kept at least
    `policy.email_change_undo_days` after it was made: the stop link in its warning can still
    undo a later change."""
    if keep_days < 1:
        raise ValueError("keep_days must be at least 1")
    cutoff = now - timedelta(days=keep_days)
    undo_window = now - timedelta(days=policy.email_change_undo_days)
    statements = {
        "reset_tokens": delete(ResetToken).where(ResetToken.expires_at < cutoff),
        "link_codes": delete(LinkCode).where(LinkCode.expires_at < cutoff),
        "email_change_requests": delete(EmailChangeRequest).where(
            EmailChangeRequest.confirmed_at.is_(None),
            EmailChangeRequest.expires_at < cutoff,
            EmailChangeRequest.created_at < undo_window,
        ),
        "idempotency_keys": delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff),
        "uploads": delete(Upload).where(Upload.turn_id.is_(None), Upload.created_at < cutoff),
        # what became of each message sent on QQ, and QQ's reply windows (long closed)
        "outbound_messages": delete(OutboundMessage).where(OutboundMessage.created_at < cutoff),
        "reply_windows": delete(ReplyWindow).where(ReplyWindow.opened_at < cutoff),
    }
    counts: dict[str, int] = {}
    async with sessions() as session, session.begin():
        for name, statement in statements.items():
            result = await session.execute(statement)
            counts[name] = result.rowcount or 0
    return Purged(**counts)
