"""CLINC150 (Larson et al., 2019) as a general yardstick for the matcher.

Trains on train.jsonl (15,000 in-scope + 100 out-of-scope lines), picks the fallback
threshold on val.jsonl only (the one maximising accuracy over all val lines, in-scope and
out-of-scope alike),
then scores test.jsonl once with it. The metric is the paper's: a question counts as in-scope
right when its top intent is right and the matcher did not fall back; an out-of-scope question
counts when the matcher fell back.

    .venv/bin/python benchmarks/clinc150.py [--data DIR] [--test] [--no-typos]

DIR defaults to $SELLERBOT_CLINC150_DIR, else benchmarks/data/clinc150/.

Without --test only val is scored. The chosen thresholds are written to
benchmarks/clinc150.toml, so that the CLI reproduces the test figure:

    sellerbot faq eval DIR/test.jsonl --train DIR/train.jsonl --config benchmarks/clinc150.toml
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faq.evaluate import read_labelled  # noqa: E402
from faq.knowledge import OUT_OF_SCOPE  # noqa: E402
from faq.matcher import Matcher  # noqa: E402
from faq.normalize import normalize  # noqa: E402
from faq.settings import MatcherSettings  # noqa: E402

# The public data set is not part of the repository: benchmarks/README.md says how to fetch it.
DEFAULT_DATA = Path(os.environ.get("SELLERBOT_CLINC150_DIR") or ROOT / "benchmarks" / "data" / "clinc150")
PAPER = [
    ("FastText", 89.0, 9.7),
    ("SVM", 91.0, 14.5),
    ("CNN", 91.2, 18.9),
    ("DialogFlow", 91.7, 14.0),
    ("Rasa", 91.5, 45.3),
    ("MLP", 93.5, 47.4),
    ("BERT", 96.9, 40.3),
]


def probabilities(matcher: Matcher, texts: list[str], typos: bool) -> np.ndarray:
    if not typos:
        matcher._correct = lambda word: word  # type: ignore[assignment]  # ablation only
    return np.array([matcher._probabilities(normalize(t)) for t in texts])


def figures(matcher: Matcher, probs: np.ndarray, labels: list[str], threshold: float) -> tuple[float, float]:
    """(in-scope accuracy %, out-of-scope recall %) with `threshold` as the fallback threshold."""
    settings = matcher.settings.model_copy(update={"clarify_threshold": threshold})
    m = matcher.with_settings(settings)
    right = caught = n_in = n_out = 0
    for p, want in zip(probs, labels, strict=True):
        match = m.decide("", p, "en")
        got = OUT_OF_SCOPE if match.decision == "fallback" else match.intent
        if want == OUT_OF_SCOPE:
            n_out += 1
            caught += got == OUT_OF_SCOPE
        else:
            n_in += 1
            right += got == want
    return 100.0 * right / n_in, 100.0 * caught / n_out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--test", action="store_true", help="also score test.jsonl (do this once)")
    parser.add_argument("--no-typos", action="store_true", help="ablation: no English typo correction")
    parser.add_argument("--c", type=float, default=MatcherSettings().regularization_c)
    args = parser.parse_args()
    if not (args.data / "train.jsonl").exists():
        print(
            f"CLINC150 not found under {args.data} (give --data DIR or set SELLERBOT_CLINC150_DIR;"
            " benchmarks/README.md says how to fetch it)",
            file=sys.stderr,
        )
        return 2

    train = read_labelled(args.data / "train.jsonl")
    val = read_labelled(args.data / "val.jsonl")
    settings = MatcherSettings(regularization_c=args.c, cache=False)
    start = time.perf_counter()
    matcher = Matcher.train([(r["text"], r["intent"]) for r in train], settings)
    train_seconds = time.perf_counter() - start
    print(
        f"trained on {len(train)} examples in {train_seconds:.1f} s "
        f"({len(matcher.model.vocabulary)} features, temperature {matcher.model.temperature:.3f})"
    )

    val_probs = probabilities(matcher, [r["text"] for r in val], not args.no_typos)
    val_labels = [r["intent"] for r in val]
    grid = [round(t, 3) for t in np.arange(0.0, 0.801, 0.01)]
    curve = [(t, *figures(matcher, val_probs, val_labels, t)) for t in grid]
    n_in = sum(label != OUT_OF_SCOPE for label in val_labels)
    n_out = len(val_labels) - n_in
    best = max(curve, key=lambda c: (c[1] * n_in + c[2] * n_out, -c[0]))
    print("val: threshold → in-scope accuracy / out-of-scope recall")
    for t, acc, rec in curve[::5]:
        print(f"  {t:.2f} → {acc:.2f} / {rec:.1f}")
    threshold = best[0]
    print(f"val, chosen fallback threshold {threshold:.2f}: in-scope {best[1]:.2f} %, ", end="")
    print(f"oos recall {best[2]:.1f} %")
    result = {
        "train_seconds": round(train_seconds, 1),
        "features": len(matcher.model.vocabulary),
        "temperature": matcher.model.temperature,
        "regularization_c": args.c,
        "typo_correction": not args.no_typos,
        "threshold": threshold,
        "val": {"in_scope_accuracy": round(best[1], 2), "oos_recall": round(best[2], 2)},
        "val_raw": {"in_scope_accuracy": round(curve[0][1], 2), "oos_recall": round(curve[0][2], 2)},
    }
    toml = ROOT / "benchmarks" / "clinc150.toml"
    toml.write_text(
        "# [matcher] settings for CLINC150, chosen on val.jsonl by benchmarks/clinc150.py.\n"
        "# The fallback threshold is the only one that changes the paper's metric.\n"
        f"[matcher]\nclarify_threshold = {threshold}\nregularization_c = {args.c}\n",
        encoding="utf-8",
    )
    if args.test:
        test = read_labelled(args.data / "test.jsonl")
        test_probs = probabilities(matcher, [r["text"] for r in test], not args.no_typos)
        acc, rec = figures(matcher, test_probs, [r["intent"] for r in test], threshold)
        result["test"] = {"in_scope_accuracy": round(acc, 2), "oos_recall": round(rec, 2)}
        print(f"TEST: in-scope accuracy {acc:.2f} %, out-of-scope recall {rec:.1f} %")
        print("paper (Full, oos as a class):")
        for name, a, r in PAPER:
            print(f"  {name:<10} {a:5.1f} / {r:4.1f}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    name = "clinc150" + ("-notypos" if args.no_typos else "") + ".json"
    (out / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
