"""Store icons, judged by content: every image is generated in memory for the case it tests."""

from __future__ import annotations

import hashlib
import inspect
import io
import os
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from services import icons
from services.icons import MAX_ICON_PIXELS, IconInfo, check_icon
from services.policy import Policy
from services.results import Done, Refused, Rule

POLICY = Policy()
MIN = POLICY.icon_min_pixels  # 550


def image_bytes(fmt: str, size: tuple[int, int] = (600, 600), mode: str = "RGB", **save: Any) -> bytes:
    # A gradient rather than a flat colour, so the encoders produce real compressed data.
    img = Image.linear_gradient("L").resize(size).convert(mode)
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return buf.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int, idat: bytes = b"") -> bytes:
    """A well-formed PNG header (valid CRCs) declaring any size, with whatever pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat or zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real small JPEG whose start-of-frame is rewritten to declare another size."""
    data = bytearray(image_bytes("JPEG", (64, 64)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def refused(result: Done[IconInfo] | Refused) -> Refused:
    assert isinstance(result, Refused), result
    assert not result.ok
    return result


def accepted(result: Done[IconInfo] | Refused) -> IconInfo:
    assert isinstance(result, Done), result
    assert result.ok
    return result.value


@pytest.fixture
def pillow_forbidden(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fails the test if Pillow is asked to open anything. Calls are recorded and checked after
    the test, because check_icon rightly turns any exception from Pillow into a refusal."""
    calls: list[tuple[Any, ...]] = []

    def forbidden(*args: Any, **kwargs: Any) -> None:
        calls.append(args)
        raise OSError("Pillow must not be reached for this input")

    monkeypatch.setattr(icons.Image, "open", forbidden)
    yield
    assert calls == [], "Pillow was asked to open the data"


# --- accepted ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mode", "save"),
    [
        ("PNG", "RGB", {}),
        ("PNG", "RGBA", {}),
        ("PNG", "P", {}),  # palette
        ("PNG", "L", {}),
        ("PNG", "LA", {}),
        ("PNG", "I;16", {}),  # 16-bit greyscale
        ("PNG", "1", {}),
        ("PNG", "RGB", {"optimize": True, "compress_level": 9}),
        ("JPEG", "RGB", {"quality": 90}),
        ("JPEG", "L", {}),
        ("JPEG", "RGB", {"progressive": True}),
        ("JPEG", "RGB", {"subsampling": 0}),
        # CMYK JPEG (print workflows export logos like this): accepted — it is a JPEG by
        # content, decodes fine, and current browsers display it.
        ("JPEG", "CMYK", {}),
    ],
)
def test_jpeg_and_png_icons_are_accepted(fmt: str, mode: str, save: dict[str, Any]) -> None:
    data = image_bytes(fmt, (600, 600), mode, **save)
    info = accepted(check_icon(data, policy=POLICY))
    assert info == IconInfo(
        format=fmt, width=600, height=600, size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )


def test_icon_info_is_frozen() -> None:
    info = accepted(check_icon(image_bytes("PNG"), policy=POLICY))
    with pytest.raises(AttributeError):
        info.width = 1  # type: ignore[misc]


def test_exactly_the_minimum_size_is_accepted() -> None:
    info = accepted(check_icon(image_bytes("PNG", (MIN, MIN)), policy=POLICY))
    assert (info.width, info.height) == (550, 550)


def test_large_square_icon_is_accepted() -> None:
    info = accepted(check_icon(image_bytes("JPEG", (2048, 2048)), policy=POLICY))
    assert info.width == 2048


def test_multi_picture_jpeg_from_a_camera_is_a_jpeg() -> None:
    buf = io.BytesIO()
    frame = Image.linear_gradient("L").resize((600, 600)).convert("RGB")
    frame.save(buf, "MPO", save_all=True, append_images=[frame])
    assert accepted(check_icon(buf.getvalue(), policy=POLICY)).format == "JPEG"


# --- judged by content, not by name ---------------------------------------------------------


def test_there_is_no_file_name_to_be_misled_by() -> None:
    params = inspect.signature(check_icon).parameters
    assert list(params) == ["data", "policy", "max_pixels"]
    assert "name" in (check_icon.__doc__ or "")  # the docstring says why


def test_a_jpeg_uploaded_as_logo_png_is_a_jpeg() -> None:
    # What a chat client would call "logo.png" with MIME type image/png: the bytes say JPEG.
    jpeg = image_bytes("JPEG")
    assert accepted(check_icon(jpeg, policy=POLICY)).format == "JPEG"
    png = image_bytes("PNG")
    assert accepted(check_icon(png, policy=POLICY)).format == "PNG"


# --- other formats -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "detected"),
    [
        (image_bytes("GIF", mode="P"), "GIF"),
        (image_bytes("WEBP"), "WEBP"),
        (image_bytes("WEBP", lossless=True), "WEBP"),
        (image_bytes("BMP"), "BMP"),
        (image_bytes("TIFF"), "TIFF"),
        (image_bytes("PDF"), "PDF"),
        (image_bytes("ICO", (64, 64)), "ICO"),
        (image_bytes("PPM"), "unknown"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="600" height="600"/>', "SVG"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", "AVIF"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
        (b"this is my store logo, please use it", "unknown"),
        ("这是我的店铺图标".encode(), "unknown"),
        (b"<html><body><img src=x onerror=alert(1)></body></html>", "unknown"),
        (b"'; DROP TABLE stores; --", "unknown"),
        (b"PK\x03\x04" + b"\x00" * 100, "ZIP"),
        (b"\x00", "unknown"),
    ],
)
def test_other_files_are_refused_with_what_they_are(
    data: bytes, detected: str, pillow_forbidden: None
) -> None:
    result = refused(check_icon(data, policy=POLICY))
    assert result.rules == {Rule.ICON_FORMAT}
    assert result.violation(Rule.ICON_FORMAT).params == {"reason": "not_jpeg_or_png", "detected": detected}


def test_empty_file(pillow_forbidden: None) -> None:
    result = refused(check_icon(b"", policy=POLICY))
    assert result.rules == {Rule.ICON_FORMAT}
    assert result.violation(Rule.ICON_FORMAT).params["reason"] == "empty"


# --- shape and size ------------------------------------------------------------------------


def test_not_square() -> None:
    result = refused(check_icon(image_bytes("PNG", (800, 600)), policy=POLICY))
    assert result.rules == {Rule.ICON_NOT_SQUARE}
    assert result.violation(Rule.ICON_NOT_SQUARE).params == {"width": 800, "height": 600}


def test_off_by_one_pixel_is_not_square() -> None:
    assert refused(check_icon(image_bytes("JPEG", (MIN, MIN + 1)), policy=POLICY)).rules == {
        Rule.ICON_NOT_SQUARE
    }


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_549_pixels_is_too_small(fmt: str) -> None:
    result = refused(check_icon(image_bytes(fmt, (549, 549)), policy=POLICY))
    assert result.rules == {Rule.ICON_TOO_SMALL}
    assert result.violation(Rule.ICON_TOO_SMALL).params == {"width": 549, "height": 549, "min": 550}


def test_non_square_and_too_small_are_reported_together() -> None:
    result = refused(check_icon(image_bytes("PNG", (549, 600)), policy=POLICY))
    assert result.rules == {Rule.ICON_NOT_SQUARE, Rule.ICON_TOO_SMALL}
    assert result.violation(Rule.ICON_TOO_SMALL).params == {"width": 549, "height": 600, "min": 550}


def test_one_short_side_is_too_small_even_if_the_other_is_large() -> None:
    assert Rule.ICON_TOO_SMALL in refused(check_icon(image_bytes("PNG", (2000, 100)), policy=POLICY)).rules


def test_minimum_comes_from_the_policy() -> None:
    data = image_bytes("PNG", (300, 300))
    assert refused(check_icon(data, policy=POLICY)).rules == {Rule.ICON_TOO_SMALL}
    assert accepted(check_icon(data, policy=Policy(icon_min_pixels=300))).width == 300


# --- bytes ---------------------------------------------------------------------------------


def test_more_than_five_megabytes_is_refused_before_decoding(pillow_forbidden: None) -> None:
    # A real PNG of noise does not compress: just over 5 MiB.
    side = 1330
    noise = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buf = io.BytesIO()
    noise.save(buf, "PNG", compress_level=1)
    data = buf.getvalue()
    assert len(data) > 5 * 1024 * 1024
    result = refused(check_icon(data, policy=POLICY))
    assert result.rules == {Rule.ICON_TOO_LARGE}
    assert result.violation(Rule.ICON_TOO_LARGE).params == {"size": len(data), "max_bytes": 5 * 1024 * 1024}


def test_byte_limit_is_inclusive() -> None:
    data = image_bytes("JPEG")
    assert accepted(check_icon(data, policy=Policy(icon_max_bytes=len(data)))).size == len(data)
    result = refused(check_icon(data, policy=Policy(icon_max_bytes=len(data) - 1)))
    assert result.violation(Rule.ICON_TOO_LARGE).params == {"size": len(data), "max_bytes": len(data) - 1}


def test_too_large_and_wrong_format_are_reported_together(pillow_forbidden: None) -> None:
    data = image_bytes("GIF", mode="P")
    result = refused(check_icon(data, policy=Policy(icon_max_bytes=100)))
    assert result.rules == {Rule.ICON_TOO_LARGE, Rule.ICON_FORMAT}
    assert result.violation(Rule.ICON_FORMAT).params["detected"] == "GIF"


# --- decompression bombs -------------------------------------------------------------------


def test_png_declaring_100000_by_100000_is_refused_from_the_header(pillow_forbidden: None) -> None:
    data = png_declaring(100_000, 100_000)
    assert len(data) < 200
    result = refused(check_icon(data, policy=POLICY))
    assert result.rules == {Rule.ICON_TOO_LARGE}
    assert result.violation(Rule.ICON_TOO_LARGE).params == {
        "width": 100_000,
        "height": 100_000,
        "max_pixels": MAX_ICON_PIXELS,
    }


def test_jpeg_declaring_huge_dimensions_is_refused_from_the_header(pillow_forbidden: None) -> None:
    result = refused(check_icon(jpeg_declaring(60_000, 60_000), policy=POLICY))
    assert result.violation(Rule.ICON_TOO_LARGE).params == {
        "width": 60_000,
        "height": 60_000,
        "max_pixels": MAX_ICON_PIXELS,
    }


def test_real_compressed_bomb_is_refused_without_decoding(pillow_forbidden: None) -> None:
    # 6000×6000 RGB of zeros: 108 MB of pixels in a file of about 100 kB, within the byte limit
    # and under Pillow's own warning threshold, so only our explicit pixel cap stops it.
    width = height = 6000
    raw = zlib.compress((b"\x00" + b"\x00" * width * 3) * height, 9)
    data = png_declaring(width, height, idat=raw)
    assert len(data) < POLICY.icon_max_bytes
    assert width * height < Image.MAX_IMAGE_PIXELS
    result = refused(check_icon(data, policy=POLICY))
    assert result.rules == {Rule.ICON_TOO_LARGE}
    assert result.violation(Rule.ICON_TOO_LARGE).params["width"] == 6000


def test_pixel_cap_boundary() -> None:
    data = image_bytes("PNG", (600, 600))
    assert accepted(check_icon(data, policy=POLICY, max_pixels=600 * 600)).width == 600
    result = refused(check_icon(data, policy=POLICY, max_pixels=600 * 600 - 1))
    assert result.violation(Rule.ICON_TOO_LARGE).params == {
        "width": 600,
        "height": 600,
        "max_pixels": 359_999,
    }


def test_pillow_checks_the_pixel_cap_too_when_the_header_walk_gives_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Second line of defence: if our own header reading finds nothing, Pillow's reading of the
    # header is checked against the same cap before any pixel is decoded (8000² is under
    # Pillow's own warning threshold, so only our cap stands in the way).
    monkeypatch.setattr(icons, "_declared_size", lambda kind, data: None)
    decoded = []
    monkeypatch.setattr(icons, "_decodes", lambda data, fmt: decoded.append(fmt) or True)
    result = refused(check_icon(png_declaring(8000, 8000), policy=POLICY))
    assert result.violation(Rule.ICON_TOO_LARGE).params["width"] == 8000
    assert decoded == []
    # And beyond Pillow's own hard limit, its DecompressionBombError is still a refusal.
    result = refused(check_icon(png_declaring(100_000, 100_000), policy=POLICY))
    assert result.rules == {Rule.ICON_TOO_LARGE}


# --- damaged files -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("keep", [0.98, 0.9, 0.5, 0.2])
def test_truncated_files_are_refused(fmt: str, keep: float) -> None:
    data = image_bytes(fmt, (700, 700), mode="RGB")
    cut = data[: int(len(data) * keep)]
    result = refused(check_icon(cut, policy=POLICY))
    assert result.rules == {Rule.ICON_FORMAT}
    assert result.violation(Rule.ICON_FORMAT).params["reason"] in {"corrupt", "unreadable"}


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_and_non_square_are_reported_together(fmt: str) -> None:
    data = image_bytes(fmt, (800, 700))
    result = refused(check_icon(data[: len(data) // 2], policy=POLICY))
    assert result.rules == {Rule.ICON_FORMAT, Rule.ICON_NOT_SQUARE}
    assert result.violation(Rule.ICON_FORMAT).params == {"reason": "corrupt", "detected": fmt}


def test_png_with_a_damaged_chunk_is_refused() -> None:
    data = bytearray(image_bytes("PNG"))
    idat = data.index(b"IDAT")
    data[idat + 20] ^= 0xFF  # one flipped byte: the chunk's CRC no longer matches
    result = refused(check_icon(bytes(data), policy=POLICY))
    assert result.violation(Rule.ICON_FORMAT).params["reason"] == "corrupt"


def test_png_cut_right_after_the_pixel_data_is_refused() -> None:
    # All pixels decode, only the IEND chunk is missing: an upload cut off at the very end. Only
    # the chunk walk of verify() notices; load() alone would accept it.
    data = image_bytes("PNG")
    result = refused(check_icon(data[: data.index(b"IEND") - 4], policy=POLICY))
    assert result.violation(Rule.ICON_FORMAT).params == {"reason": "corrupt", "detected": "PNG"}


def test_png_with_a_damaged_chunk_after_the_pixel_data_is_refused() -> None:
    data = image_bytes("PNG")
    body = b"Comment\x00logo"
    bad_crc = struct.pack(">I", zlib.crc32(b"tEXt" + body) ^ 1)
    damaged = struct.pack(">I", len(body)) + b"tEXt" + body + bad_crc
    end = data.index(b"IEND") - 4
    assert accepted(check_icon(data[:end] + png_chunk(b"tEXt", body) + data[end:], policy=POLICY))
    result = refused(check_icon(data[:end] + damaged + data[end:], policy=POLICY))
    assert result.violation(Rule.ICON_FORMAT).params["reason"] == "corrupt"


def test_png_with_garbage_pixel_data_is_refused() -> None:
    # Valid header and CRCs, but the compressed stream is not zlib.
    result = refused(check_icon(png_declaring(600, 600, idat=b"not zlib at all" * 10), policy=POLICY))
    assert result.violation(Rule.ICON_FORMAT).params["reason"] == "corrupt"


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"\x89PNG\r\n\x1a\n", "PNG"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "PNG"),
        (b"\xff\xd8\xff", "JPEG"),
        (b"\xff\xd8\xff\xe0" + b"garbage" * 20, "JPEG"),
    ],
)
def test_signature_without_a_readable_header(data: bytes, fmt: str) -> None:
    result = refused(check_icon(data, policy=POLICY))
    assert result.rules == {Rule.ICON_FORMAT}
    assert result.violation(Rule.ICON_FORMAT).params == {"reason": "unreadable", "detected": fmt}


# --- never crashes -------------------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert isinstance(check_icon(data, policy=POLICY), (Done, Refused))


_SMALL_PNG = image_bytes("PNG", (40, 40))
_SMALL_JPEG = image_bytes("JPEG", (40, 40))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([_SMALL_PNG, _SMALL_JPEG]), st.data())
def test_damaged_real_images_never_raise(original: bytes, data: st.DataObject) -> None:
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(damaged) - 1))
        damaged[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(damaged)))
    result = check_icon(bytes(damaged[:cut]), policy=Policy(icon_min_pixels=1))
    assert isinstance(result, (Done, Refused))
    if isinstance(result, Done):
        assert result.value.format in {"JPEG", "PNG"}
