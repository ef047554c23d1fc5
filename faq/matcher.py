"""The intent matcher: a question in, an intent, a calibrated score and a decision out.

    matcher = Matcher.from_knowledge_base(load_knowledge_base(), settings.matcher)
    match = matcher.match("秘码忘了")
    match.decision     # Decision.ANSWER | Decision.CLARIFY | Decision.FALLBACK
    match.intent       # "password_reset" (out_of_scope on fallback)
    match.score        # calibrated probability of that intent, 0..1
    match.candidates   # on clarify: the two or three intents to offer, best first
    match.lang         # "zh" or "en": the language to reply in

How it decides, with s1 ≥ s2 ≥ s3 the calibrated scores of the best in-scope intents and p_oos
the score of the out-of-scope class (trained on the knowledge base's negative examples):

- `fallback` when s1 < clarify_threshold, or p_oos ≥ s1;
- `answer` when s1 ≥ answer_threshold and s1 − s2 ≥ ambiguity_margin;
- `clarify` otherwise, offering the top two intents, and the third too when s3 ≥ s2 / 2.

On `answer` and `fallback`, `candidates` lists the three best in-scope intents for
information; on `fallback` `score` is 1 − s1. The matcher is trained once (see
`faq.training`), optionally cached on disk, and `match` is numpy and dict look-ups only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from faq.features import FeatureSpec, Vocabulary, extract
from faq.knowledge import OUT_OF_SCOPE, KnowledgeBase
from faq.normalize import detect_language, normalize, runs
from faq.settings import MatcherSettings
from faq.typos import TypoCorrector


class Decision(StrEnum):
    """What the bot does with a question. The values are what the conversation log keeps
    (`Turn.decision`) and what `sellerbot classify` prints."""

    ANSWER = "answer"  # with the top intent
    CLARIFY = "clarify"  # "A or B?" between the candidates
    FALLBACK = "fallback"  # out of scope: the bot says it does not know


# Bump when the file format changes (a change to the code of the matcher changes the cache key
# by itself: see `training_key`).
MODEL_VERSION = "1"
# Above this many examples, features seen only once are dropped (CLINC150: 65k → 32k
# features, same accuracy); small bases keep them all.
MIN_DF_ABOVE = 10_000
MAX_CANDIDATES = 3
# Calibration: the temperature is fitted by cross-validation when there are at least this many
# examples per class on average, and kept within TEMPERATURE_RANGE; smaller training sets get
# DEFAULT_TEMPERATURE, about what was fitted on both the bundled base and CLINC150 (0.15–0.16).
CALIBRATION_MIN_PER_CLASS = 10
TEMPERATURE_RANGE = (0.03, 0.5)
DEFAULT_TEMPERATURE = 0.15


class MatcherError(Exception):
    """The matcher cannot be trained from these examples; the message says why."""


@dataclass(frozen=True)
class Candidate:
    intent: str
    score: float


@dataclass(frozen=True)
class Match:
    text: str
    intent: str
    score: float
    decision: Decision
    candidates: tuple[Candidate, ...]
    lang: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "intent": self.intent,
            "score": round(self.score, 4),
            "decision": self.decision.value,
            "candidates": [{"intent": c.intent, "score": round(c.score, 4)} for c in self.candidates],
            "lang": self.lang,
        }


@dataclass
class Model:
    """What training produces; everything `match` needs, and what the cache file holds."""

    classes: list[str]
    vocabulary: Vocabulary
    weights: np.ndarray  # features × classes, float32
    bias: np.ndarray  # classes
    temperature: float
    words: dict[str, int]  # Latin words of the training examples, for typo correction

    def save(self, path: Path) -> None:
        vocab = self.vocabulary
        meta = {
            "version": MODEL_VERSION,
            "classes": self.classes,
            "temperature": self.temperature,
            "spec": asdict(vocab.spec),
        }
        features = sorted(vocab.index, key=vocab.index.__getitem__)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
            with open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    meta=np.array(json.dumps(meta)),
                    features=np.array(features, dtype=str),
                    idf=vocab.idf,
                    block=vocab.block,
                    weights=self.weights,
                    bias=self.bias,
                    words=np.array(list(self.words), dtype=str),
                    word_counts=np.array(list(self.words.values()), dtype=np.int64),
                )
            os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, path: Path) -> Model:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("version") != MODEL_VERSION:
                raise ValueError(f"{path}: model version {meta.get('version')}, expected {MODEL_VERSION}")
            spec = FeatureSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["spec"].items()})
            features = data["features"].tolist()
            vocab = Vocabulary(spec, {f: i for i, f in enumerate(features)}, data["idf"], data["block"])
            words = dict(zip(data["words"].tolist(), data["word_counts"].tolist(), strict=True))
            return cls(
                classes=list(meta["classes"]),
                vocabulary=vocab,
                weights=np.ascontiguousarray(data["weights"], dtype=np.float32),
                bias=data["bias"].astype(np.float32),
                temperature=float(meta["temperature"]),
                words=words,
            )


CACHE_FILES_KEPT = 8


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:
        pass


def _prune_cache(folder: Path, keep: Path) -> None:
    """Keep the most recently used cache files (one per knowledge-base version, training file…)."""
    files = sorted(folder.glob("matcher-*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[CACHE_FILES_KEPT:]:
        if old != keep:
            old.unlink(missing_ok=True)


def latin_words(normalized: str) -> Iterable[str]:
    return (text for text, han in runs(normalized) if not han)


@functools.cache
def _code_digest() -> bytes:
    """The source of everything that shapes a trained model: a change to it invalidates the cache."""
    digest = hashlib.sha256()
    for name in ("normalize.py", "features.py", "training.py", "matcher.py", "typos.py"):
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.digest()


def training_key(pairs: Sequence[tuple[str, str]], settings: MatcherSettings) -> str:
    """Cache key of a trained model: the examples, the settings that shape it, and the code."""
    digest = hashlib.sha256(_code_digest())
    digest.update(json.dumps([MODEL_VERSION, settings.regularization_c]).encode())
    for text, intent in pairs:
        digest.update(b"\0" + text.encode("utf-8", "surrogatepass") + b"\1" + intent.encode())
    return digest.hexdigest()[:24]


def train_model(
    pairs: Sequence[tuple[str, str]], settings: MatcherSettings, spec: FeatureSpec | None = None
) -> Model:
    """Fit the vocabulary, the classifier and its temperature on (text, intent) pairs."""
    from faq import training

    normalized = [normalize(text) for text, _ in pairs]
    kept = [i for i, text in enumerate(normalized) if text]
    if not kept:
        raise MatcherError("no usable training examples (every text is empty after normalisation)")
    labels = [pairs[i][1] for i in kept]
    classes, y = training.class_numbers(labels)
    if len([c for c in classes if c != OUT_OF_SCOPE]) < 1 or len(classes) < 2:
        raise MatcherError(
            "need at least two labels among the training examples "
            f"(found {len(classes)}: {', '.join(classes)}), one of them not out_of_scope"
        )
    if spec is None:
        spec = FeatureSpec(min_df=2 if len(kept) > MIN_DF_ABOVE else 1)
    features: dict[str, list[str]] = {}  # Traditional and Simplified variants normalise alike
    docs = [
        features.get(normalized[i]) or features.setdefault(normalized[i], extract(normalized[i], spec))
        for i in kept
    ]
    vocab, X = Vocabulary.fit_matrix(docs, spec)
    C = settings.regularization_c
    if len(kept) >= CALIBRATION_MIN_PER_CLASS * len(classes):
        weights, bias, oof = training.fit_with_calibration(X, y, len(classes), C)
        temperature = training.fit_temperature(oof, y)
        temperature = min(max(temperature, TEMPERATURE_RANGE[0]), TEMPERATURE_RANGE[1])
    else:  # too few examples for cross-validation to say anything
        weights, bias = training.fit_svm(X, y, len(classes), C)
        temperature = DEFAULT_TEMPERATURE
    words = Counter(w for i in kept for w in latin_words(normalized[i]))
    return Model(classes, vocab, weights, bias, temperature, dict(words))


class Matcher:
    """Maps a question to an intent; built once, then `match` is cheap and thread-safe."""

    def __init__(self, model: Model, settings: MatcherSettings | None = None):
        self.model = model
        self.settings = settings or MatcherSettings()
        self._correct = TypoCorrector(model.words)
        self._oos = model.classes.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in model.classes else -1
        in_scope = [i for i, c in enumerate(model.classes) if c != OUT_OF_SCOPE]
        self._in_scope = np.array(in_scope, dtype=np.int64)
        self._probabilities(normalize("密码 password"))  # warm up: pinyin table, numpy paths

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        pairs: Iterable[tuple[str, str]],
        settings: MatcherSettings | None = None,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> Matcher:
        """Train on (text, intent) pairs; the label `out_of_scope` marks negative examples.

        With `cache_dir`, a model trained earlier on exactly these pairs and settings is loaded
        from there instead, and a newly trained one is saved there.
        """
        settings = settings or MatcherSettings()
        pairs = [(str(t), str(i)) for t, i in pairs]
        path = None
        if cache_dir is not None and settings.cache:
            path = Path(cache_dir) / f"matcher-{training_key(pairs, settings)}.npz"
            try:
                model = Model.load(path)
            except Exception:  # missing, stale or damaged: train afresh
                pass
            else:
                _touch(path)
                return cls(model, settings)
        model = train_model(pairs, settings)
        if path is not None:
            try:
                model.save(path)
                _prune_cache(path.parent, keep=path)
            except OSError:
                pass  # a read-only cache folder only costs the next start a training
        return cls(model, settings)

    @classmethod
    def from_knowledge_base(
        cls,
        kb: KnowledgeBase,
        settings: MatcherSettings | None = None,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> Matcher:
        return cls.train(kb.labelled_examples(), settings, cache_dir=cache_dir)

    def with_settings(self, settings: MatcherSettings) -> Matcher:
        """The same trained model with other thresholds (no retraining)."""
        return Matcher(self.model, settings)

    @property
    def intents(self) -> list[str]:
        return [c for c in self.model.classes if c != OUT_OF_SCOPE]

    # -- matching ---------------------------------------------------------------------------

    def probabilities(self, text: str) -> np.ndarray:
        """Calibrated probability of every class (`model.classes` order) for one question."""
        return self._probabilities(normalize(text))

    def _probabilities(self, normalized: str) -> np.ndarray:
        model = self.model
        cols, values = model.vocabulary.vector(extract(normalized, model.vocabulary.spec, self._correct))
        z = values @ model.weights[cols] + model.bias if len(cols) else model.bias.astype(np.float64)
        z = (z - z.max()) / model.temperature
        e = np.exp(z)
        return e / e.sum()

    def match(self, text: str, default_lang: str = "zh") -> Match:
        normalized = normalize(text)
        lang = detect_language(text, default_lang)
        if not normalized:
            return Match(text, OUT_OF_SCOPE, 1.0, Decision.FALLBACK, (), lang)
        return self.decide(text, self._probabilities(normalized), lang)

    def decide(self, text: str, probs: np.ndarray, lang: str) -> Match:
        """The decision for calibrated class probabilities (split out for threshold tuning)."""
        s = self.settings
        order = self._in_scope[np.argsort(-probs[self._in_scope], kind="stable")][:MAX_CANDIDATES]
        ranked = tuple(Candidate(self.model.classes[i], float(probs[i])) for i in order)
        s1 = ranked[0].score
        s2 = ranked[1].score if len(ranked) > 1 else 0.0
        p_oos = float(probs[self._oos]) if self._oos >= 0 else 0.0
        if s1 < s.clarify_threshold or p_oos >= s1:
            return Match(text, OUT_OF_SCOPE, 1.0 - s1, Decision.FALLBACK, ranked, lang)
        if s1 >= s.answer_threshold and s1 - s2 >= s.ambiguity_margin:
            return Match(text, ranked[0].intent, s1, Decision.ANSWER, ranked, lang)
        offered = ranked[:2]
        if len(ranked) > 2 and ranked[2].score >= s2 / 2:
            offered = ranked
        return Match(text, ranked[0].intent, s1, Decision.CLARIFY, offered, lang)
