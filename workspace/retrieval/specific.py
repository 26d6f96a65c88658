"""Does a question name something specific to a few documents of its scope?

"What is our experiment result?" asked of a 200-paper library could be about any of them:
its words are in most papers, alone and together, so no ranking of those words (BM25,
ts_rank, and mostly vectors too) can tell which paper's passages hold the answer. Measured
on BAMBOO's paperqa stems against 195 papers (bench.packing): the look-up route recalls the
gold evidence for 0.87-0.93 of the questions that name something specific and 0.28-0.59
of the rest (8K to 128K). So Carrel says so next to such an answer, and asks
for a name, a method or a data set, or a narrower scope, instead of passing off a lucky
guess as the answer.

A question names something specific when one of its words is in at least one document of
the scope and in fewer than SPECIFIC_SHARE of them, or when its two rarest words are both
in only one document (or under PAIR_SHARE of them): "the tide signal at station 9", where
neither "tide" nor "9" is rare but one paper has both. Only the two rarest, and a tighter
share: two common words share a few papers of a large library by chance, and every word
of a long vague question together ("the main focus of the study conducted in this article
regarding models' performance") is in few papers too. The scope must have MIN_DOCUMENTS
for a share to mean anything (5% of 19 documents is less than one).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from workspace.packing.bm25 import stem, words

SPECIFIC_SHARE = 0.05
PAIR_SHARE = 0.01  # both of the two rarest words: in one document, or under 1% of them
MIN_DOCUMENTS = 20
MAX_WORDS = 32


def question_words(question: str) -> list[str]:
    """The question's distinct words as BM25 ranks them, single digits kept ("station 9"),
    in order, at most MAX_WORDS; each as the question first writes it ("readings", not the
    stem "reading": the page shows them, and the full-text indexes stem them anyway)."""
    written: dict[str, str] = {}
    for word in words(question, digits=True):
        written.setdefault(stem(word), word)
    return list(written.values())[:MAX_WORDS]


def names_something_specific(
    holders: Mapping[str, Collection[int]], documents: int, *, share: float = SPECIFIC_SHARE
) -> bool:
    """`holders`: for each of the question's words, the documents (of `documents`) that
    hold it; words in no document are left out of the count."""
    limit = share * documents
    found = sorted((set(ids) for ids in holders.values() if ids), key=len)
    if not found:
        return False
    if len(found[0]) < limit:
        return True
    return len(found) > 1 and len(found[0] & found[1]) < max(2.0, PAIR_SHARE * documents)


def vague_question_note(holders: Mapping[str, Collection[int]], documents: int) -> str:
    """What the answer page says when a look-up names nothing specific, or "". A question
    none of whose words is in any document gets no note: nothing matched, and the answer
    says so ("Read the whole library" is offered then)."""
    common = [word for word, ids in holders.items() if ids]
    if not common or documents < MIN_DOCUMENTS or names_something_specific(holders, documents):
        return ""
    shown = ", ".join(f"“{word}”" for word in common[:6])
    return (
        f"This question could be about any of the {documents:,} documents it was asked of: "
        f"its words ({shown}) are each in many of them, so the passages may come from the "
        "wrong one, and so may the answer. Name the paper, a method, a data set or a term, "
        "or ask within the documents you mean."
    )
