"""Idempotency keys: an action repeated with the same key has one effect.

The caller (the conversation, a script) chooses the key, e.g. one per chat message, so that a
retried webhook or a double click does not open two stores. The key is stored in the same
transaction as the action's effect, so either both exist or neither. Only effects are remembered:
a refused action leaves no key behind, and the same key may be tried again once the seller has
fixed what was wrong.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import json_safe
from services.models import IdempotencyKey

MAX_KEY_LENGTH = 200


class IdempotencyKeyReused(Exception):
    """The key was already used for a different action or different arguments: a caller bug."""


def request_hash(action: str, params: Mapping[str, Any]) -> str:
    canonical = json.dumps([action, json_safe(params)], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"an idempotency key must be 1 to {MAX_KEY_LENGTH} characters")


async def find(session: AsyncSession, key: str, *, action: str, fingerprint: str) -> IdempotencyKey | None:
    """The record of an earlier use of `key`, or None. Raises IdempotencyKeyReused when the key
    was used for something else."""
    row = await session.get(IdempotencyKey, key, populate_existing=True)
    if row is not None and (row.action != action or row.request_hash != fingerprint):
        raise IdempotencyKeyReused(
            f"idempotency key {key!r} was already used for {row.action} with other arguments"
        )
    return row


def remember(
    session: AsyncSession, key: str, *, action: str, fingerprint: str, result_id: int | None, now: datetime
) -> None:
    session.add(
        IdempotencyKey(key=key, action=action, request_hash=fingerprint, result_id=result_id, created_at=now)
    )
