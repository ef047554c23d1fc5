"""The normaliser: canonical, idempotent, total, and script-blind."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from faq.normalize import detect_language, normalize, pinyin, runs


def test_examples() -> None:
    assert normalize("  密碼忘記了！！😀 ") == "密码忘记了"
    assert normalize("Ｐａｓｓｗｏｒｄ？") == "password"
    assert normalize("Don't  know my E-mail!!!") == "dont know my email"
    assert normalize("开店，要钱吗？？") == "开店 要钱吗"
    assert normalize("🙏🙏") == ""


def test_traditional_equals_simplified() -> None:
    pairs = [("密碼忘記了", "密码忘记了"), ("一個帳號能開幾個店鋪", "一个帐号能开几个店铺"), ("註冊", "注册")]
    for traditional, simplified in pairs:
        assert normalize(traditional) == normalize(simplified)


def test_pinyin_and_runs() -> None:
    assert [pinyin(c) for c in "秘码密"] == ["mi", "ma", "mi"]
    assert pinyin("绿") == "lv"
    assert pinyin("a") == "a"
    assert runs(normalize("kyc审核 要几天 2024")) == [
        ("kyc", False),
        ("审核", True),
        ("要几天", True),
        ("2024", False),
    ]


def test_language() -> None:
    assert detect_language("秘码忘了") == "zh"
    assert detect_language("密碼忘記了") == "zh"
    assert detect_language("joom一个账号能开几个store") == "zh"
    assert detect_language("do u pick up parcels in guangzhou") == "en"
    assert detect_language("ＨＥＬＬＯ") == "en"
    assert detect_language("???") == "en"
    assert detect_language("👍", default="zh") == "zh"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_total_and_idempotent(text: str) -> None:
    once = normalize(text)
    assert isinstance(once, str)
    assert normalize(once) == once
    assert once == once.strip() and "  " not in once


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-16", categories=["Cs", "Co", "Cn", "So", "Sk"])))
def test_symbols_surrogates_and_unassigned_never_crash(text: str) -> None:
    normalize(text)
    detect_language(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E)))
def test_full_width_equals_half_width(text: str) -> None:
    wide = "".join(chr(ord(c) + 0xFEE0) for c in text)
    assert normalize(wide) == normalize(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(categories=["Lu", "Ll", "Nd", "Zs"], max_codepoint=0x7F)))
def test_case_blind(text: str) -> None:
    assert normalize(text.upper()) == normalize(text.lower())


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("密碼帳號開店鋪註冊費傭金審核問題請幫忙謝謝後臺")))
def test_traditional_text_has_no_traditional_left(text: str) -> None:
    out = normalize(text)
    assert normalize(out) == out
    assert not set(out) & set("碼帳號開鋪註費傭審問題請幫謝後臺")


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text(alphabet="!?.,，。？！…~～、;:()（）【】\"'“”😀🙏👍 "))
def test_punctuation_and_emoji_do_not_matter(text: str, noise: str) -> None:
    assert normalize(text + " " + noise) == normalize(text)


def test_nfkc_is_applied() -> None:
    assert normalize("ﬁle ①") == normalize(unicodedata.normalize("NFKC", "ﬁle ①"))
