"""Files users send: getFile, then the download from <root>/file/bot<token>/<path>.

A file over the limit (20 MB: what the Bot API serves) is refused before anything is
downloaded, by the size Telegram states, and again while downloading, by the bytes that
actually arrive. Errors never quote the download URL, which contains the token.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.telegram.api import ApiCall, ApiClient, ApiError, NetworkError, api_error_text
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
    def __init__(self, api: ApiClient, *, max_bytes: int) -> None:
        self.api = api
        self.max_bytes = max_bytes

    def check_size(self, ref: FileRef) -> None:
        if ref.size is not None and ref.size > self.max_bytes:
            raise FileTooLarge(ref.size, self.max_bytes)

    async def fetch(self, ref: FileRef) -> InboundFile:
        self.check_size(ref)
        try:
            info = await self.api(ApiCall("getFile", {"file_id": ref.file_id}))
        except ApiError as exc:
            if exc.says("too big"):
                raise FileTooLarge(ref.size or self.max_bytes + 1, self.max_bytes) from None
            raise FileFetchError(f"getFile failed: {api_error_text(exc)}") from None
        size = info.get("file_size")
        if size is not None and size > self.max_bytes:
            raise FileTooLarge(size, self.max_bytes)
        if not info.get("file_path"):
            raise FileFetchError("getFile gave no file path")
        data = bytearray()
        try:
            async for chunk in self.api.download(info["file_path"], request_timeout=DOWNLOAD_TIMEOUT_SECONDS):
                data += chunk
                if len(data) > self.max_bytes:
                    raise FileTooLarge(len(data), self.max_bytes)
        except NetworkError as exc:
            raise FileFetchError(f"download failed: {exc.description}") from None
        except TimeoutError:
            raise FileFetchError("download timed out") from None
        return InboundFile(name=ref.name, data=bytes(data), mime_type=ref.mime_type)
