"""Store titles: length after trimming, no URL / e-mail / "Joom" (however disguised), and the
specialization names sellers use."""

from __future__ import annotations

import pytest

from services.models import Specialization
from services.policy import Policy
from services.results import Rule
from services.stores import (
    clean_title,
    forbidden_content,
    mentions_brand,
    parse_specialization,
    title_violations,
)

POLICY = Policy()


def rules(title: str, existing: tuple[str, ...] = ()) -> set[Rule]:
    return {v.rule for v in title_violations(title, existing_titles=existing, policy=POLICY)}


@pytest.mark.parametrize(
    "title",
    [
        "Ab",
        "深圳好物",
        "Sunrise Apparel",
        "A" * 50,
        "  Padded Title  ",
        "潮流服饰旗舰店",
        "Banjo Omni",
        "Jo Omega",
    ],
)
def test_good_titles_pass(title: str) -> None:
    assert rules(title) == set()


@pytest.mark.parametrize(
    ("title", "length"),
    [("", 0), ("   ", 0), ("A", 1), (" 店 ", 1), ("A" * 51, 51), ("长" * 51, 51)],
)
def test_title_is_2_to_50_characters_after_trimming(title: str, length: int) -> None:
    (violation,) = title_violations(title, existing_titles=(), policy=POLICY)
    assert violation.rule is Rule.TITLE_LENGTH
    assert violation.params == {"length": length, "min": 2, "max": 50}


def test_title_length_is_policy() -> None:
    assert title_violations("Abc", existing_titles=(), policy=Policy(title_min_length=4)) != []


@pytest.mark.parametrize(
    "title",
    [
        "Joom",
        "joom store",
        "JOOM Official",
        "JoomShop",
        "MyJoomStore",
        "Ｊｏｏｍ",  # full-width
        "J o o m",
        "J.O.O.M Outlet",
        "J-o-o-m",
        "J oom",
        "j00m",
        "J0OM",
        "Jooom",
        "Jооm",  # Cyrillic о
        "Jοοm",  # Greek omicron
        "Jöom",  # accent
        "J\u200boom",  # zero-width space
        "Joorn",  # rn reads as m
    ],
)
def test_title_may_not_mention_joom(title: str) -> None:
    assert mentions_brand(title)
    assert Rule.TITLE_FORBIDDEN_CONTENT in rules(title)


@pytest.mark.parametrize("title", ["Jom Shop", "Bloom", "Zoom Lens", "Joy Room", "Banjo Omni", "Mojo Market"])
def test_near_misses_are_not_the_brand(title: str) -> None:
    assert not mentions_brand(title)


@pytest.mark.parametrize(
    ("title", "kind"),
    [
        ("www.myshop.cn", "url"),
        ("https://shop.example", "url"),
        ("Visit myshop.com now", "url"),
        ("best-deals.store", "url"),
        ("taobao。com outlet", "url"),
        ("shop@example.com", "email"),
        ("123456@qq.com", "email"),
        ("Tab\tin\x07title", "control"),
        ("Hidden\u202eText", "control"),
    ],
)
def test_title_may_not_hold_a_url_an_email_or_control_characters(title: str, kind: str) -> None:
    assert kind in forbidden_content(title)
    (violation,) = [
        v
        for v in title_violations(title, existing_titles=(), policy=POLICY)
        if v.rule is Rule.TITLE_FORBIDDEN_CONTENT
    ]
    assert kind in violation.params["found"]


@pytest.mark.parametrize("title", ["Co. Ltd Store", "Mr.Smith Goods", "Shop@Home", "3.5mm Cables"])
def test_ordinary_punctuation_is_not_a_url_or_email(title: str) -> None:
    assert forbidden_content(title) == []


def test_title_unique_case_insensitively_and_after_normalising() -> None:
    existing = ("Sunrise Apparel",)
    for title in ["Sunrise Apparel", "SUNRISE apparel", "  sunrise   apparel ", "Ｓｕｎｒｉｓｅ Apparel"]:
        (violation,) = title_violations(title, existing_titles=existing, policy=POLICY)
        assert violation.rule is Rule.TITLE_DUPLICATE
        assert violation.params == {"title": "Sunrise Apparel"}  # the store the seller has, as written
    assert rules("Sunrise Apparel 2", existing) == set()


def test_every_title_problem_is_reported_together() -> None:
    title = "Joom " + "x" * 60 + " www.joom.com"
    assert rules(title, (title,)) == {
        Rule.TITLE_LENGTH,
        Rule.TITLE_FORBIDDEN_CONTENT,
        Rule.TITLE_DUPLICATE,
    }


def test_clean_title_normalises_width_and_spaces() -> None:
    assert clean_title("  Ｓｕｎ   Shop ") == "Sun Shop"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("apparel", Specialization.APPAREL),
        ("Health & Beauty", Specialization.HEALTH_BEAUTY),
        ("health_beauty", Specialization.HEALTH_BEAUTY),
        ("美妆", Specialization.HEALTH_BEAUTY),
        ("ELECTRONICS", Specialization.ELECTRONICS),
        ("成人用品", Specialization.ADULT),
        ("其他", Specialization.OTHER),
        ("books", None),
        ("", None),
        (None, None),
    ],
)
def test_specialization_names(text: str | None, expected: Specialization | None) -> None:
    assert parse_specialization(text) == expected
