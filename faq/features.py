"""Features of a normalised question, and the TF-IDF vocabulary that turns them into a vector.

Three blocks, each TF-IDF weighted (sublinear tf, smoothed idf) and L2-normalised on its own,
then scaled by its weight:

- `w` words: n-grams of the token sequence, where a token is a Latin word or number (after typo
  correction) or a single Han character, so Chinese word n-grams are character n-grams;
- `c` characters: n-grams of each run padded with spaces (scikit-learn's `char_wb`), Latin
  words as typed (typos keep most of their n-grams) and Han runs alike;
- `p` pinyin: n-grams of the toneless syllables of each Han run, so that a same-sound typo
  (秘码 mi ma) shares features with the right word (密码 mi ma).

At query time the vector is a handful of (column, value) pairs from a plain dict lookup: no
scikit-learn on the hot path.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from faq.normalize import pinyin, runs

BLOCKS = ("w", "c", "p")

# Other marketplaces. Questions about them are out of scope, but they reuse every in-scope word
# ("ozon的佣金", "ebay password reset"); each name alone is rare in the examples, so every
# mention also adds one shared feature, `w|<platform>`, that the classifier can weigh as a
# whole. Chinese names match by pinyin, so same-sound typos (亚码逊) count too.
PLATFORM = "w|<platform>"
PLATFORM_WORDS = frozenset(
    "amazon ebay etsy shopee lazada temu shein ozon aliexpress walmart tiktok wildberries "
    "mercadolibre mercadolivre allegro rakuten shopify alibaba 1688 taobao tmall pinduoduo "
    "jd jumia flipkart coupang zalando cdiscount noon dhgate tokopedia bukalapak yandex".split()
)
PLATFORM_PINYIN = tuple(
    tuple(name.split())
    for name in (
        "ya ma xun",  # 亚马逊
        "xia pi",  # 虾皮
        "su mai tong",  # 速卖通
        "tao bao",  # 淘宝
        "tian mao",  # 天猫
        "jing dong",  # 京东
        "pin duo duo",  # 拼多多
        "dou yin",  # 抖音
        "xi yin",  # 希音
        "wo er ma",  # 沃尔玛
        "a li ba ba",  # 阿里巴巴
        "dun huang",  # 敦煌
        "lai zan da",  # 来赞达
        "mei ke duo",  # 美客多
        "le tian",  # 乐天
        "yi bei",  # 易贝
    )
)


_PLATFORM_RE = re.compile("|".join(rf"(?<![a-z]){' '.join(name)}(?![a-z])" for name in PLATFORM_PINYIN))


def _platform_mentions(syllables: Sequence[str]) -> int:
    return len(_PLATFORM_RE.findall(" ".join(syllables))) if len(syllables) > 1 else 0


@dataclass(frozen=True)
class FeatureSpec:
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    pinyin_ngrams: tuple[int, int] = (1, 2)
    # relative weight of each block after its own L2 normalisation
    word_weight: float = 1.0
    char_weight: float = 1.0
    pinyin_weight: float = 1.0
    # a feature seen in fewer training examples than this is dropped
    min_df: int = 1
    # add the shared `w|<platform>` feature for mentions of other marketplaces
    platforms: bool = True

    def weight(self, block: str) -> float:
        return {"w": self.word_weight, "c": self.char_weight, "p": self.pinyin_weight}[block]


def _ngrams(items: Sequence[str], low: int, high: int, sep: str) -> Iterable[str]:
    n_items = len(items)
    for n in range(low, min(high, n_items) + 1):
        for i in range(n_items - n + 1):
            yield sep.join(items[i : i + n])


def extract(normalized: str, spec: FeatureSpec, correct: Callable[[str], str] | None = None) -> list[str]:
    """Feature strings of a normalised text, prefixed by their block (`w|`, `c|`, `p|`)."""
    tokens: list[str] = []
    feats: list[str] = []
    c_low, c_high = spec.char_ngrams
    p_low, p_high = spec.pinyin_ngrams
    for text, han in runs(normalized):
        padded = f" {text} "
        size = len(padded)
        for n in range(c_low, min(c_high, size) + 1):
            feats.extend("c|" + padded[i : i + n] for i in range(size - n + 1))
        if han:
            tokens.extend(text)
            syllables = [pinyin(ch) for ch in text]
            if spec.pinyin_weight > 0:
                feats.extend("p|" + g for g in _ngrams(syllables, p_low, p_high, " "))
            if spec.platforms:
                feats.extend([PLATFORM] * _platform_mentions(syllables))
        else:
            word = correct(text) if correct else text
            tokens.append(word)
            if spec.platforms and word in PLATFORM_WORDS:
                feats.append(PLATFORM)
    feats.extend("w|" + g for g in _ngrams(tokens, spec.word_ngrams[0], spec.word_ngrams[1], " "))
    return feats


class Vocabulary:
    """Feature string → column, with idf and block per column; fitted on training examples."""

    def __init__(self, spec: FeatureSpec, index: dict[str, int], idf: np.ndarray, block: np.ndarray):
        self.spec = spec
        self.index = index
        self.idf = idf.astype(np.float32)
        self.block = block.astype(np.int8)
        self._block_weight = np.array([spec.weight(b) for b in BLOCKS], dtype=np.float32)

    @classmethod
    def fit(cls, documents: Sequence[Sequence[str]], spec: FeatureSpec) -> Vocabulary:
        df: Counter[str] = Counter()
        for feats in documents:
            df.update(set(feats))
        kept = sorted(f for f, n in df.items() if n >= spec.min_df)
        n_docs = len(documents)
        index = {f: i for i, f in enumerate(kept)}
        counts = np.fromiter((df[f] for f in kept), dtype=np.float64, count=len(kept))
        idf = np.log((1 + n_docs) / (1 + counts)) + 1.0
        block = np.fromiter((BLOCKS.index(f[0]) for f in kept), dtype=np.int8, count=len(kept))
        return cls(spec, index, idf, block)

    @classmethod
    def fit_matrix(cls, documents: Sequence[Sequence[str]], spec: FeatureSpec):
        """`fit` and `matrix` of the same documents in one pass (what training needs).

        Columns are numbered in order of first appearance rather than sorted; the rows equal
        `vector(documents[i])` all the same.
        """
        from scipy.sparse import csr_matrix

        index: dict[str, int] = {}
        setdefault = index.setdefault
        indptr = [0]
        cols: list[int] = []
        tfs: list[int] = []
        for feats in documents:
            counts = Counter(feats)
            cols.extend([setdefault(f, len(index)) for f in counts])
            tfs.extend(counts.values())
            indptr.append(len(cols))
        n_docs = len(documents)
        c = np.array(cols, dtype=np.int64)
        r = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(np.array(indptr, dtype=np.int64)))
        df = np.bincount(c, minlength=len(index))
        keep = df >= spec.min_df
        new_col = np.cumsum(keep) - 1
        entries = keep[c]
        r, c, tf = r[entries], new_col[c[entries]], np.array(tfs, dtype=np.float32)[entries]
        features = [f for f, k in zip(index, keep.tolist(), strict=True) if k]
        idf = np.log((1 + n_docs) / (1 + df[keep].astype(np.float64))) + 1.0
        block = np.array([BLOCKS.index(f[0]) for f in features], dtype=np.int8)
        vocab = cls(spec, {f: i for i, f in enumerate(features)}, idf, block)
        values = (1.0 + np.log(tf)) * vocab.idf[c]
        slot = r * len(BLOCKS) + vocab.block[c]
        norms = np.sqrt(np.bincount(slot, weights=values * values, minlength=n_docs * len(BLOCKS)))
        scale = vocab._block_weight[vocab.block[c]] / np.where(norms[slot] > 0, norms[slot], 1.0)
        X = csr_matrix(((values * scale).astype(np.float32), (r, c)), shape=(n_docs, len(vocab)))
        X.sort_indices()
        return vocab, X

    def __len__(self) -> int:
        return len(self.index)

    def vector(self, feats: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Sparse TF-IDF vector of one text: (columns, values), unknown features ignored."""
        index = self.index
        counts: Counter[int] = Counter()
        for f in feats:
            col = index.get(f)
            if col is not None:
                counts[col] += 1
        if not counts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        values = (1.0 + np.log(tf)) * self.idf[cols]
        blocks = self.block[cols]
        norms = np.sqrt(np.bincount(blocks, weights=values * values, minlength=len(BLOCKS)))
        scale = self._block_weight / np.where(norms > 0, norms, 1.0)
        return cols, (values * scale[blocks]).astype(np.float32)

    def matrix(self, documents: Sequence[Sequence[str]]):
        """CSR matrix of many texts (for training); row i equals `vector(documents[i])`."""
        from scipy.sparse import csr_matrix

        index = self.index
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[int] = []
        for row, feats in enumerate(documents):
            counts = Counter(c for c in map(index.get, feats) if c is not None)
            rows.extend([row] * len(counts))
            cols.extend(counts.keys())
            tfs.extend(counts.values())
        n_docs = len(documents)
        r = np.array(rows, dtype=np.int64)
        c = np.array(cols, dtype=np.int64)
        values = (1.0 + np.log(np.array(tfs, dtype=np.float32))) * self.idf[c]
        slot = r * len(BLOCKS) + self.block[c]
        norms = np.sqrt(np.bincount(slot, weights=values * values, minlength=n_docs * len(BLOCKS)))
        scale = self._block_weight[self.block[c]] / np.where(norms[slot] > 0, norms[slot], 1.0)
        matrix = csr_matrix(((values * scale).astype(np.float32), (r, c)), shape=(n_docs, len(self)))
        matrix.sort_indices()
        return matrix
