"""How often `faq.modes.mode_of` reads a message's mode right (request, question, personal), on the
labelled set `benchmarks/data/modes_dev.jsonl`:

    .venv/bin/python benchmarks/modes.py            # the figure, per mode, and every miss
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faq.modes import mode_of  # noqa: E402

DEV = ROOT / "benchmarks" / "data" / "modes_dev.jsonl"


def score(path: Path = DEV) -> tuple[float, list[tuple[str, str, str]], Counter[str], Counter[str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    misses, right, total = [], Counter(), Counter()
    for row in rows:
        got = mode_of(row["text"])
        total[row["mode"]] += 1
        if got == row["mode"]:
            right[row["mode"]] += 1
        else:
            misses.append((row["text"], row["mode"], got))
    return sum(right.values()) / len(rows), misses, right, total


def main() -> None:
    accuracy, misses, right, total = score()
    print(f"right mode: {accuracy:.1%} of {sum(total.values())} lines (target ≥ 95 %)")
    for mode in sorted(total):
        print(f"  {mode}: {right[mode]}/{total[mode]}")
    for text, expected, got in misses:
        print(f"  miss: {text!r}: {expected}, read as {got}")


if __name__ == "__main__":
    main()
