"""A small in-memory BM25 index over pieces: the retriever for tests and benchmarks, and
the fallback when the database's full-text index is not available."""

from __future__ import annotations

import math
import re
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Sequence

_WORD = re.compile(r"\w+")
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves also et al""".split()  # noqa: SIM905
)


def stem(word: str) -> str:
    """A light plural folding: enough for "models" to match "model"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str, *, digits: bool = False) -> list[str]:
    """The words BM25 ranks by, as written (lower case): stopwords and single characters
    out. `digits` keeps single digits ("station 9"), for telling documents apart."""
    return [
        word
        for word in _WORD.findall(text.lower())
        if (len(word) > 1 or (digits and word.isdigit())) and word not in STOPWORDS
    ]


def terms(text: str, *, digits: bool = False) -> list[str]:
    """The words BM25 ranks by, plurals folded (`words`, stemmed)."""
    return [stem(word) for word in words(text, digits=digits)]


class BM25Index:
    def __init__(self, texts: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.size = len(texts)
        self.lengths: list[int] = []
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for position, text in enumerate(texts):
            counts = Counter(terms(text))
            self.lengths.append(sum(counts.values()))
            for term, frequency in counts.items():
                self.postings[term].append((position, frequency))
        self.average = (sum(self.lengths) / self.size) if self.size else 0.0

    def idf(self, term: str) -> float:
        frequency = len(self.postings.get(term, ()))
        return math.log(1 + (self.size - frequency + 0.5) / (frequency + 0.5))

    def scores(self, query: str) -> dict[int, float]:
        """Positions of matching texts and their BM25 scores (only those that match)."""
        scores: dict[int, float] = defaultdict(float)
        average = self.average or 1.0
        for term in set(terms(query)):
            postings = self.postings.get(term)
            if not postings:
                continue
            idf = self.idf(term)
            for position, frequency in postings:
                norm = self.k1 * (1 - self.b + self.b * self.lengths[position] / average)
                scores[position] += idf * frequency * (self.k1 + 1) / (frequency + norm)
        return dict(scores)

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        ranked = sorted(self.scores(query).items(), key=lambda item: (-item[1], item[0]))
        return ranked[:k]


class IndexCache:
    """BM25 indexes of the last few sets of texts, by a caller's key, built on first use."""

    def __init__(self, size: int = 4) -> None:
        self._cache: OrderedDict[Hashable, BM25Index] = OrderedDict()
        self._size = size

    def get(self, key: Hashable, texts: Callable[[], Sequence[str]]) -> BM25Index:
        index = self._cache.get(key)
        if index is None:
            index = BM25Index(texts())
            self._cache[key] = index
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return index
