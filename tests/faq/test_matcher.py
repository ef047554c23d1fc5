"""The matcher's decisions, robustness and determinism, on the bundled base and on toy data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faq.knowledge import OUT_OF_SCOPE
from faq.matcher import Decision, Matcher, MatcherError, training_key
from faq.settings import MatcherSettings

TOY = [
    ("how much is the commission", "fees"),
    ("what fees do you charge", "fees"),
    ("is there a deposit", "fees"),
    ("commission rate", "fees"),
    ("how many stores can i open", "store_limits"),
    ("store limit", "store_limits"),
    ("max number of shops", "store_limits"),
    ("how many products per store", "store_limits"),
    ("open a store fee or limit", "fees"),
    ("open a store fee or limit", "store_limits"),
    ("what is the weather", OUT_OF_SCOPE),
    ("tell me a joke", OUT_OF_SCOPE),
    ("how to sell on amazon", OUT_OF_SCOPE),
]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("忘记密码了怎么办", "password_reset"),
        ("i forgot my password", "password_reset"),
        ("一个号能开几个店", "store_limits"),
        ("do u pick up parcels in guangzhou", "shipping_pickup"),
        ("佣金是多少", "fees"),
        ("how do i bind payoneer", "payment_account"),
        ("转人工", "human_agent"),
    ],
)
def test_clear_questions_are_answered(matcher: Matcher, text: str, intent: str) -> None:
    match = matcher.match(text)
    assert (match.decision, match.intent) == (Decision.ANSWER, intent)
    assert 0.5 <= match.score <= 1.0
    assert match.candidates[0].intent == intent


@pytest.mark.parametrize("text", ["asdkjh qwpoe zzxv", "今天天气怎么样", "🙏🙏🙏", "", "   "])
def test_gibberish_and_chit_chat_fall_back(matcher: Matcher, text: str) -> None:
    match = matcher.match(text)
    assert match.decision == Decision.FALLBACK
    assert match.intent == OUT_OF_SCOPE


@pytest.mark.parametrize(
    ("text", "redirect"),
    [
        ("亚马逊怎么开店", "other_platforms"),
        ("how to register on amazon", "other_platforms"),
        ("ozon卖家收款账户在哪里设置", "other_platforms"),
        ("bound my payoneer to wildberries?", "other_platforms"),
        ("我在joom买的耳机还没寄过来", "buyer_orders"),
        ("i paid for my order and it still says waiting for payment", "buyer_orders"),
    ],
)
def test_other_platforms_and_buyers_get_the_reply_that_says_where_to_go(
    matcher: Matcher, text: str, redirect: str
) -> None:
    match = matcher.match(text)
    assert (match.decision, match.intent) == (Decision.ANSWER, redirect)


def test_traditional_matches_like_simplified(matcher: Matcher) -> None:
    for traditional, simplified in [
        ("密碼忘記了", "密码忘记了"),
        ("一個帳號能開幾個店鋪", "一个帐号能开几个店铺"),
    ]:
        assert np.allclose(matcher.probabilities(traditional), matcher.probabilities(simplified))
        assert matcher.match(traditional).intent == matcher.match(simplified).intent
        assert matcher.match(traditional).lang == "zh"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("秘码忘了", "password_reset"),  # same-sound character typo
        ("i forgot my pasword", "password_reset"),
        ("how to bind payonner", "payment_account"),
        ("how many stroes can i open", "store_limits"),
        ("ＫＹＣ审核要多久？？", "kyc"),  # full width
    ],
)
def test_typos(matcher: Matcher, text: str, intent: str) -> None:
    match = matcher.match(text)
    assert match.intent == intent and match.decision != Decision.FALLBACK


def test_language_of_the_reply(matcher: Matcher) -> None:
    assert matcher.match("秘码忘了").lang == "zh"
    assert matcher.match("forgot password").lang == "en"
    assert matcher.match("payoneer怎么绑定").lang == "zh"


def test_scores_are_probabilities(matcher: Matcher) -> None:
    probs = matcher.probabilities("开店要交钱吗")
    assert probs.shape == (len(matcher.model.classes),)
    assert np.isclose(probs.sum(), 1.0) and (probs >= 0).all()


# Two intents with the same examples: every question about them is a tie.
TIE = [
    (t, i) for t in ("how do i ship", "send my parcel", "shipping method") for i in ("pickup", "shipping")
] + [
    ("how much is the commission", "fees"),
    ("what fees", "fees"),
    ("commission rate", "fees"),
    ("weather today", OUT_OF_SCOPE),
    ("tell me a joke", OUT_OF_SCOPE),
]


@pytest.mark.parametrize("text", ["how do i ship my parcel", "shipping", "SHIP??"])
def test_near_tie_clarifies_with_two_or_three_candidates(text: str) -> None:
    match = Matcher.train(TIE).match(text)
    assert match.decision == Decision.CLARIFY
    assert 2 <= len(match.candidates) <= 3
    assert {c.intent for c in match.candidates[:2]} == {"pickup", "shipping"}
    assert match.intent == match.candidates[0].intent
    assert match.candidates[0].score == pytest.approx(match.candidates[1].score, abs=0.01)


def test_decision_rules() -> None:
    settings = MatcherSettings(answer_threshold=0.5, clarify_threshold=0.25, ambiguity_margin=0.1)
    matcher = Matcher.train(TOY, settings)
    classes = matcher.model.classes
    assert classes == ["fees", OUT_OF_SCOPE, "store_limits"]

    def decide(fees: float, oos: float, limits: float):
        return matcher.decide("q", np.array([fees, oos, limits]), "en")

    assert decide(0.8, 0.1, 0.1).decision == Decision.ANSWER
    assert decide(0.5, 0.05, 0.45).decision == Decision.CLARIFY  # close runner-up
    assert decide(0.4, 0.3, 0.3).decision == Decision.CLARIFY  # middling score
    assert decide(0.2, 0.6, 0.2).decision == Decision.FALLBACK  # out of scope wins
    assert decide(0.4, 0.45, 0.15).decision == Decision.FALLBACK
    low = decide(0.24, 0.5, 0.26)
    assert (
        low.decision == Decision.FALLBACK and low.intent == OUT_OF_SCOPE and low.score == pytest.approx(0.74)
    )


def test_training_is_deterministic(tmp_path) -> None:
    a = Matcher.train(TOY)
    b = Matcher.train(TOY)
    for text in ["commission?", "how many shops", "weather today", "开店"]:
        assert np.array_equal(a.probabilities(text), b.probabilities(text))
        assert a.match(text) == a.match(text)


def test_cache_round_trip(tmp_path) -> None:
    trained = Matcher.train(TOY, cache_dir=tmp_path)
    files = list(tmp_path.glob("matcher-*.npz"))
    assert len(files) == 1 and training_key(TOY, MatcherSettings()) in files[0].name
    loaded = Matcher.train(TOY, cache_dir=tmp_path)
    assert loaded.model is not trained.model
    for text in ["commission rate", "max number of shops", "tell me a joke", "comision"]:
        assert np.allclose(trained.probabilities(text), loaded.probabilities(text))
    files[0].write_bytes(b"not a model")  # a damaged cache file is ignored and replaced
    again = Matcher.train(TOY, cache_dir=tmp_path)
    assert np.allclose(again.probabilities("store limit"), trained.probabilities("store limit"))
    no_cache = MatcherSettings(cache=False)
    Matcher.train(TOY[:-1], no_cache, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("matcher-*.npz"))) == 1


def test_with_settings_changes_thresholds_only() -> None:
    matcher = Matcher.train(TOY)
    strict = matcher.with_settings(MatcherSettings(answer_threshold=1.0, clarify_threshold=0.0))
    assert strict.model is matcher.model
    assert matcher.match("commission rate").decision == Decision.ANSWER
    assert strict.match("commission rate").decision == Decision.CLARIFY


@pytest.mark.parametrize(
    "pairs",
    [[], [("a", "x")], [("a", OUT_OF_SCOPE), ("b", OUT_OF_SCOPE)], [("!!!", "x"), ("???", "y")]],
)
def test_unusable_training_data(pairs) -> None:
    with pytest.raises(MatcherError):
        Matcher.train(pairs)


def test_one_intent_with_negatives_is_enough() -> None:
    matcher = Matcher.train([("forgot password", "password_reset"), ("weather", OUT_OF_SCOPE)])
    assert matcher.intents == ["password_reset"]
    assert matcher.match("forgot my password").intent == "password_reset"


def test_truncated_cache_file_is_retrained_and_old_files_pruned(tmp_path) -> None:
    Matcher.train(TOY, cache_dir=tmp_path)
    (path,) = tmp_path.glob("matcher-*.npz")
    path.write_bytes(path.read_bytes()[:100])  # a truncated zip
    assert Matcher.train(TOY, cache_dir=tmp_path).match("commission rate").intent == "fees"
    for i in range(12):
        Matcher.train([*TOY, (f"extra example {i}", "fees")], cache_dir=tmp_path)
    assert len(list(tmp_path.glob("matcher-*.npz"))) == 8


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_any_text_gets_a_valid_match(matcher: Matcher, text: str) -> None:
    match = matcher.match(text)
    assert match.decision in (Decision.ANSWER, Decision.CLARIFY, Decision.FALLBACK)
    assert 0.0 <= match.score <= 1.0 + 1e-9
    assert match.lang in ("zh", "en")
    assert (match.intent == OUT_OF_SCOPE) == (match.decision == Decision.FALLBACK)
    if match.decision == Decision.CLARIFY:
        assert 2 <= len(match.candidates) <= 3
    json.dumps(match.to_dict(), ensure_ascii=False)


def test_logistic_regression_learns_a_separable_problem() -> None:
    from scipy.sparse import csr_matrix

    from faq.training import fit_softmax

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    X = csr_matrix(np.eye(3, dtype=np.float32)[y] + rng.random((120, 3), dtype=np.float32) * 0.3)
    W, b = fit_softmax(X, y, 3)
    assert W.shape == (3, 3) and W.dtype == np.float32
    assert ((X @ W + b).argmax(axis=1) == y).mean() == 1.0
    W2, b2 = fit_softmax(X, y, 3)
    assert np.array_equal(W, W2) and np.array_equal(b, b2)  # deterministic


def test_large_bases_average_svm_and_logistic_regression(monkeypatch) -> None:
    from faq import training

    pairs = TOY * 12
    plain = Matcher.train(pairs, MatcherSettings(cache=False))
    monkeypatch.setattr(training, "ENSEMBLE_MIN_EXAMPLES", len(pairs))
    mixed = Matcher.train(pairs, MatcherSettings(cache=False))
    assert not np.allclose(plain.model.weights, mixed.model.weights)
    for text, intent in [("commission rate", "fees"), ("how many shops", "store_limits")]:
        assert mixed.match(text).candidates[0].intent == intent
