"""Reading what sellers type: the words that cancel, and values in flows (dates and counts), in
Chinese or English."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta

from faq.normalize import normalize

# Words that, typed alone, cancel: end a flow, or leave the queue for a person (one list for
# both). Ordinary English words such as "stop" are left out: a store may well be called "Stop".
CANCEL_WORDS = {"cancel", "取消", "退出", "算了"}


def is_cancel_word(text: str) -> bool:
    return normalize(text) in CANCEL_WORDS


_RELATIVE_DAYS = {
    "今天": 0,
    "今日": 0,
    "today": 0,
    "明天": 1,
    "明日": 1,
    "tomorrow": 1,
    "tmr": 1,
    "后天": 2,
    "後天": 2,
    "day after tomorrow": 2,
}
_ISO = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_MONTH_DAY = re.compile(r"^(\d{1,2})[-/.月](\d{1,2})[日号號]?$")
_CHINESE_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "兩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}


def _clean(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).strip().casefold().split())


def parse_date(text: str, *, today: date) -> date | None:
    """A date typed as 2026-12-01, 2026/12/1, 2026年12月1日, 12-01, 12月1日 (this year, or next
    year if that day has passed), or today / tomorrow / 明天 / 后天. None if it is not a date."""
    cleaned = _clean(text).replace(" ", "")
    for word, days in _RELATIVE_DAYS.items():
        if cleaned == word.replace(" ", ""):
            return today + timedelta(days=days)
    try:
        if m := _ISO.match(cleaned):
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if m := _MONTH_DAY.match(cleaned):
            candidate = date(today.year, int(m.group(1)), int(m.group(2)))
            return candidate if candidate >= today else date(today.year + 1, candidate.month, candidate.day)
    except ValueError:  # 2026-02-30
        return None
    return None


def parse_count(text: str) -> int | None:
    """A whole number typed as "3", "3 boxes", "3个", "三箱", "十二"; None if there is none or
    there are several."""
    cleaned = _clean(text)
    numbers = re.findall(r"\d+", cleaned)
    if len(numbers) == 1:
        return int(numbers[0])
    if numbers:
        return None
    chinese = re.findall(r"[零一二两兩三四五六七八九十百]+", cleaned)
    if len(chinese) != 1:
        return None
    return _chinese_number(chinese[0])


def _chinese_number(text: str) -> int | None:
    """Chinese numerals up to 999 (一, 十二, 二十, 一百零五)."""
    total, current = 0, 0
    for ch in text:
        if ch in _CHINESE_DIGITS:
            current = _CHINESE_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current
