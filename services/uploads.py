"""Files a seller sends during a flow (store icons), held in the database until the flow uses
them, so that a restart or another bot process can finish the flow."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete

from services.db import Sessions
from services.models import Upload


async def save_upload(*, sessions: Sessions, conversation_id: int, data: bytes, now: datetime) -> int:
    """Keep a file for a conversation; returns its id."""
    async with sessions() as session, session.begin():
        upload = Upload(
            conversation_id=conversation_id,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            data=data,
            created_at=now,
        )
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
