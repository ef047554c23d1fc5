"""Choose the matcher's thresholds by cross-validation on the knowledge base (never the dev set).

Each of K folds of the base's labelled examples (stratified by intent) is matched by a matcher
trained on the other folds; the out-of-fold probabilities are then decided with every
combination of thresholds on a grid, and the combination maximising

    in-scope answered right (%) + out-of-scope recall (%) − wrong answers (%)

is printed, beside the figures of the current defaults (MatcherSettings).

    .venv/bin/python benchmarks/tune_thresholds.py [--kb DIR] [--folds 5]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faq.evaluate import score  # noqa: E402
from faq.knowledge import load_knowledge_base  # noqa: E402
from faq.matcher import Matcher  # noqa: E402
from faq.normalize import detect_language, normalize  # noqa: E402
from faq.settings import MatcherSettings  # noqa: E402
from faq.training import class_numbers, folds  # noqa: E402


def out_of_fold(pairs, k: int) -> tuple[list[np.ndarray], list[str], Matcher]:
    classes, y = class_numbers([intent for _, intent in pairs])
    fold = folds(y, k, seed=1)
    probs: list[np.ndarray | None] = [None] * len(pairs)
    settings = MatcherSettings(cache=False)
    for f in range(k):
        train = [p for p, g in zip(pairs, fold, strict=True) if g != f]
        m = Matcher.train(train, settings)
        for i in np.flatnonzero(fold == f):
            p = m.probabilities(pairs[i][0])
            full = np.zeros(len(classes))
            for j, c in enumerate(m.model.classes):
                full[classes.index(c)] = p[j]
            probs[i] = full
    reference = Matcher.train(pairs[:0] or pairs, settings)  # for decide(): same class order
    return probs, [intent for _, intent in pairs], reference


def figures(matcher: Matcher, pairs, probs, labels) -> dict:
    matches = [
        matcher.decide(text, p, detect_language(text)) if normalize(text) else matcher.match(text)
        for (text, _), p in zip(pairs, probs, strict=True)
    ]
    return score(matches, labels).as_dict()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kb", default=None)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    pairs = load_knowledge_base(args.kb).labelled_examples()
    probs, labels, reference = out_of_fold(pairs, args.folds)
    assert reference.model.classes == sorted(set(labels))

    def objective(f: dict) -> float:
        return f["answered_right_pct"] + f["oos_recall_pct"] - f["wrong_answer_pct"]

    default = MatcherSettings()
    base = figures(reference.with_settings(default), pairs, probs, labels)
    chosen = (default.answer_threshold, default.clarify_threshold, default.ambiguity_margin)
    print(f"defaults {chosen}: {base}")
    results = []
    for answer, clarify, margin in itertools.product(
        [0.3, 0.4, 0.5, 0.6, 0.7], [0.1, 0.15, 0.2, 0.25, 0.3, 0.4], [0.0, 0.05, 0.1, 0.2]
    ):
        if clarify > answer:
            continue
        s = MatcherSettings(answer_threshold=answer, clarify_threshold=clarify, ambiguity_margin=margin)
        f = figures(reference.with_settings(s), pairs, probs, labels)
        results.append((objective(f), -f["clarify_rate_pct"], (answer, clarify, margin), f))
    results.sort(reverse=True)
    print("best (answer / clarify / margin thresholds):")
    for obj, _, params, f in results[:8]:
        print(f"  {params}: objective {obj:.2f} {f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
