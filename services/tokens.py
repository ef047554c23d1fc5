"""Secrets the bot hands out: reset and confirmation tokens, and the 6-digit link codes.

Only hashes are stored. A token carries 256 bits from the OS's CSPRNG, so a plain SHA-256 is
enough to make a stolen table useless and lets the database find the row by its hash. A 6-digit
code has only a million values, so no hash can protect it against someone holding the table;
it gets a per-code random salt (equal codes do not look equal) and its real protection is
its short life and the limited number of tries.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 32  # 256 bits; docs/domain.md#token_secret asks for at least 128
CODE_DIGITS = 6


def new_token() -> str:
    """A URL-safe random token (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """The SHA-256 (hex) stored in place of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_code() -> str:
    """A uniformly random code of CODE_DIGITS digits, leading zeros kept."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def new_salt() -> str:
    return secrets.token_hex(16)


def code_hash(code: str, salt: str) -> str:
    return hmac.new(bytes.fromhex(salt), code.encode("ascii", "replace"), hashlib.sha256).hexdigest()


def code_matches(code: str, salt: str, expected_hash: str) -> bool:
    """Constant-time comparison, so the time taken says nothing about how close a guess was."""
    return hmac.compare_digest(code_hash(code, salt), expected_hash)
