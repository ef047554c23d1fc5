"""Features, typo correction, and the evaluation's definitions."""

from __future__ import annotations

import numpy as np
import pytest

from faq.evaluate import score
from faq.features import PLATFORM, FeatureSpec, Vocabulary, extract
from faq.knowledge import OUT_OF_SCOPE
from faq.matcher import Candidate, Decision, Match
from faq.normalize import normalize
from faq.typos import TypoCorrector


def test_blocks() -> None:
    feats = extract(normalize("秘码 reset"), FeatureSpec())
    assert "w|秘" in feats and "w|秘 码" in feats and "w|码 reset" in feats
    assert "c| 秘码 " in feats and "c|res" in feats
    assert "p|mi ma" in feats and "p|mi" in feats
    assert set(extract(normalize("密碼"), FeatureSpec())) & set(
        extract(normalize("秘码"), FeatureSpec())
    ) >= {"p|mi ma"}


def test_other_platforms_share_a_feature() -> None:
    spec = FeatureSpec()
    for text in ["亚马逊怎么开店", "亚码逊的店铺", "how to sell on Amazon", "ozon佣金", "虾皮和TEMU"]:
        assert PLATFORM in extract(normalize(text), spec), text
    assert extract(normalize("虾皮和TEMU"), spec).count(PLATFORM) == 2
    for text in ["joom怎么开店", "i wish to open a store", "马上开店"]:
        assert PLATFORM not in extract(normalize(text), spec), text
    assert PLATFORM not in extract(normalize("amazon"), FeatureSpec(platforms=False))


def test_vector_matches_matrix_rows() -> None:
    spec = FeatureSpec()
    docs = [extract(normalize(t), spec) for t in ["忘记密码", "forgot password", "开店 开店 fee", "x"]]
    vocab = Vocabulary.fit(docs, spec)
    matrix = vocab.matrix(docs).toarray()
    for i, doc in enumerate(docs):
        cols, values = vocab.vector(doc)
        row = np.zeros(len(vocab))
        row[cols] = values
        assert np.allclose(row, matrix[i], atol=1e-6)
        # each non-empty block is L2-normalised
        for b in range(3):
            in_block = vocab.block[cols] == b
            if in_block.any():
                assert np.isclose(np.linalg.norm(values[in_block]), 1.0, atol=1e-5)
    assert vocab.vector(["w|unknown"])[0].size == 0


@pytest.mark.parametrize("min_df", [1, 2])
def test_fit_matrix_equals_fit_then_matrix(min_df: int) -> None:
    spec = FeatureSpec(min_df=min_df)
    texts = ["忘记密码", "forgot password", "开店 开店 fee", "x", "forgot my password", "忘记了"]
    docs = [extract(normalize(t), spec) for t in texts]
    vocab = Vocabulary.fit(docs, spec)
    fast, matrix = Vocabulary.fit_matrix(docs, spec)
    assert set(fast.index) == set(vocab.index)
    order = [vocab.index[f] for f in sorted(fast.index, key=fast.index.__getitem__)]
    assert np.allclose(fast.idf, vocab.idf[order])
    assert (fast.block == vocab.block[order]).all()
    assert np.allclose(matrix.toarray(), vocab.matrix(docs).toarray()[:, order])
    for i, doc in enumerate(docs):
        cols, values = fast.vector(doc)
        assert np.allclose(matrix[i].toarray().ravel()[cols], values)


def test_typo_corrector() -> None:
    correct = TypoCorrector({"password": 5, "payoneer": 2, "store": 9, "stores": 3, "shore": 1})
    assert correct("pasword") == "password"
    assert correct("passowrd") == "password"  # a swap of neighbours is one edit
    assert correct("payonner") == "payoneer"
    assert correct("stroe") == "store"
    assert correct("sxore") == "store"  # tie between store and shore: the more frequent word
    assert correct("password") == "password"
    assert correct("abc") == "abc"  # too short
    assert correct("a1b2c3") == "a1b2c3"
    assert correct("zebra") == "zebra"  # nothing close
    assert correct("密码") == "密码"


def _m(intent: str, decision: str, candidates=()) -> Match:
    return Match("q", intent, 0.9, Decision(decision), tuple(Candidate(c, 0.4) for c in candidates), "en")


def test_report_definitions() -> None:
    matches = [
        _m("a", "answer"),  # right
        _m("b", "answer"),  # wrong
        _m("b", "clarify", ["b", "a"]),  # right among buttons, not top-1
        _m("a", "clarify", ["a", "b"]),  # top-1 right
        _m(OUT_OF_SCOPE, "fallback"),  # in-scope fell back
        _m(OUT_OF_SCOPE, "fallback"),  # out of scope caught
        _m("a", "answer"),  # out of scope answered
    ]
    report = score(matches, ["a", "a", "a", "a", "a", OUT_OF_SCOPE, OUT_OF_SCOPE])
    assert (report.in_scope, report.out_of_scope) == (5, 2)
    assert report.answered_right_pct == 20.0
    assert report.top1_pct == 40.0
    assert report.resolved_pct == 60.0
    assert report.wrong_answer_pct == 20.0
    assert report.oos_recall_pct == 50.0
    assert report.clarify_rate_pct == 100 * 2 / 7
    assert report.confusions[("a", "b")] == 1 and report.confusions[(OUT_OF_SCOPE, "a")] == 1


def test_a_redirect_answer_declines_an_out_of_scope_question_but_is_wrong_for_an_in_scope_one() -> None:
    matches = [
        _m("buyers", "answer"),  # out of scope, redirected: caught
        _m("a", "answer"),  # out of scope answered with a seller topic: not caught
        _m("buyers", "clarify", ["buyers", "a"]),  # out of scope, "A or B?": not caught
        _m("buyers", "answer"),  # in scope answered with the redirect: wrong
    ]
    report = score(matches, [OUT_OF_SCOPE, OUT_OF_SCOPE, OUT_OF_SCOPE, "a"], redirects={"buyers"})
    assert (report.oos_caught, report.oos_redirected) == (1, 1)
    assert report.wrong_answer_pct == 100.0
    assert report.confusions[(OUT_OF_SCOPE, "a")] == 1 and report.confusions[("a", "buyers")] == 1
    assert (OUT_OF_SCOPE, "buyers") not in report.confusions
    # without the base's redirects (a --train file) the same answer is an out-of-scope miss
    assert score(matches[:1], [OUT_OF_SCOPE]).oos_caught == 0
