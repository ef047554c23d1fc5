"""The Chinese Unified Social Credit Code (统一社会信用代码, GB 32100-2015).

The number printed on a business licence (营业执照): 18 characters from a 31-character
alphabet — the digits and the capital letters without I, O, S, V and Z, which are left out
because they are easily mistaken for 1, 0, 5, U and 2. The 18th character is a check
character over the first 17:

    check = (31 - Σ value(cᵢ) · 3ⁱ mod 31) mod 31,   i = 0 … 16

where value() is a character's position in the alphabet. Because 31 is prime and every weight
3ⁱ is invertible modulo 31, changing any single character always changes the check, and so does
swapping two adjacent different characters (the tests prove both exhaustively). It does not catch
everything: the check character behaves as if it had weight 1, like the first character, so
swapping the first and the last characters goes unnoticed.

Only the format and the check character are validated here: whether the code belongs to a real,
registered company is for the KYC review, not for the bot.

The rule, with its test: docs/domain.md#licence_invalid.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from services.results import Rule, Violation

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
LENGTH = 18
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_MODULUS = len(ALPHABET)  # 31
_WEIGHTS = tuple(pow(3, i, _MODULUS) for i in range(LENGTH - 1))

# Separators people type between groups of characters. NFKC already turns the full-width forms
# (U+3000 ideographic space, U+FF0D full-width hyphen) into their ASCII counterparts; the dashes
# below survive NFKC, and Chinese input methods produce them too.
_SEPARATORS = re.compile(r"[\s\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff70]+")

LicenceProblem = Literal["length", "characters", "check_character"]


def normalize_licence(text: str) -> str:
    """The code as stored and compared: NFKC (so full-width ９１３５… works), no spaces or
    hyphens, upper case. Nothing is validated here; see `licence_problem`."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper()


def uscc_check_character(first17: str) -> str:
    """The check character for the first 17 characters of a code.

    Raises ValueError unless `first17` is exactly 17 characters of the alphabet (already
    normalised): a check character of something that is not a code prefix means nothing.
    """
    if len(first17) != LENGTH - 1:
        raise ValueError(f"expected {LENGTH - 1} characters, got {len(first17)}")
    try:
        total = sum(_VALUE[ch] * w for ch, w in zip(first17, _WEIGHTS, strict=True))
    except KeyError as exc:
        raise ValueError(f"not a character of the code alphabet: {exc.args[0]!r}") from None
    return ALPHABET[(-total) % _MODULUS]


def licence_problem(code: str) -> LicenceProblem | None:
    """None when `code` is a valid Unified Social Credit Code after normalising; otherwise what
    is wrong, coarsest first: "length" (not 18 characters), "characters" (something outside the
    alphabet — including the letters I, O, S, V, Z and any non-ASCII letter or digit that NFKC
    does not map to ASCII), or "check_character"."""
    normal = normalize_licence(code)
    if len(normal) != LENGTH:
        return "length"
    # Membership in the explicit alphabet, never str.isalnum()/isdigit(): those accept Cyrillic
    # look-alikes, superscripts and CJK characters.
    if any(ch not in _VALUE for ch in normal):
        return "characters"
    if uscc_check_character(normal[:-1]) != normal[-1]:
        return "check_character"
    return None


def licence_violation(code: str) -> Violation | None:
    """The LICENCE_INVALID refusal for a code that is not valid (naming the problem), or None."""
    problem = licence_problem(code)
    if problem is None:
        return None
    return Violation(Rule.LICENCE_INVALID, {"licence": normalize_licence(code), "problem": problem})
