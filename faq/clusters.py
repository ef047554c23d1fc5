"""Grouping similar questions, for the people who write the knowledge base.

`sellerbot report unanswered` shows the questions the bot could not answer; grouped by
similarity with counts, the most frequent gaps come first. Questions are compared in their
normalised form (full-width, case, Traditional → Simplified folded), Chinese character by
character and English word by word, with rapidfuzz.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from rapidfuzz import fuzz

from faq.normalize import detect_language, normalize

# Similarity (0–100) at which a question joins a group.
DEFAULT_THRESHOLD = 70.0
EXAMPLES_KEPT = 5


@dataclass
class QuestionGroup:
    representative: str
    language: str
    count: int = 0
    examples: list[str] = field(default_factory=list)
    last_seen: datetime | None = None
    _key: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "count": self.count,
            "question": self.representative,
            "language": self.language,
            "examples": self.examples,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
        }


def similarity(a: str, b: str, lang: str) -> float:
    """Similarity of two normalised questions, 0–100."""
    if lang == "zh":
        return fuzz.ratio(a.replace(" ", ""), b.replace(" ", ""))
    return fuzz.token_set_ratio(a, b)


def group_similar(
    questions: Iterable[tuple[str, datetime | None]], *, threshold: float = DEFAULT_THRESHOLD
) -> list[QuestionGroup]:
    """Groups of similar questions, largest first (ties: most recent first). Each question
    joins the most similar existing group of its language at or above `threshold`."""
    groups: list[QuestionGroup] = []
    for text, seen in questions:
        key = normalize(text)
        if not key:
            continue
        lang = detect_language(text)
        best, best_score = None, threshold
        for group in groups:
            if group.language != lang:
                continue
            score = similarity(key, group._key, lang)
            if score >= best_score:
                best, best_score = group, score
        if best is None:
            best = QuestionGroup(representative=" ".join(text.split()), language=lang, _key=key)
            groups.append(best)
        best.count += 1
        cleaned = " ".join(text.split())
        if cleaned not in best.examples and len(best.examples) < EXAMPLES_KEPT:
            best.examples.append(cleaned)
        if seen is not None and (best.last_seen is None or seen > best.last_seen):
            best.last_seen = seen
    epoch = datetime.min
    groups.sort(key=lambda g: (g.count, (g.last_seen or epoch).replace(tzinfo=None)), reverse=True)
    return groups
