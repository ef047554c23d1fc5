"""Text normalisation for matching: one canonical form for the many ways sellers type a question.

`normalize` maps full-width to half-width (NFKC), folds case, converts Traditional Chinese to
Simplified (OpenCC t2s), drops apostrophes and hyphens inside words ("don't" → "dont",
"e-mail" → "email"), turns every other non-word character (punctuation, emoji, symbols) into a
space and collapses spaces. It is idempotent and total: any Unicode string gives a string.

`runs` splits a normalised text into Han runs and other word runs (Latin words, numbers);
`pinyin` gives a Han character's toneless pinyin so that same-sound typos (秘码 → mi ma = 密码)
still share features; `detect_language` tells whether to reply in Chinese or English.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import unicodedata
from pathlib import Path

import opencc

# CJK Unified Ideographs and extensions A–H, plus compatibility ideographs (NFKC maps most of
# those to unified ones already).
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN_RE = re.compile(f"[{HAN}]")
_RUN_RE = re.compile(f"([{HAN}]+)|([^\\s{HAN}]+)")
_INWORD_RE = re.compile(r"(?<=[a-z])['’\-](?=[a-z])")
_NONWORD_RE = re.compile(r"[\W_]+")
_LATIN_RE = re.compile(r"[a-z]")

_t2s = opencc.OpenCC("t2s")


def _strip_surrogates(text: str) -> str:
    # Lone surrogates (possible in JSON input) cannot be encoded; they carry no meaning here.
    if any(0xD800 <= ord(c) < 0xE000 for c in text):
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _pass(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = unicodedata.normalize("NFKC", text.casefold())
    if _HAN_RE.search(text):
        text = _t2s.convert(text)
    text = _INWORD_RE.sub("", text)
    return " ".join(_NONWORD_RE.sub(" ", text).split())


def normalize(text: str) -> str:
    """The canonical form of a question: see the module docstring. Idempotent."""
    text = _pass(_strip_surrogates(text))
    # One pass is almost always a fixed point; rare characters (whose case folding or
    # conversion yields something NFKC changes again) need another.
    for _ in range(3):
        again = _pass(text)
        if again == text:
            break
        text = again
    return text


def is_han(char: str) -> bool:
    return bool(_HAN_RE.match(char))


def runs(normalized: str) -> list[tuple[str, bool]]:
    """Maximal runs of Han characters and of other word characters, with `True` for Han."""
    return [(m.group(0), m.group(1) is not None) for m in _RUN_RE.finditer(normalized)]


@functools.cache
def _pinyin_table() -> dict[int, str]:
    """pypinyin's code point → readings table, loaded without the package's phrase dictionaries.

    `import pypinyin` costs ~0.2 s (phrase dictionaries we do not need); its per-character
    table alone loads in a few milliseconds.
    """
    spec = importlib.util.find_spec("pypinyin")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / "pinyin_dict.py"
    module_spec = importlib.util.spec_from_file_location("_sellerbot_pinyin_dict", path)
    if module_spec is None or module_spec.loader is None:
        return {}
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.pinyin_dict


@functools.lru_cache(maxsize=65536)
def pinyin(char: str) -> str:
    """Toneless pinyin of one Han character (its first reading: 行 → xing), else the character."""
    readings = _pinyin_table().get(ord(char))
    if not readings:
        return char
    first = unicodedata.normalize("NFKD", readings.split(",")[0]).replace("u\u0308", "v")
    return "".join(c for c in first if not unicodedata.combining(c))


def detect_language(text: str, default: str = "en") -> str:
    """ "zh" if the question is written in Chinese (Simplified or Traditional), else "en".

    Sellers often mix in English words (Payoneer, ERP, SKU): two Han characters, or Han
    characters making up at least a third of the letters, make a Chinese question. A text
    with neither Han characters nor Latin letters ("???", "👍") gets `default`.
    """
    han = len(_HAN_RE.findall(text))
    latin = len(_LATIN_RE.findall(unicodedata.normalize("NFKC", text).casefold()))
    if han == 0:
        return "en" if latin else default
    return "zh" if han >= 2 or han * 3 >= latin else "en"
