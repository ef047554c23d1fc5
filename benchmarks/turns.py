"""What one conversation turn costs against one classification, measured side by side in one run
through the two JSON-lines pipes a script would use:

    .venv/bin/python benchmarks/turns.py                 # 400 questions through each pipe
    .venv/bin/python benchmarks/turns.py --rounds 1000

`sellerbot classify` answers one JSON line per question (the matcher alone); `sellerbot chat
--jsonl --demo` answers each question as a turn of a linked demo seller (the whole conversation
core: state loaded and saved, the turn logged, the answer rendered). Both run as processes of
their own on one data folder (the matcher trained once, before the clock starts); each question is
written and its answer read before the next is written, and the round trip of each is timed. The
questions are the FAQ questions of `telegram_load.py`, in a fixed random order, the same for both.
The script prints the medians and p90s and the ratio of the medians (the target is at most 8).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from telegram_load import QUESTIONS  # noqa: E402

SELLERBOT = [sys.executable, "-m", "bot"]


def start(args: list[str], data_dir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERBOT_")}
    env["SELLERBOT_DATA_DIR"] = str(data_dir)
    return subprocess.Popen(
        [*SELLERBOT, *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def ask(process: subprocess.Popen[bytes], question: str, *, until_turn_end: bool) -> float:
    """Seconds from writing the question to reading the whole answer."""
    assert process.stdin is not None and process.stdout is not None
    line = json.dumps({"text": question}, ensure_ascii=False).encode() + b"\n"
    started = time.perf_counter()
    process.stdin.write(line)
    process.stdin.flush()
    while True:
        answer = process.stdout.readline()
        if not answer:
            raise SystemExit("the process ended early")
        if not until_turn_end or json.loads(answer).get("type") == "turn_end":
            return time.perf_counter() - started


def measure(args: list[str], data_dir: Path, questions: list[str], *, until_turn_end: bool) -> list[float]:
    process = start(args, data_dir)
    try:
        for question in questions[:20]:  # warm up: first imports, caches, the database file
            ask(process, question, until_turn_end=until_turn_end)
        return [ask(process, q, until_turn_end=until_turn_end) for q in questions]
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=60)


def describe(name: str, times: list[float]) -> str:
    p90 = statistics.quantiles(times, n=10)[-1]
    median = statistics.median(times)
    return f"{name}: median {median * 1000:.2f} ms, p90 {p90 * 1000:.2f} ms ({len(times)} lines)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=400, help="questions through each pipe")
    parser.add_argument("--data-dir", default=None, help="a data folder to use (default: a new one)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="sellerbot-turns-"))
    subprocess.run(
        [*SELLERBOT, "faq", "build", "--data-dir", str(data_dir)], cwd=ROOT, check=True, capture_output=True
    )
    rng = random.Random(args.seed)
    questions = [rng.choice(QUESTIONS) for _ in range(args.rounds)]
    classify = measure(["classify"], data_dir, questions, until_turn_end=False)
    turns = measure(
        ["chat", "--jsonl", "--demo", "--user", "bench-seller"], data_dir, questions, until_turn_end=True
    )
    print(describe("classification (sellerbot classify)", classify))
    print(describe("turn (sellerbot chat --jsonl --demo)", turns))
    ratio = statistics.median(turns) / statistics.median(classify)
    print(f"a turn costs {ratio:.1f}× a classification (target ≤ 8)")


if __name__ == "__main__":
    main()
