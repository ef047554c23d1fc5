"""`sellerbot classify` and `sellerbot faq check / eval` through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main

TRAIN = [
    {"text": "how much is the commission", "intent": "fees"},
    {"text": "what fees do you charge", "intent": "fees"},
    {"text": "佣金多少", "intent": "fees"},
    {"text": "how many stores can i open", "intent": "store_limits"},
    {"text": "max number of shops", "intent": "store_limits"},
    {"text": "能开几个店", "intent": "store_limits"},
    {"text": "what is the weather", "intent": "out_of_scope"},
    {"text": "tell me a joke", "intent": "out_of_scope"},
]


def jsonl(rows: list) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text(jsonl(TRAIN), encoding="utf-8")
    return path


def run(args: list[str], stdin: str | bytes = "") -> tuple[int, list[dict], str]:
    result = CliRunner().invoke(main, args, input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, lines, result.stderr


def test_classify_with_the_bundled_base_keeps_order() -> None:
    questions = ["秘码忘了", "一个号能开几个店", "do u pick up parcels in guangzhou", "asdkjh qwpoe"]
    code, out, _ = run(["classify"], jsonl([{"text": q, "id": i} for i, q in enumerate(questions)]))
    assert code == 0
    assert [o["text"] for o in out] == questions
    assert [o["intent"] for o in out] == ["password_reset", "store_limits", "shipping_pickup", "out_of_scope"]
    assert out[3]["decision"] == "fallback"
    for o in out:
        assert set(o) >= {"text", "intent", "score", "decision", "candidates"}
        assert 0.0 <= o["score"] <= 1.0
        assert all(set(c) == {"intent", "score"} for c in o["candidates"])
    assert out[0]["lang"] == "zh" and out[2]["lang"] == "en"


def test_classify_with_train_file(train_file: Path) -> None:
    code, out, _ = run(
        ["classify", "--train", str(train_file)], jsonl([{"text": "commission?"}, {"text": "几个店"}])
    )
    assert code == 0
    assert [o["intent"] for o in out] == ["fees", "store_limits"]
    assert all(c["intent"] in {"fees", "store_limits"} for o in out for c in o["candidates"])


def test_bad_lines_get_error_objects_in_place(train_file: Path) -> None:
    stdin = (
        '{"text": "commission?"}\nnot json\n[1, 2]\n{"question": "x"}\n{"text": 5}\n\n{"text": "几个店"}\n'
    )
    code, out, err = run(["classify", "--train", str(train_file)], stdin)
    assert code == 2
    assert [o.get("line") for o in out] == [None, 2, 3, 4, 5, None]
    assert out[0]["intent"] == "fees" and out[-1]["intent"] == "store_limits"
    assert "line 2: not JSON" in err and "line 4" in err and "4 of 6 input lines" in err
    assert "Traceback" not in err


def test_huge_and_non_utf8_lines(train_file: Path) -> None:
    huge = json.dumps({"text": "x" * 50_000})
    stdin = b'{"text": "commission?"}\n' + huge.encode() + b"\n\xff\xfe\n" + b'{"text": "\xe5\xba\x97"}\n'
    code, out, _ = run(["classify", "--train", str(train_file)], stdin)
    assert code == 2
    assert out[1] == {"line": 2, "error": "line longer than 10000 characters"}
    assert out[2] == {"line": 3, "error": "not UTF-8"}
    assert out[3]["text"] == "店"


@pytest.mark.parametrize("stdin", ["", "\n\n  \n"])
def test_empty_input(train_file: Path, stdin: str) -> None:
    code, out, err = run(["classify", "--train", str(train_file)], stdin)
    assert code == 2 and out == [] and "no input" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no labelled lines"),
        ("not json\n", "not JSON"),
        ('{"text": "a"}\n', '"intent"'),
        ('{"text": 1, "intent": "a"}\n', '"text"'),
        ('{"text": "a", "intent": "x"}\n', "at least two labels"),
        (
            '{"text": "a", "intent": "out_of_scope"}\n{"text": "b", "intent": "out_of_scope"}\n',
            "at least two",
        ),
    ],
)
def test_bad_train_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    code, out, err = run(["classify", "--train", str(path)], '{"text": "hi"}\n')
    assert code == 2 and out == []
    assert message in err and "Traceback" not in err


def test_missing_train_file(tmp_path: Path) -> None:
    code, _, err = run(["classify", "--train", str(tmp_path / "nope.jsonl")], '{"text": "hi"}\n')
    assert code == 2 and "file not found" in err


def test_faq_check_passes_on_the_bundled_base() -> None:
    result = CliRunner().invoke(main, ["faq", "check"])
    assert result.exit_code == 0, result.stderr
    assert "0 error(s)" in result.stdout


def test_faq_check_reports_errors(tmp_path: Path) -> None:
    (tmp_path / "fees.yaml").write_text(
        "intent: fees\ntitle: {zh: 费用, en: Fees}\n"
        "answer: {zh: '{{ policy.nonexistent }}', en: Fees are low.}\n"
        "examples: {zh: [佣金多少], en: [how much is the commission]}\n",
        encoding="utf-8",
    )
    (tmp_path / "payouts.yaml").write_text(
        "intent: payouts\ntitle: {zh: 回款, en: Payouts}\nanswer: {zh: 每月两次, en: Twice a month.}\n"
        "examples: {zh: [佣金多少], en: []}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["faq", "check", "--kb", str(tmp_path)])
    assert result.exit_code == 1
    err = result.stderr
    assert "registration: required intent" in err
    assert "fees.yaml: answer in 'zh' does not render" in err
    assert "payouts.yaml: no examples in 'en'" in err
    assert "belongs to several intents: fees, payouts" in err


def test_a_redirect_intent_cannot_offer_an_action(tmp_path: Path) -> None:
    (tmp_path / "buyer_orders.yaml").write_text(
        "intent: buyer_orders\nredirect: true\naction: hand_off\ntitle: {zh: 买家, en: Buyers}\n"
        "answer: {zh: 请联系买家客服, en: Ask buyer support.}\n"
        "examples: {zh: [我的快递呢], en: [where is my parcel]}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["faq", "check", "--kb", str(tmp_path)])
    assert result.exit_code != 0
    assert "buyer_orders.yaml: a redirect intent cannot offer an action" in result.stderr


def test_faq_eval_counts_a_reply_saying_where_to_go_as_declining(tmp_path: Path) -> None:
    test = tmp_path / "test.jsonl"
    rows = [
        {"text": "ozon的收款卡在哪儿绑", "intent": "out_of_scope"},
        {"text": "my joom parcel still hasnt come, i am the buyer", "intent": "out_of_scope"},
        {"text": "what's the weather in Paris", "intent": "out_of_scope"},
    ]
    test.write_text(jsonl(rows), encoding="utf-8")
    result = CliRunner().invoke(main, ["faq", "eval", str(test), "--json"])
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["oos_recall_pct"] == 100.0
    assert figures["oos_redirected_pct"] == round(100 * 2 / 3, 2)


def test_faq_eval_with_train(train_file: Path, tmp_path: Path) -> None:
    test = tmp_path / "test.jsonl"
    rows = [
        {"text": "commission please", "intent": "fees"},
        {"text": "how many shops", "intent": "store_limits"},
        {"text": "joke please", "intent": "out_of_scope"},
    ]
    test.write_text(jsonl(rows), encoding="utf-8")
    result = CliRunner().invoke(main, ["faq", "eval", str(test), "--train", str(train_file), "--json"])
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["questions"] == 3 and figures["in_scope"] == 2
    text = CliRunner().invoke(main, ["faq", "eval", str(test), "--train", str(train_file)]).stdout
    assert "answered with the right intent" in text and "out-of-scope recall" in text


def test_faq_eval_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("{oops\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["faq", "eval", str(path)])
    assert result.exit_code == 2 and "not JSON" in result.stderr


def test_lone_surrogates_are_echoed_as_json_escapes(train_file: Path) -> None:
    code, out, _ = run(["classify", "--train", str(train_file)], '{"text": "commission \\ud800"}\n')
    assert code == 0 and out[0]["text"] == "commission \ud800" and out[0]["intent"] == "fees"


def test_faq_build_fills_the_cache(train_file: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = CliRunner().invoke(main, ["faq", "build", "--train", str(train_file), "--data-dir", str(data)])
    assert first.exit_code == 0, first.stderr
    assert "2 intents" in first.stdout
    assert len(list((data / "cache").glob("matcher-*.npz"))) == 1
