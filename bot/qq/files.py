"""Sellers' images, fetched with a size limit: the download stops as soon as it is too large."""

from __future__ import annotations

import aiohttp


class FileTooLarge(Exception):
    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(f"{size} bytes (limit {limit})")


async def read_limited(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The body, refused (FileTooLarge) as soon as it is longer than `max_bytes`."""
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise FileTooLarge(declared, max_bytes)
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > max_bytes:
            raise FileTooLarge(size, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)
