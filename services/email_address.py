"""E-mail addresses as the services compare and validate them.

An account's login is unique case-insensitively: the stored key is the address lower-cased.
Validation is deliberately plain (ASCII local part and domain, one "@", a dotted domain with
a letter TLD): it catches typing mistakes, and whether an address really exists is found out
by mailing it.
"""

from __future__ import annotations

import re
import unicodedata

MAX_LENGTH = 254
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TLD = re.compile(r"[A-Za-z]{2,63}")


def clean_email(text: str) -> str:
    """The address as typed, made comparable: NFKC (full-width ＠ and letters become ASCII),
    surrounding spaces and angle brackets removed."""
    return unicodedata.normalize("NFKC", text).strip().strip("<>").strip()


def email_key(text: str) -> str:
    """The form used for uniqueness and look-ups."""
    return clean_email(text).lower()


def is_valid_email(text: str) -> bool:
    address = clean_email(text)
    if len(address) > MAX_LENGTH or address.count("@") != 1:
        return False
    local, domain = address.split("@")
    if not (1 <= len(local) <= 64) or not _LOCAL.fullmatch(local):
        return False
    labels = domain.split(".")
    return (
        len(labels) >= 2
        and all(_LABEL.fullmatch(label) for label in labels)
        and _TLD.fullmatch(labels[-1]) is not None
    )
