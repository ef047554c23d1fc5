"""Files users send: getFile, then the download from <root>/file/bot<token>/<path>.

A file over the limit (20 MB: what the Bot API serves) is refused before anything is
downloaded, by the size Telegram states, and again while downloading, by the bytes that
actually arrive. Errors never quote the download URL, which contains the token.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiohttp import ClientError

from bot.telegram.client import api_error_text
from handlers.types import InboundFile

DOWNLOAD_TIMEOUT_SECONDS = 120


class FileTooLarge(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"file of {size} bytes is over the {limit}-byte limit")
        self.size = size
        self.limit = limit


class FileFetchError(Exception):
    """The file could not be fetched; the message is safe to log (no URL, no token)."""


@dataclass(frozen=True)
class FileRef:
    file_id: str
    size: int | None
    name: str
    mime_type: str = ""


class FileFetcher:
    def __init__(self, bot: Bot, *, max_bytes: int) -> None:
        self.bot = bot
        self.max_bytes = max_bytes

    def check_size(self, ref: FileRef) -> None:
        if ref.size is not None and ref.size > self.max_bytes:
            raise FileTooLarge(ref.size, self.max_bytes)

    async def fetch(self, ref: FileRef) -> InboundFile:
        self.check_size(ref)
        try:
            info = await self.bot.get_file(ref.file_id)
        except TelegramAPIError as exc:
            if "too big" in str(exc.message).lower():
                raise FileTooLarge(ref.size or self.max_bytes + 1, self.max_bytes) from None
            raise FileFetchError(f"getFile failed: {api_error_text(exc)}") from None
        if info.file_size is not None and info.file_size > self.max_bytes:
            raise FileTooLarge(info.file_size, self.max_bytes)
        if not info.file_path:
            raise FileFetchError("getFile gave no file path")
        url = self.bot.session.api.file_url(self.bot.token, info.file_path)
        data = bytearray()
        try:
            async for chunk in self.bot.session.stream_content(
                url=url, timeout=DOWNLOAD_TIMEOUT_SECONDS, chunk_size=65536, raise_for_status=True
            ):
                data += chunk
                if len(data) > self.max_bytes:
                    raise FileTooLarge(len(data), self.max_bytes)
        except ClientError as exc:
            status = getattr(exc, "status", None)
            raise FileFetchError(
                f"download failed: {type(exc).__name__}{f' (HTTP {status})' if status else ''}"
            ) from None
        except TimeoutError:
            raise FileFetchError("download timed out") from None
        return InboundFile(name=ref.name, data=bytes(data), mime_type=ref.mime_type)
