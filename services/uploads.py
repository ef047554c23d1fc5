"""Files a seller sends during a flow (store icons), held in the database until the flow uses
them, so that a restart or another bot process can finish the flow."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import delete

from services.db import Sessions
from services.models import Upload


def upload_values(
    conversation_id: int,
    data: bytes,
    *,
    now: datetime,
    name: str | None = None,
    mime_type: str | None = None,
    turn_id: int | None = None,
) -> dict[str, Any]:
    """The columns of the row that keeps a file of a conversation (with `turn_id`, a file of its
    transcript), for a Core insert."""
    return {
        "conversation_id": conversation_id,
        "turn_id": turn_id,
        "name": name[:255] if name is not None else None,
        "mime_type": mime_type[:100] if mime_type is not None else None,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "data": data,
        "created_at": now,
    }


def new_upload(
    conversation_id: int,
    data: bytes,
    *,
    now: datetime,
    name: str | None = None,
    mime_type: str | None = None,
    turn_id: int | None = None,
) -> Upload:
    """The row that keeps a file of a conversation (see `upload_values`); the caller adds it to a
    session."""
    return Upload(
        **upload_values(conversation_id, data, now=now, name=name, mime_type=mime_type, turn_id=turn_id)
    )


async def save_upload(*, sessions: Sessions, conversation_id: int, data: bytes, now: datetime) -> int:
    """Keep a file for a conversation; returns its id."""
    async with sessions() as session, session.begin():
        upload = new_upload(conversation_id, data, now=now)
        session.add(upload)
        await session.flush()
        return upload.id


async def load_upload(*, sessions: Sessions, upload_id: int, conversation_id: int) -> bytes | None:
    """The file, if it exists and belongs to this conversation (an id from another
    conversation's state is never honoured)."""
    async with sessions() as session:
        upload = await session.get(Upload, upload_id)
        if upload is None or upload.conversation_id != conversation_id:
            return None
        return upload.data


async def discard_upload(*, sessions: Sessions, upload_id: int) -> None:
    async with sessions() as session, session.begin():
        await session.execute(delete(Upload).where(Upload.id == upload_id))
