"""The statements run at every turn and update, on the embedded database (SQLite, one connection
whose calls run on the event loop): run straight on sqlite3 they write and read exactly what
SQLAlchemy would — datetimes back timezone-aware UTC, JSON state as objects, enums as their
values — and a failure is SQLAlchemy's exception, so the callers' handling holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from handlers import core
from services import inbound_queue, outbox
from services.db import Database, HotStatement, PlainResult, open_database, run_reading, run_writing
from services.models import Conversation, InboundUpdate, Turn, TurnDirection, TurnKind, UpdateStatus

NOW = datetime(2026, 12, 6, 9, 30, 15, 123456, tzinfo=UTC)
KEY = {"channel": "telegram", "chat_id": "42", "thread_id": "", "user_id": "7"}


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[Database]:
    """The embedded database as `sellerbot` opens it (not the tests' pooled engine)."""
    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'sellerbot.db'}")
    try:
        yield database
    finally:
        await database.close()


def _new_conversation(connection: Any) -> int:
    """The conversation of KEY, made in the caller's transaction; its id."""
    return connection.execute(
        insert(Conversation.__table__)
        .values(
            **KEY, language="zh", state={"flow_data": {"n": 1}}, version=3, created_at=NOW, updated_at=NOW
        )
        .returning(Conversation.__table__.c.id)
    ).scalar_one()


async def test_a_turn_loads_and_saves_what_sqlalchemy_reads_and_writes(embedded: Database) -> None:
    conversation = await run_writing(embedded.sessions, _new_conversation)

    def both(connection: Any) -> tuple[Any, Any]:
        plain = core._LOAD.run(connection, KEY)
        assert isinstance(plain, PlainResult)  # run straight on sqlite3
        return tuple(plain.first()), tuple(connection.execute(core._LOAD.statement, KEY).first())

    plain_row, sqlalchemy_row = await run_reading(embedded.sessions, both)
    assert plain_row == sqlalchemy_row
    assert plain_row[0] == conversation and plain_row[4] == {"flow_data": {"n": 1}} and plain_row[5] == 3

    values = {
        "conversation": conversation,
        "seen_version": 3,
        "language": "en",
        "flow": None,
        "step": None,
        "state": {"lang_chosen": True, "shown": ["a"]},
        "updated_at": NOW,
        "version": 4,
        "display_name": None,
    }
    row = {
        "conversation_id": conversation,
        "direction": TurnDirection.IN,
        "text": "{{ 7*7 }} '; DROP TABLE turns; --",
        "language": "en",
        "intent": None,
        "score": 0.5,
        "decision": None,
        "flow_step": None,
        "author": None,
        "channel_message_id": "9",
        "created_at": NOW,
        "kind": TurnKind.TEXT,
        "button_id": None,
        "button_label": None,
        "typed_text": "hi",
    }

    def save(connection: Any) -> int:
        saved = core._SAVE.run(connection, values).rowcount
        core._INSERT_TURNS.run(connection, [row, {**row, "direction": TurnDirection.OUT, "text": "答"}])
        return saved

    assert await run_writing(embedded.sessions, save) == 1
    # A second save from the same version finds it moved on: nothing changes.
    assert await run_writing(embedded.sessions, lambda c: core._SAVE.run(c, values).rowcount) == 0

    async with embedded.sessions() as session:
        saved = await session.get(Conversation, conversation)
        assert saved is not None
        assert (saved.language, saved.state, saved.version, saved.updated_at) == (
            "en",
            {"lang_chosen": True, "shown": ["a"]},
            4,
            NOW,
        )
        turns = (await session.scalars(select(Turn).order_by(Turn.id))).all()
    assert [(t.direction, t.text, t.kind, t.created_at) for t in turns] == [
        (TurnDirection.IN, "{{ 7*7 }} '; DROP TABLE turns; --", TurnKind.TEXT, NOW),
        (TurnDirection.OUT, "答", TurnKind.TEXT, NOW),
    ]


async def test_the_runtime_takes_finishes_and_sends_through_the_same_rows(embedded: Database) -> None:
    stored = await inbound_queue.store_updates(
        embedded.sessions,
        channel="telegram",
        updates=[inbound_queue.NewUpdate(update_id=n, chat_key="42", payload=f'{{"n":{n}}}') for n in (5, 6)],
        received_by="A",
    )
    assert stored == [5, 6]
    assert await inbound_queue.acquire_lease(
        embedded.sessions, channel="telegram", chat_key="42", owner="A", seconds=30, now=NOW
    )
    assert not await inbound_queue.acquire_lease(
        embedded.sessions, channel="telegram", chat_key="42", owner="B", seconds=30, now=NOW
    )
    work = await inbound_queue.next_update(
        embedded.sessions, channel="telegram", chat_key="42", owner="A", lease_seconds=30
    )
    assert work.update is not None and work.update.update_id == 5 and work.update.payload == '{"n":5}'
    assert work.update.received_at.tzinfo is not None

    def turn(connection: Any) -> tuple[bool, outbox.Pending, Any]:
        finished = inbound_queue.finish_in(connection, channel="telegram", update_id=5, owner="A", now=NOW)
        queued = outbox.queue_message(
            connection, channel="telegram", chat_key="42", payload={"replies": ["答"]}, now=NOW
        )
        taken = inbound_queue.take_next_in(connection, channel="telegram", chat_key="42", owner="A", now=NOW)
        return finished, queued, taken

    finished, queued, taken = await run_writing(embedded.sessions, turn)
    assert finished and taken is not None and taken.update_id == 6
    # Finishing it again (another process took it over meanwhile) changes nothing.
    assert not await run_writing(
        embedded.sessions,
        lambda c: inbound_queue.finish_in(c, channel="telegram", update_id=5, owner="A", now=NOW),
    )
    pending = await run_reading(
        embedded.sessions, lambda c: outbox.pending_in(c, channel="telegram", chat_key="42", limit=5)
    )
    assert pending == [outbox.Pending(queued.id, "42", {"replies": ["答"]}, NOW)]
    await outbox.mark(embedded.sessions, [outbox.Outcome(queued.id, sent=True, message_ids=("77",))], now=NOW)
    assert (
        await run_reading(
            embedded.sessions, lambda c: outbox.pending_in(c, channel="telegram", chat_key="42", limit=5)
        )
        == []
    )
    async with embedded.sessions() as session:
        update = await session.get(InboundUpdate, ("telegram", 5))
        assert update is not None and update.status is UpdateStatus.DONE and update.payload is None
        assert update.finished_at == NOW


async def test_a_failure_is_sqlalchemys_exception(embedded: Database) -> None:
    await run_writing(embedded.sessions, _new_conversation)
    again = HotStatement(
        insert(Conversation.__table__), column_keys=[*KEY, "state", "version", "created_at", "updated_at"]
    )
    params = {**KEY, "state": {}, "version": 1, "created_at": NOW, "updated_at": NOW}
    with pytest.raises(IntegrityError):
        await run_writing(embedded.sessions, lambda c: again.run(c, params))
