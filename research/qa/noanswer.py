"""Telling an answer that says the excerpts did not hold the answer ("The sources do not
contain ..."), so the page can offer to read the whole library instead.

Conservative on purpose: the offer shows only when the answer cites no page the model saw,
and one of its first sentences both denies ("do not contain", "no information", "could not
find" ...) and names what was read ("sources", "excerpts", "documents", "context" ...). An
answer that found something and only adds "the sources do not say more" cites a page, and
gets no offer. Plain substring tests on a normalised copy of the text: no pattern runs on
the model's words.
"""

from __future__ import annotations

from collections.abc import Iterable

from research.citations import Citation

# Only the opening of an answer is read: a refusal comes first.
SENTENCES_READ = 3
CHARACTERS_READ = 1200

DENIALS = (
    "not contain",
    "n't contain",
    "not mention",
    "n't mention",
    "not say",
    "n't say",
    "not provide",
    "n't provide",
    "not include",
    "n't include",
    "not discuss",
    "n't discuss",
    "not address",
    "n't address",
    "not cover",
    "n't cover",
    "not state",
    "n't state",
    "not specify",
    "n't specify",
    "no information",
    "no mention",
    "nothing about",
    "not mentioned",
    "not found",
    "not enough information",
    "insufficient information",
    "cannot find",
    "can't find",
    "could not find",
    "couldn't find",
    "unable to find",
    "cannot answer",
    "can't answer",
    "cannot be answered",
    "cannot determine",
    "not possible to answer",
)
READ_MATERIAL = (
    "source",
    "excerpt",
    "document",
    "context",
    "passage",
    "provided",
    "given text",
    "the text",
    "these notes",
    "the notes",
    "paper",
    "library",
)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_ENDS = ".!?\n"


def _sentences(text: str) -> Iterable[str]:
    sentence: list[str] = []
    for character in text:
        sentence.append(character)
        if character in _ENDS:
            yield "".join(sentence)
            sentence = []
    if sentence:
        yield "".join(sentence)


def answer_says_not_found(text: str, citations: Iterable[Citation]) -> bool:
    """Whether the answer says the material it was given did not hold the answer (and
    cites no page it saw)."""
    if any(not citation.flagged for citation in citations):
        return False
    opening = " ".join(text[:CHARACTERS_READ].translate(_APOSTROPHES).lower().split())
    read = 0
    for sentence in _sentences(opening):
        if not sentence.strip(_ENDS + " "):
            continue
        if any(denial in sentence for denial in DENIALS) and any(
            material in sentence for material in READ_MATERIAL
        ):
            return True
        read += 1
        if read >= SENTENCES_READ:
            return False
    return False
