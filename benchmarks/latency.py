"""Speed of the matcher: start-up, per-query latency and throughput, and how they grow.

Measured in one run, each beside a naive baseline measured the same way on the same queries
(rapidfuzz `process.extractOne` with `fuzz.ratio` over the normalised training examples; the
ratio between the two is what to compare, since the machine is shared and noisy):

- the bundled knowledge base (queries: the development set);
- CLINC150 if its data is found (queries: val.jsonl);
- synthetic bases of 10× and 100× the bundled base (intents renamed, examples perturbed by
  character edits). 10× is trained for real; 100× (2,100 intents, 360k examples) would take
  liblinear about half an hour to train here, so its query latency is measured with a model
  of the real shape (vocabulary fitted on the synthetic examples, random weights).

    .venv/bin/python benchmarks/latency.py [--clinc DIR] [--no-scaling] [--rounds 5]

Results go to benchmarks/results/latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faq.evaluate import read_labelled  # noqa: E402
from faq.features import FeatureSpec, Vocabulary, extract  # noqa: E402
from faq.knowledge import OUT_OF_SCOPE, load_knowledge_base  # noqa: E402
from faq.matcher import DEFAULT_TEMPERATURE, Matcher, Model, latin_words  # noqa: E402
from faq.normalize import is_han, normalize  # noqa: E402
from faq.settings import MatcherSettings  # noqa: E402

DEVSET = ROOT / "tests" / "faq" / "devset.jsonl"
# As in clinc150.py: the public data set, fetched as benchmarks/README.md says.
DEFAULT_CLINC = Path(os.environ.get("SELLERBOT_CLINC150_DIR") or ROOT / "benchmarks" / "data" / "clinc150")


class Baseline:
    """Naive matcher: the label of the most similar training example (fuzz.ratio)."""

    def __init__(self, pairs):
        self.texts = [normalize(t) for t, _ in pairs]
        self.labels = [i for _, i in pairs]

    def match(self, text: str) -> str:
        found = process.extractOne(normalize(text), self.texts, scorer=fuzz.ratio)
        return self.labels[found[2]] if found else OUT_OF_SCOPE


def timings(fn, queries: list[str], rounds: int) -> dict:
    """Per-call latency (median, p99, µs) over `rounds` passes, and single-thread throughput."""
    for q in queries[:20]:
        fn(q)  # warm-up
    samples = []
    start = time.perf_counter()
    for _ in range(rounds):
        for q in queries:
            t = time.perf_counter_ns()
            fn(q)
            samples.append(time.perf_counter_ns() - t)
    elapsed = time.perf_counter() - start
    samples.sort()
    return {
        "median_us": round(statistics.median(samples) / 1000, 1),
        "p99_us": round(samples[int(0.99 * (len(samples) - 1))] / 1000, 1),
        "per_second": round(len(samples) / elapsed),
        "queries": len(queries),
        "rounds": rounds,
    }


def compare(name: str, matcher_fn, baseline_fn, queries: list[str], rounds: int, extra: dict) -> dict:
    ours = timings(matcher_fn, queries, rounds)
    base = timings(baseline_fn, queries, max(1, rounds // 2))
    row = {
        "name": name,
        **extra,
        "matcher": ours,
        "baseline_extractOne": base,
        "median_ratio": round(ours["median_us"] / base["median_us"], 3),
    }
    print(
        f"{name}: matcher median {ours['median_us']} µs, p99 {ours['p99_us']} µs, {ours['per_second']}/s"
        f" | extractOne median {base['median_us']} µs, p99 {base['p99_us']} µs, {base['per_second']}/s"
        f" | ratio {row['median_ratio']}",
        flush=True,
    )
    return row


def startup(cache_dir: Path) -> dict:
    """Wall time of a fresh process building the bundled matcher: no cache, then with the cache."""
    code = (
        "import time; t=time.perf_counter()\n"
        "from faq.knowledge import load_knowledge_base\nfrom faq.matcher import Matcher\n"
        f"m = Matcher.from_knowledge_base(load_knowledge_base(), cache_dir={str(cache_dir)!r})\n"
        "m.match('秘码忘了'); print(time.perf_counter()-t)"
    )
    out = {}
    for label in ("cold_s", "warm_s", "warm2_s"):
        t = time.perf_counter()
        inner = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        out[label] = round(time.perf_counter() - t, 2)
        out[label.replace("_s", "_build_s")] = round(float(inner), 2)
    print(f"start-up (fresh process, python included): cold {out['cold_s']} s, cached {out['warm_s']} s")
    return out


def perturb(text: str, rng: random.Random, alphabet: str, han: list[str]) -> str:
    chars = list(text)
    for _ in range(max(1, len(chars) // 6)):
        i = rng.randrange(len(chars))
        if is_han(chars[i]):
            chars[i] = rng.choice(han)
        elif chars[i].isalpha():
            op = rng.random()
            if op < 0.4:
                chars[i] = rng.choice(alphabet)
            elif op < 0.7 and i + 1 < len(chars):
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
            else:
                chars.insert(i, rng.choice(alphabet))
    return "".join(chars)


def scaled(pairs, factor: int, seed: int = 0):
    """The base `factor` times: copy r > 0 renames every intent to `<id>~r` and perturbs its
    examples; out-of-scope examples are copied (perturbed) into the one out-of-scope class."""
    rng = random.Random(seed)
    han = sorted({c for t, _ in pairs for c in t if is_han(c)})
    out = list(pairs)
    for r in range(1, factor):
        for text, intent in pairs:
            label = intent if intent == OUT_OF_SCOPE else f"{intent}~{r}"
            out.append((perturb(text, rng, "abcdefghijklmnopqrstuvwxyz", han), label))
    return out


def random_model(pairs, seed: int = 0) -> Model:
    """A model of the real shape for these pairs (vocabulary fitted, weights random)."""
    spec = FeatureSpec(min_df=2)
    normalized = [normalize(t) for t, _ in pairs]
    docs = [extract(t, spec) for t in normalized]
    vocab = Vocabulary.fit(docs, spec)
    classes = sorted({i for _, i in pairs})
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((len(vocab), len(classes)), dtype=np.float32) * 0.1
    bias = rng.standard_normal(len(classes), dtype=np.float32) * 0.1 - 1
    words: dict[str, int] = {}
    for t in normalized:
        for w in latin_words(t):
            words[w] = words.get(w, 0) + 1
    return Model(classes, vocab, weights, bias, DEFAULT_TEMPERATURE, words)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clinc", type=Path, default=DEFAULT_CLINC)
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    results: dict = {"machine": machine}

    with tempfile.TemporaryDirectory() as tmp:
        results["startup_bundled"] = startup(Path(tmp))

    kb = load_knowledge_base()
    pairs = kb.labelled_examples()
    queries = [r["text"] for r in read_labelled(DEVSET)] if DEVSET.exists() else [t for t, _ in pairs[::7]]
    settings = MatcherSettings(cache=False)
    t = time.perf_counter()
    matcher = Matcher.train(pairs, settings)
    build = time.perf_counter() - t
    rows = [
        compare(
            "bundled base",
            matcher.match,
            Baseline(pairs).match,
            queries,
            args.rounds,
            {"intents": len(matcher.intents), "examples": len(pairs), "train_s": round(build, 2)},
        )
    ]

    if (args.clinc / "train.jsonl").exists():
        train = [(r["text"], r["intent"]) for r in read_labelled(args.clinc / "train.jsonl")]
        val = [r["text"] for r in read_labelled(args.clinc / "val.jsonl")]
        t = time.perf_counter()
        clinc = Matcher.train(train, settings)
        build = time.perf_counter() - t
        extra = {"intents": len(clinc.intents), "examples": len(train), "train_s": round(build, 1)}
        rows.append(compare("CLINC150", clinc.match, Baseline(train).match, val[::3], args.rounds, extra))
        del clinc
    else:
        print(f"CLINC150 not found under {args.clinc}: skipped")

    if not args.no_scaling:
        big = scaled(pairs, 10)
        t = time.perf_counter()
        m10 = Matcher.train(big, settings)
        build = time.perf_counter() - t
        weights_mb = m10.model.weights.nbytes / 2**20
        extra = {
            "intents": len(m10.intents),
            "examples": len(big),
            "train_s": round(build, 1),
            "features": len(m10.model.vocabulary),
            "weights_mb": round(weights_mb, 1),
        }
        rows.append(
            compare("10x base (trained)", m10.match, Baseline(big).match, queries, args.rounds, extra)
        )
        del m10
        huge = scaled(pairs, 100)
        t = time.perf_counter()
        model = random_model(huge)
        m100 = Matcher(model, settings)
        extra = {
            "intents": len(m100.intents),
            "examples": len(huge),
            "train_s": None,
            "vocabulary_s": round(time.perf_counter() - t, 1),
            "features": len(model.vocabulary),
            "weights_mb": round(model.weights.nbytes / 2**20, 1),
        }
        few = queries[::4]
        rows.append(compare("100x base (random weights)", m100.match, Baseline(huge).match, few, 2, extra))
    results["rows"] = rows
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "latency.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
