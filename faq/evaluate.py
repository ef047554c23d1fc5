"""Measuring a matcher on labelled questions (`sellerbot faq eval`, the dev-set test, benchmarks).

Definitions, over the questions of a labelled file:

- in-scope **answered right**: decision `answer` with the labelled intent (the strict figure:
  what a seller gets without a further click);
- in-scope **top-1 accuracy** (CLINC150's "in-scope accuracy"): the labelled intent is the
  top intent and the decision is not `fallback` (an `answer`, or a `clarify` whose first
  button is right);
- in-scope **right in clarify**: decision `clarify` with the labelled intent among the
  buttons offered; **resolved** = answered right + right in clarify;
- in-scope **wrong answer**: decision `answer` with another intent (the costly error);
- **out-of-scope recall**: out-of-scope questions whose decision is `fallback`, or `answer`
  with a redirect intent of the knowledge base (a reply that says where to go instead: the
  question is still declined, deliberately); **redirected** counts the latter;
- **clarify rate**: share of all questions that get "A or B?".
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from faq.knowledge import OUT_OF_SCOPE
from faq.matcher import Decision, Match, Matcher


class DataError(Exception):
    """A labelled file cannot be used; the message names the line and the problem."""


MAX_LINE_CHARS = 10_000


def read_labelled(path: str | Path, *, require_intent: bool = True) -> list[dict]:
    """JSON lines with a `text` (and an `intent`) string; extra keys are kept."""
    rows = []
    try:
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                if len(line) > MAX_LINE_CHARS:
                    raise DataError(f"{path}:{number}: line longer than {MAX_LINE_CHARS} characters")
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{number}: not JSON ({exc.msg})") from None
                if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                    raise DataError(f'{path}:{number}: expected an object with a "text" string')
                if require_intent and not (isinstance(row.get("intent"), str) and row["intent"].strip()):
                    raise DataError(f'{path}:{number}: expected an "intent" string')
                rows.append(row)
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"is a folder, not a file: {path}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    if not rows:
        raise DataError(f"{path}: no labelled lines")
    return rows


@dataclass
class Report:
    total: int = 0
    in_scope: int = 0
    out_of_scope: int = 0
    answered_right: int = 0
    top1_right: int = 0
    clarify_right: int = 0
    wrong_answer: int = 0
    in_scope_fallback: int = 0
    oos_caught: int = 0
    oos_redirected: int = 0
    oos_clarified: int = 0
    clarified: int = 0
    confusions: Counter = field(default_factory=Counter)
    unknown_labels: Counter = field(default_factory=Counter)

    @staticmethod
    def _pct(n: int, d: int) -> float:
        return 100.0 * n / d if d else 0.0

    @property
    def answered_right_pct(self) -> float:
        return self._pct(self.answered_right, self.in_scope)

    @property
    def top1_pct(self) -> float:
        return self._pct(self.top1_right, self.in_scope)

    @property
    def resolved_pct(self) -> float:
        return self._pct(self.answered_right + self.clarify_right, self.in_scope)

    @property
    def wrong_answer_pct(self) -> float:
        return self._pct(self.wrong_answer, self.in_scope)

    @property
    def oos_recall_pct(self) -> float:
        return self._pct(self.oos_caught, self.out_of_scope)

    @property
    def clarify_rate_pct(self) -> float:
        return self._pct(self.clarified, self.total)

    def as_dict(self) -> dict:
        return {
            "questions": self.total,
            "in_scope": self.in_scope,
            "out_of_scope": self.out_of_scope,
            "answered_right_pct": round(self.answered_right_pct, 2),
            "top1_accuracy_pct": round(self.top1_pct, 2),
            "resolved_pct": round(self.resolved_pct, 2),
            "wrong_answer_pct": round(self.wrong_answer_pct, 2),
            "in_scope_fallback_pct": round(self._pct(self.in_scope_fallback, self.in_scope), 2),
            "oos_recall_pct": round(self.oos_recall_pct, 2),
            "oos_redirected_pct": round(self._pct(self.oos_redirected, self.out_of_scope), 2),
            "clarify_rate_pct": round(self.clarify_rate_pct, 2),
        }

    def lines(self, worst: int = 10) -> list[str]:
        out = [
            f"questions: {self.total} (in scope {self.in_scope}, out of scope {self.out_of_scope})",
            f"in scope, answered with the right intent: {self.answered_right_pct:.1f} %",
            f"in scope, top-1 accuracy (answer or first clarify choice): {self.top1_pct:.1f} %",
            f"in scope, resolved (answered right or right intent among clarify choices): "
            f"{self.resolved_pct:.1f} %",
            f"in scope, answered with a wrong intent: {self.wrong_answer_pct:.1f} %",
            f"in scope, fell back: {self._pct(self.in_scope_fallback, self.in_scope):.1f} %",
            f"out-of-scope recall (fell back, or redirected): {self.oos_recall_pct:.1f} %",
            f"out of scope, redirected (a reply saying where to go): "
            f"{self._pct(self.oos_redirected, self.out_of_scope):.1f} %",
            f"clarify rate (all questions): {self.clarify_rate_pct:.1f} %",
        ]
        if self.unknown_labels:
            labels = ", ".join(f"{k} ({n})" for k, n in self.unknown_labels.most_common())
            out.append(f"labels the matcher does not know (counted as in scope, never right): {labels}")
        if self.confusions and worst:
            out.append("worst confusions (expected → got: count):")
            out += [f"  {e} → {g}: {n}" for (e, g), n in self.confusions.most_common(worst)]
        return out


def score(
    matches: Sequence[Match],
    expected: Sequence[str],
    known: Iterable[str] = (),
    redirects: Iterable[str] = (),
) -> Report:
    """The figures of matches against their labels; `redirects` are the intents whose answer
    declines an out-of-scope question by saying where to go."""
    known, redirects = set(known), set(redirects)
    report = Report()
    for m, want in zip(matches, expected, strict=True):
        report.total += 1
        report.clarified += m.decision == Decision.CLARIFY
        if want == OUT_OF_SCOPE:
            report.out_of_scope += 1
            redirected = m.decision == Decision.ANSWER and m.intent in redirects
            report.oos_redirected += redirected
            report.oos_caught += m.decision == Decision.FALLBACK or redirected
            report.oos_clarified += m.decision == Decision.CLARIFY
            if m.decision == Decision.ANSWER and not redirected:
                report.confusions[(want, m.intent)] += 1
            elif m.decision == Decision.CLARIFY:
                report.confusions[(want, f"clarify:{m.intent}")] += 1
            continue
        report.in_scope += 1
        if known and want not in known:
            report.unknown_labels[want] += 1
        if m.decision == Decision.ANSWER:
            if m.intent == want:
                report.answered_right += 1
            else:
                report.wrong_answer += 1
                report.confusions[(want, m.intent)] += 1
        elif m.decision == Decision.CLARIFY:
            if any(c.intent == want for c in m.candidates):
                report.clarify_right += 1
            else:
                report.confusions[(want, f"clarify:{m.intent}")] += 1
        else:
            report.in_scope_fallback += 1
            report.confusions[(want, OUT_OF_SCOPE)] += 1
        report.top1_right += m.decision != Decision.FALLBACK and m.intent == want
    return report


def evaluate(
    matcher: Matcher, rows: Sequence[dict], redirects: Iterable[str] = ()
) -> tuple[Report, list[Match]]:
    """Match every row's text and score it (`redirects`: see `score`)."""
    matches = [matcher.match(r["text"]) for r in rows]
    return score(matches, [r["intent"] for r in rows], matcher.intents, redirects), matches
