"""Query expansion from the question's own words, never from a thesaurus or a model:
adjacent words joined ("data set" also searches "dataset", "pre-trained" also
"pretrained", "fine tuning" also "finetuning"), the way papers spell the same term."""

from __future__ import annotations

import re
from itertools import pairwise

_WORD = re.compile(r"\w+")
MIN_PART = 2
MAX_JOINED = 24


def expansions(question: str) -> list[str]:
    """The extra search terms, in order, each once."""
    words = [word for word in _WORD.findall(question.lower()) if word.strip("_")]
    seen = set(words)
    extra: list[str] = []
    for first, second in pairwise(words):
        if not (first.isalpha() and second.isalpha()):
            continue
        if min(len(first), len(second)) < MIN_PART:
            continue
        joined = first + second
        if len(joined) <= MAX_JOINED and joined not in seen:
            seen.add(joined)
            extra.append(joined)
    return extra


def expand_query(question: str) -> str:
    """The question followed by its expansions (a keyword index ORs the words together)."""
    extra = expansions(question)
    return f"{question} {' '.join(extra)}" if extra else question
