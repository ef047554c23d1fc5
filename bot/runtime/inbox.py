"""The inbox: every update a channel delivers is stored before it is handled, once.

Telegram numbers its updates, and that number (`update_id`) both orders a chat's updates and
recognises a redelivery. Channels whose events carry a string id instead (QQ's event ids, a
OneBot client's message ids) give it as `event_key`: the inbox then numbers the event itself, in
the order it arrived, and recognises a redelivery by the key. Either way an update takes effect
once, whichever process received it and however often it came.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from services import inbound_queue as queue
from services.db import Sessions


@dataclass(frozen=True)
class Arrival:
    """One update as a channel delivered it: the chat whose order it keeps, its JSON text, and its
    identity — the channel's number (`update_id`) or, for channels without one, its own id
    (`event_key`)."""

    chat_key: str
    payload: str
    update_id: int | None = None
    event_key: str | None = None


_counter = itertools.count()
NUMBERING_ATTEMPTS = 3


def arrival_number() -> int:
    """A number for an event that has none: microseconds since the epoch, with 12 bits of a
    per-process counter, so that events arriving later get larger numbers (they are handled in
    that order) and two arriving in the same microsecond still differ."""
    return (time.time_ns() // 1000) << 12 | (next(_counter) & 0xFFF)


class Inbox:
    def __init__(self, sessions: Sessions, *, channel: str, owner: str) -> None:
        self.sessions = sessions
        self.channel = channel
        self.owner = owner

    async def store(self, arrivals: Sequence[Arrival]) -> list[tuple[Arrival, int | None]]:
        """Store the arrivals in one transaction. Returns each with its number, or None where it
        had been stored before (a redelivery, to be dropped). Raises if the database cannot
        store them (the caller tells the users)."""
        for attempt in range(NUMBERING_ATTEMPTS):
            rows = [
                queue.NewUpdate(
                    update_id=a.update_id if a.update_id is not None else arrival_number(),
                    chat_key=a.chat_key,
                    payload=a.payload,
                    event_key=a.event_key,
                )
                for a in arrivals
            ]
            try:
                stored = await queue.store_updates(
                    self.sessions, channel=self.channel, updates=rows, received_by=self.owner
                )
            except IntegrityError:
                # Another process gave one of its events the same number in the same microsecond
                # (rare): number these again.
                if attempt == NUMBERING_ATTEMPTS - 1 or all(a.event_key is None for a in arrivals):
                    raise
                continue
            new = set(stored)
            return [
                (a, row.update_id if row.update_id in new else None)
                for a, row in zip(arrivals, rows, strict=True)
            ]
        raise AssertionError("unreachable")
