"""The reply catalogue (handlers/replies/{zh,en}.yaml): the same keys in both languages, every key
the code says exists, every template renders, user text stays data, and no sentence a user reads
is written in Python under handlers/."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from jinja2 import meta

from handlers import replies
from handlers.commands import COMMANDS
from handlers.flows import FLOWS
from handlers.flows.pickup import FIELDS
from handlers.flows.quota import KINDS

ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = [ROOT / "handlers", ROOT / "bot"]
CJK = re.compile(r"[\u4e00-\u9fff]")

# Keys the code builds at run time (f-strings), by the pattern of the call and what fills it in.
# A new f-string key in the code fails `test_every_dynamic_key_is_listed` until it is listed here.
DYNAMIC_KEYS: dict[str, list[str]] = {
    "actions.{}": [*FLOWS, "agent"],
    "quota.confirm_{}": list(KINDS),
    "quota.approved_{}": list(KINDS),
    "quota.kind_{}": list(KINDS),
    "pickup.edit_{}": list(FIELDS),
    "commands.lang_{}": list(replies.LANGUAGES),
    "channel.commands.{}": list(COMMANDS),
    "channel.console.{}": ["now_private", "not_addressed"],
    "desk.reasons.{}": ["requested", "misses", "email_change_no_match"],
    "desk.kyc.{}": ["not_submitted", "pending", "approved", "rejected"],
    "desk.payout.{}": ["bound", "unbound"],
    "desk.store_status.{}": ["open", "closed", "banned"],
    "desk.commands.{}": ["close", "note", "info", "lang"],
}


def python_files() -> list[Path]:
    return sorted(p for d in CODE_DIRS for p in d.rglob("*.py"))


def key_calls() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(literal keys, f-string patterns) passed as the first argument of say(...) / text(...),
    each with the file and line, however the call is laid out over lines."""
    literal, dynamic = set(), set()
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name not in {"say", "text"}:
                continue
            first = node.args[0]
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                literal.add((first.value, where))
            elif isinstance(first, ast.JoinedStr):
                pattern = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in first.values)
                dynamic.add((pattern, where))
    return literal, dynamic


def test_both_languages_have_the_same_keys() -> None:
    zh, en = set(replies.catalogue("zh")), set(replies.catalogue("en"))
    assert zh - en == set(), "only in zh.yaml"
    assert en - zh == set(), "only in en.yaml"
    assert len(zh) > 100


def test_every_key_the_code_says_exists() -> None:
    literal, _ = key_calls()
    assert len(literal) > 100  # the scan sees the code
    keys = set(replies.catalogue("en"))
    missing = sorted((key, where) for key, where in literal if "." in key and key not in keys)
    assert missing == []


def test_every_dynamic_key_is_listed_and_exists() -> None:
    _, dynamic = key_calls()
    assert {pattern for pattern, _ in dynamic} == set(DYNAMIC_KEYS)
    keys = set(replies.catalogue("en"))
    expanded = [pattern.format(value) for pattern, values in DYNAMIC_KEYS.items() for value in values]
    assert sorted(k for k in expanded if k not in keys) == []


# Representative values for every variable the templates use; a new variable fails the test until
# it is given one here.
VALUES: dict[str, list[Any]] = {
    "options": [["Fees", "Payouts"], ["Fees", "Payouts", "Stores"]],
    "topics": [["Fees", "Payouts"]],
    "command": ["frobnicate"],
    "commands": [COMMANDS],
    "reference": ["1a2b3c4d"],
    "limit": [2000],
    "length": [5000],
    "action": ["Open a store"],
    "current": ["Open a store"],
    "company": ["Shenzhen Example Trading Co., Ltd."],
    "state": ["active"],
    "kyc": ["under review"],
    "payout": ["bound"],
    "rating": ["average"],
    "other": ["Arrange shipping"],
    "minutes": [10, 1440, 1],
    "attempts": [5],
    "free": [2],
    "min": [550],
    "max": [50],
    "max_mb": ["5"],
    "title": ["Sunrise Gadgets"],
    "specialization": ["electronics"],
    "icon": ["PNG 600×600", None],
    "blockers": [["the store has no icon"], []],
    "format": ["PNG"],
    "width": [600],
    "height": [600],
    "before": [1],
    "after": [11],
    "request_id": [7],
    "masked": ["o***@shop.example"],
    "support_email": ["merchant@joom.com"],
    "licence": ["91440300MA5DEM401X"],
    "new_email": ["new@shop.example"],
    "cities": [["Shenzhen"], ["Shenzhen", "Guangzhou"]],
    "city": ["Shenzhen", "Beijing"],
    "warehouse": ["Joom Logistics warehouse"],
    "address": ["1 Keji Road"],
    "phone": ["13800138000"],
    "parcels": [1, 3],
    "date": ["2026-12-01"],
    "booking_id": [5],
    "store_limit": [3],
    "listing_limit": [500],
    "hard_cap": [1000],
    "requests": [[{"id": 1, "kind": "more stores", "status": "open"}], []],
    "eligible": [True, False],
    "reasons": [["one reason", "another reason"]],
    "n": [1, 2],
    "size_mb": ["25"],
    "limit_mb": ["20"],
    "label": ["Confirm"],
    "bot_username": ["sellerbot"],
    # channels without buttons (QQ)
    "numbered": [False, True],
    "count": [3],
    "payload": ["open_store-zh"],
    "bot_id": ["10001"],
    # handing over, and the agents' desk
    "days": ["Monday to Friday"],
    "hours": ["09:00–18:00", ""],
    "zone": ["Beijing time"],
    "in_days": [0, 1, 3, 9],
    "weekday": ["Monday"],
    "time": ["09:00"],
    "first": ["Monday"],
    "last": ["Friday"],
    "stars": [5, 1],
    "name": ["Anna"],
    "path": ["/home/anna/logo.png"],
    "failure": ["blocked", "refused", "error", "held"],
    "data": ["/home/anna/.local/share/sellerbot"],
    "email": ["demo-seller@example.com"],
    "outbox": ["/home/anna/.local/share/sellerbot/outbox"],
    "text": ["Is my store open?"],
    "size": [2048],
    "seller": ["Shenzhen Example Trading Co., Ltd."],
    "conversation": [12],
    "again": [False, True],
    "recreated": [False, True],
    "channel": ["telegram", "QQ"],
    "user": ["700000001"],
    "language": ["中文"],
    "account": [
        {
            "company": "Shenzhen Example Trading Co., Ltd.",
            "email": "seller@example.com",
            "state": "active",
            "kyc": "approved",
            "payout": "bound",
            "rating": "average",
            "stores": 2,
            "store_limit": 3,
            "listing_limit": 500,
            "requests": [{"id": 4, "kind": "more stores", "status": "open"}],
        },
        None,
        {
            "company": "Acme",
            "email": "a@example.com",
            "state": "active",
            "kyc": "pending",
            "payout": "unbound",
            "rating": "poor",
            "stores": 0,
            "store_limit": 1,
            "listing_limit": 500,
            "requests": [],
        },
    ],
    "store_rows": [
        [
            {
                "title": "Gadget Hub",
                "rating": "average",
                "listings": 1,
                "status": "open",
                "blockers": ["no icon"],
            },
            {"title": "Old", "rating": "poor", "listings": 0, "status": "banned", "blockers": []},
        ],
        [],
    ],
    "at": ["2026-11-27 10:02"],
    "turns": [[{"at": "10:01", "who": "seller", "text": "转人工"}], []],
    "reason": ["the seller asked for a person"],
    "back": ["2026-11-30 09:00 (Asia/Shanghai)"],
    "score": [87],
    "answer": ["The commission is 15%."],
    "agent": ["Anna (telegram 7001)"],
    "rating_asked": [True, False],
    "who": ["console:anna"],
}
STORE_ROWS = [
    {
        "title": "Gadget Hub",
        "specialization": "electronics",
        "rating": "average",
        "enabled": True,
        "banned": False,
        "listings": 1,
        "blockers": ["the store has no icon"],
    },
    {
        "title": "Old",
        "specialization": None,
        "rating": "poor",
        "enabled": False,
        "banned": True,
        "listings": 0,
        "blockers": [],
    },
]


def contexts(key: str, lang: str) -> list[dict[str, Any]]:
    """Every variant of representative values for the variables of one template."""
    source = replies.catalogue(lang)[key]
    names = meta.find_undeclared_variables(replies._environment().parse(source)) - {"lang"}
    unknown = names - set(VALUES) - {"stores"}
    assert not unknown, f"{lang}:{key} uses {unknown}: give them representative values in VALUES"
    values = {name: VALUES.get(name, [None]) for name in names}
    if "stores" in names:
        values["stores"] = [STORE_ROWS] if key == "account.stores" else [2]
    width = max((len(v) for v in values.values()), default=1)
    return [{name: v[i % len(v)] for name, v in values.items()} for i in range(width)]


@pytest.mark.parametrize("lang", replies.LANGUAGES)
def test_every_template_renders(lang: str) -> None:
    # a few sentences are the same in both languages (names of the languages, a check mark)
    same_in_both = {"commands.lang_zh", "commands.lang_en", "channel.chosen"}
    for key in replies.catalogue(lang):
        for context in contexts(key, lang):
            text = replies.say(key, lang, **context)
            assert text.strip(), key
            assert "{{" not in text and "{%" not in text, key
            if lang == "zh" and key not in same_in_both:
                assert CJK.search(text), f"zh:{key} has no Chinese: {text!r}"


def test_lists_and_durations_read_naturally() -> None:
    assert (
        replies.say("understanding.clarify", "en", options=["A", "B"])
        == "Did you mean A or B? Please choose:"
    )
    assert replies.say("understanding.clarify", "en", options=["A", "B", "C"]).startswith(
        "Did you mean A, B or C?"
    )
    assert replies.say("understanding.clarify", "zh", options=["甲", "乙", "丙"]).startswith(
        "您是想问甲、乙还是丙?"
    )
    assert "within 24 hours" in replies.say("change_email.confirmation_sent", "en", masked="x", minutes=1440)
    assert "24小时内" in replies.say("change_email.confirmation_sent", "zh", masked="x", minutes=1440)
    assert "valid for 1 minute)" in replies.say("link.ask_code", "en", minutes=1)
    assert "valid for 90 minutes)" in replies.say("link.ask_code", "en", minutes=90)


@pytest.mark.parametrize("lang", replies.LANGUAGES)
def test_user_text_is_data_never_a_template(lang: str) -> None:
    nasty = "{{7*7}} {% for x in range(3) %}x{% endfor %} {{ ''.__class__.__mro__ }}"
    text = replies.say("open_store.summary", lang, title=nasty, specialization="x", icon=None)
    assert nasty in text and "49" not in text


def test_a_missing_key_or_language_is_an_error() -> None:
    with pytest.raises(replies.MissingReply):
        replies.say("no.such.key", "en")
    with pytest.raises(ValueError):
        replies.catalogue("fr")


# -- no sentence in Python -------------------------------------------------------------------
# Words sellers *type*, which the code recognises (not sentences it says).
INPUT_VOCABULARIES = {
    "CANCEL_WORDS",
    "LEAVE_COMMANDS",
    "_RELATIVE_DAYS",
    "_CHINESE_DIGITS",
    "_KIND_WORDS",
    "aliases",
}


def sentences_in_python(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip.add(id(body[0].value))  # docstrings
        ignored: list[ast.AST] = []
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id in INPUT_VOCABULARIES for t in targets):
                ignored.append(node.value)
        elif isinstance(node, ast.Raise) and node.exc is not None:
            ignored.append(node.exc)
        elif isinstance(node, ast.Compare):  # what typed text is compared with
            ignored.append(node)
        elif isinstance(node, ast.Call):
            func = node.func
            owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
            if owner in {"log", "re"}:  # log messages and regular expressions
                ignored.append(node)
        for sub in ignored:
            skip.update(id(n) for n in ast.walk(sub) if isinstance(n, ast.Constant))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            value = node.value
            words = re.findall(r"[A-Za-z]{2,}", value)
            if CJK.search(value) or (len(words) >= 3 and " " in value.strip()):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {value!r}")
    return found


def test_no_sentence_a_user_reads_is_written_in_python() -> None:
    files = sorted((ROOT / "handlers").rglob("*.py"))
    assert len(files) > 15
    assert [line for path in files for line in sentences_in_python(path)] == []
