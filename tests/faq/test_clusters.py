"""Grouping unanswered questions for the knowledge-base authors."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from faq.clusters import group_similar

T1 = datetime(2026, 11, 1, tzinfo=UTC)
T2 = datetime(2026, 11, 2, tzinfo=UTC)


def test_similar_questions_share_a_group_most_frequent_first() -> None:
    groups = group_similar(
        [
            ("how to register on amazon", T1),
            ("how do i register on amazon?", T2),
            ("How to register on Amazon", T1),
            ("what is the weather today", T1),
            ("亚马逊怎么注册", T1),
            ("亞馬遜怎麼註冊", T2),  # Traditional characters: the same question
        ]
    )
    assert [(g.count, g.language) for g in groups] == [(3, "en"), (2, "zh"), (1, "en")]
    assert groups[0].last_seen == T2
    assert "how to register on amazon" in groups[0].examples
    assert groups[2].representative == "what is the weather today"


def test_languages_never_mix_and_blank_questions_are_skipped() -> None:
    groups = group_similar([("payoneer", T1), ("派安盈 payoneer 绑定", T1), ("   ", T1), ("👍", T1)])
    assert sorted(g.language for g in groups) == ["en", "zh"]


@given(st.lists(st.text(max_size=40), max_size=30))
def test_every_question_with_words_is_counted_once(texts: list[str]) -> None:
    from faq.normalize import normalize

    groups = group_similar([(t, None) for t in texts])
    assert sum(g.count for g in groups) == sum(1 for t in texts if normalize(t))
