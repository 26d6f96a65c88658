"""Does a question name something specific to a few documents of its scope?

"What is our experiment result?" asked of a 200-paper library could be about any of them:
every one of its words is in most papers, so no ranking of those words (BM25, ts_rank,
and mostly vectors too) can tell which paper's passages hold the answer. Measured on
BAMBOO's paperqa stems against 195 papers (bench.packing): the look-up route recalls the
gold evidence for 0.88-0.93 of the questions that name something specific and 0.31-0.62 of
the rest. So Carrel says so next to such an answer, and asks for a name, a method or a
data set, or a narrower scope, instead of passing off a lucky guess as the answer.

A word names something specific when it is in at least one document of the scope and in
fewer than SPECIFIC_SHARE of them; the scope must have MIN_DOCUMENTS for that to mean
anything (5% of 19 documents is less than one).
"""

from __future__ import annotations

from collections.abc import Mapping

from workspace.packing.bm25 import terms

SPECIFIC_SHARE = 0.05
MIN_DOCUMENTS = 20
MAX_WORDS = 32


def question_words(question: str) -> list[str]:
    """The question's distinct content words (stopwords out), in order, at most MAX_WORDS."""
    return list(dict.fromkeys(terms(question)))[:MAX_WORDS]


def names_something_specific(
    counts: Mapping[str, int], documents: int, *, share: float = SPECIFIC_SHARE
) -> bool:
    """`counts`: for each of the question's words, how many of the `documents` hold it."""
    limit = share * documents
    return any(0 < count < limit for count in counts.values())


def vague_question_note(counts: Mapping[str, int], documents: int) -> str:
    """What the answer page says when a look-up names nothing specific, or ""."""
    if documents < MIN_DOCUMENTS or names_something_specific(counts, documents):
        return ""
    common = [word for word, count in counts.items() if count]
    words = ", ".join(f"“{word}”" for word in common[:6]) if common else "none of its words"
    return (
        f"This question names nothing specific to a few of the {documents:,} documents it "
        f"was asked of (its words: {words}, each in many of them), so the passages could "
        "come from any of them and the answer may be about the wrong one. Name the paper, "
        "a method, a data set or a term, or ask within the documents you mean."
    )
