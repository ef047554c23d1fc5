"""English typo correction against the words the matcher was trained on.

A Latin word the training examples never use ("pasword", "payonner", "stroe") is replaced by
the closest known word within one edit (words of 4–5 letters) or two edits (longer words),
counting a swap of neighbours as one edit; ties go to the more frequent word. Known words,
short words and anything with digits are left alone, and so is a word with no close match.
Chinese needs no corrector here: same-sound character typos share pinyin features.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from rapidfuzz import process
from rapidfuzz.distance import OSA

MIN_LENGTH = 4
_CACHE_SIZE = 50_000


def max_edits(word: str) -> int:
    return 1 if len(word) <= 5 else 2


class TypoCorrector:
    def __init__(self, vocabulary: Mapping[str, int]):
        self.counts = {w: n for w, n in vocabulary.items() if w.isascii() and w.isalpha()}
        by_length: dict[int, list[str]] = defaultdict(list)
        for word in sorted(self.counts):
            by_length[len(word)].append(word)
        self._by_length = dict(by_length)
        self._cache: dict[str, str] = {}

    def __call__(self, word: str) -> str:
        if word in self.counts or len(word) < MIN_LENGTH or not (word.isascii() and word.isalpha()):
            return word
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        best = self._closest(word)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[word] = best
        return best

    def _closest(self, word: str) -> str:
        limit = max_edits(word)
        found: list[tuple[int, int, str]] = []
        for length in range(len(word) - limit, len(word) + limit + 1):
            words = self._by_length.get(length)
            if not words:
                continue
            for candidate, distance, _ in process.extract(
                word, words, scorer=OSA.distance, score_cutoff=limit, limit=None
            ):
                found.append((int(distance), -self.counts[candidate], candidate))
        return min(found)[2] if found else word
