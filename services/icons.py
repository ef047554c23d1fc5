"""Store icons: JPEG or PNG judged by content, square, large enough, not too large.

The bytes are all there is: there is no file-name parameter, because a name (or a MIME type
from a chat client) says nothing about what the file is — a JPEG called `logo.png` is a JPEG,
and is accepted as one.

Order of work, cheapest and safest first, so hostile input costs little:

1. empty, more than `policy.icon_max_bytes`, or not JPEG/PNG by its first bytes → refused
   without handing anything to Pillow;
2. the dimensions the header declares (read here, and again by Pillow, which reads the header
   only) are checked against `max_pixels` before a single pixel is decoded, so a small file
   declaring 100000×100000 (a decompression bomb) costs nothing. The cap is explicit here rather
   than Pillow's process-wide `MAX_IMAGE_PIXELS`, which only warns below twice its value;
3. squareness and minimum size are checked, then the whole image is decoded (PNG chunks' CRCs
   verified too) to refuse truncated or corrupt files — every failed rule is reported together.

Truncated files are refused as long as Pillow's process-wide `ImageFile.LOAD_TRUNCATED_IMAGES`
stays off (its default); nothing in this project turns it on.

Decoding a few megapixels is CPU work: an async caller should run `check_icon` in a worker
thread (`asyncio.to_thread`).

The rules, with their tests: docs/domain.md#icon_format, docs/domain.md#icon_not_square,
docs/domain.md#icon_too_small, docs/domain.md#icon_too_large.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image

from services.policy import Policy
from services.results import Done, Refused, Rule, Violation, refuse

# 4096 × 4096: any sensible icon fits, and decoding it needs at most 64 MiB (RGBA). Camera
# photos larger than this are not icons; bombs declare billions.
MAX_ICON_PIXELS = 4096 * 4096

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8\xff"

# What other files are, to tell the seller ("this is a GIF"); never used to open them.
_OTHER_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"%PDF", "PDF"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"8BPS", "PSD"),
    (0, b"\xff\x0a", "JPEG XL"),
    (0, b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (0, b"PK\x03\x04", "ZIP"),
)
_FTYP_BRANDS = {b"avif": "AVIF", b"avis": "AVIF", b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF"}

# JPEG start-of-frame markers: they carry the dimensions (C4 DHT, C8 JPG and CC DAC are not frames).
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


@dataclass(frozen=True)
class IconInfo:
    format: str  # "JPEG" or "PNG"
    width: int
    height: int
    size: int  # bytes
    sha256: str  # hex digest of the bytes, to store and deduplicate by


def check_icon(data: bytes, *, policy: Policy, max_pixels: int = MAX_ICON_PIXELS) -> Done[IconInfo] | Refused:
    """Judge `data` as a store icon by its content alone (no file name is taken, on purpose).

    Refusals, each with parameters for the reply:
    - ICON_FORMAT: `reason` "empty", "not_jpeg_or_png" (with `detected`: "GIF", "WEBP", … or
      "unknown"), "unreadable" (a JPEG/PNG signature but no usable header) or "corrupt"
      (truncated or damaged data);
    - ICON_TOO_LARGE: `size` and `max_bytes`, or for too many pixels `width`, `height` and
      `max_pixels`;
    - ICON_NOT_SQUARE: `width`, `height`;
    - ICON_TOO_SMALL: `width`, `height`, `min`.
    CMYK JPEGs are accepted: they are JPEGs, and browsers display them.
    """
    size = len(data)
    if size == 0:
        return refuse(Violation(Rule.ICON_FORMAT, {"reason": "empty", "size": 0}))

    kind = _sniff(data)
    first: list[Violation] = []
    if size > policy.icon_max_bytes:
        first.append(Violation(Rule.ICON_TOO_LARGE, {"size": size, "max_bytes": policy.icon_max_bytes}))
    if kind not in ("JPEG", "PNG"):
        first.append(Violation(Rule.ICON_FORMAT, {"reason": "not_jpeg_or_png", "detected": kind}))
    if first:
        return refuse(*first)

    declared = _declared_size(kind, data)
    if declared is not None and declared[0] * declared[1] > max_pixels:
        return refuse(_too_many_pixels(*declared, max_pixels))

    try:
        with Image.open(io.BytesIO(data), formats=("JPEG", "PNG")) as img:
            fmt = "JPEG" if img.format == "MPO" else img.format  # MPO: a camera JPEG with extra frames
            width, height = img.size
    except Image.DecompressionBombError:
        # Only reachable if our header reading missed what Pillow found; still refuse as a bomb.
        return refuse(Violation(Rule.ICON_TOO_LARGE, {"max_pixels": max_pixels}))
    except Exception:
        # Malformed headers surface from Pillow as OSError, SyntaxError, ValueError, struct.error,
        # EOFError and more; for untrusted bytes every one of them means "not a readable image".
        return refuse(Violation(Rule.ICON_FORMAT, {"reason": "unreadable", "detected": kind}))
    if fmt not in ("JPEG", "PNG"):
        return refuse(
            Violation(Rule.ICON_FORMAT, {"reason": "not_jpeg_or_png", "detected": fmt or "unknown"})
        )
    if width * height > max_pixels:
        return refuse(_too_many_pixels(width, height, max_pixels))

    violations: list[Violation] = []
    if width != height:
        violations.append(Violation(Rule.ICON_NOT_SQUARE, {"width": width, "height": height}))
    if min(width, height) < policy.icon_min_pixels:
        violations.append(
            Violation(Rule.ICON_TOO_SMALL, {"width": width, "height": height, "min": policy.icon_min_pixels})
        )
    if not _decodes(data, fmt):
        violations.append(Violation(Rule.ICON_FORMAT, {"reason": "corrupt", "detected": fmt}))
    if violations:
        return refuse(*violations)
    return Done(
        IconInfo(format=fmt, width=width, height=height, size=size, sha256=hashlib.sha256(data).hexdigest())
    )


def _too_many_pixels(width: int, height: int, max_pixels: int) -> Violation:
    return Violation(Rule.ICON_TOO_LARGE, {"width": width, "height": height, "max_pixels": max_pixels})


def _sniff(data: bytes) -> str:
    if data.startswith(_PNG_SIGNATURE):
        return "PNG"
    if data.startswith(_JPEG_SOI):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp" and data[8:12] in _FTYP_BRANDS:
        return _FTYP_BRANDS[data[8:12]]
    for offset, signature, name in _OTHER_SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return name
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "SVG"
    return "unknown"


def _declared_size(kind: str, data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header, or None when it cannot be read here (Pillow decides)."""
    if kind == "PNG":
        # The first chunk must be IHDR: length 13, type, then width and height as big-endian uint32.
        if len(data) >= 24 and data[12:16] == b"IHDR":
            return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return None
    return _jpeg_size(data)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    # Walk the marker segments after SOI until the start-of-frame; stop at start-of-scan.
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        if marker in (0xD8, 0xD9, 0xDA):  # SOI, EOI or SOS before any frame: leave it to Pillow
            return None
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in _SOF_MARKERS:
            if length < 7 or i + 9 > n:
                return None
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return (width, height) if height else None  # height 0: defined later by DNL
        if length < 2:
            return None
        i += 2 + length
    return None


def _decodes(data: bytes, fmt: str) -> bool:
    """Whether every pixel decodes. Called only within the pixel cap."""
    try:
        with Image.open(io.BytesIO(data), formats=(fmt,)) as img:
            img.verify()  # PNG: walks every chunk and checks its CRC; cheap
        with Image.open(io.BytesIO(data), formats=(fmt,)) as img:
            if fmt == "JPEG":
                # Decode at 1/8 scale: libjpeg still reads all the compressed data (so truncation
                # and bad Huffman codes are found) but needs 64 times less memory.
                img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
    except Exception:
        # As in check_icon: for untrusted data any exception from the decoder means "corrupt".
        return False
    return True
