"""Sentences of document text, found in one pass over its words (no regular expression).

Used where Carrel quotes a document itself: the passages answer (research/qa/passages.py)
and the study tools' cards and events made from the text (research/study/generators/
from_text.py). Text from PDFs is hard-wrapped and hyphenated at line ends, and full of
abbreviations ("e.g.", "Fig. 3", "et al.") and initials; the rules here are plain: a
sentence ends at a blank line, or after a word ending in `.`, `!` or `?` (closing quotes
and brackets after it allowed) when the next word starts with a capital, a digit or an
opening quote or bracket, unless the word is a known abbreviation or an initial. Every step
looks at each character a bounded number of times, so hostile text stays linear.
"""

from __future__ import annotations

from collections.abc import Iterator

MAX_SENTENCE_WORDS = 120  # a longer run (a table, a reference list) is cut here
TERMINATORS = frozenset(".!?")
CLOSERS = frozenset("\"')]»\u201d\u2019")
OPENERS = frozenset("\"'([«\u201c\u2018")
PUNCTUATION = ".,;:!?\"'()[]{}«»„\u201c\u201d\u2018\u2019"
# Words that end in a full stop without ending a sentence (lowercase, without the stop).
ABBREVIATIONS = frozenset(
    """al approx ca cf ch dept dr eq eqs fig figs inc jr ltd mr mrs ms pp prof ref refs resp
    sec sect sr st tab vol vols vs viz""".split()  # noqa: SIM905
)


def _joined_lines(paragraph: str) -> str:
    """A paragraph's lines as one line; a word hyphenated at a line end is joined again
    ("exam-" + "ple" gives "example") when the next line starts in lowercase."""
    out: list[str] = []
    for raw in paragraph.split("\n"):
        line = raw.strip()
        if not line:
            continue
        last = out[-1] if out else ""
        hyphenated = last.endswith("-") and len(last) > 1 and last[-2].isalpha()
        if hyphenated and line[0].islower():
            out[-1] = last[:-1]  # the halves meet without a space (joined below)
            out.append("\0" + line)
            continue
        out.append(line)
    return " ".join(out).replace(" \0", "")


def _ends_sentence(word: str, following: str) -> bool:
    """Whether `word` closes a sentence, given the word after it."""
    end = len(word)
    while end > 0 and word[end - 1] in CLOSERS:
        end -= 1
    if end == 0 or word[end - 1] not in TERMINATORS:
        return False
    if word[end - 1] == ".":
        stem = word[: end - 1].lstrip("".join(OPENERS)).lower()
        if stem in ABBREVIATIONS:
            return False
        if len(stem) == 1 and stem.isalpha():  # an initial: "J. Smith"
            return False
        if "." in stem and len(stem) <= 6 and all(part.isalpha() for part in stem.split(".")):
            return False  # "e.g", "U.S", "i.e"
    first = following[:1]
    return first.isupper() or first.isdigit() or first in OPENERS


def paragraph_sentences(paragraph: str) -> Iterator[str]:
    """The sentences of one paragraph, each with its words joined by single spaces."""
    words = _joined_lines(paragraph).split()
    current: list[str] = []
    for index, word in enumerate(words):
        current.append(word)
        following = words[index + 1] if index + 1 < len(words) else ""
        if not following or _ends_sentence(word, following) or len(current) >= MAX_SENTENCE_WORDS:
            yield " ".join(current)
            current = []


def sentences(text: str) -> list[str]:
    """Every sentence of the text in reading order; blank lines always end one."""
    found: list[str] = []
    for paragraph in text.split("\n\n"):
        found.extend(paragraph_sentences(paragraph))
    return found
