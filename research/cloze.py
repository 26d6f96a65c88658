"""Anki cloze deletions in card text: `{{c1::answer}}` or `{{c1::answer::hint}}`.

Read with a scan in one pass rather than a regular expression: card text comes from the
model and from people, and a lazy pattern over it backtracks quadratically on an opening
`{{c1::` that never closes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

_OPEN = "{{c"
_CLOSE = "}}"
_SEPARATOR = "::"


@dataclass(frozen=True)
class Deletion:
    start: int  # span of the whole `{{c1::...}}` in the text
    end: int
    answer: str
    hint: str  # "" when there is none


def _body_start(text: str, at: int) -> int | None:
    """Where the answer begins, if text[at:] opens a deletion (`{{c` digits `::`)."""
    digits = at + len(_OPEN)
    end = digits
    while end < len(text) and text[end].isdecimal():
        end += 1
    if end == digits or not text.startswith(_SEPARATOR, end):
        return None
    return end + len(_SEPARATOR)


def cloze_deletions(text: str) -> list[Deletion]:
    """Every deletion, left to right. A deletion ends at the first `}}` after its answer
    (at least one character); a `::` before that, with room for a hint, starts the hint."""
    found: list[Deletion] = []
    position = 0
    while (at := text.find(_OPEN, position)) != -1:
        body = _body_start(text, at)
        if body is None:
            position = at + 1
            continue
        close = text.find(_CLOSE, body + 1)
        if close == -1:
            break  # no later opening can close either
        separator = text.find(_SEPARATOR, body + 1, close - 1)
        if separator == -1:
            answer, hint = text[body:close], ""
        else:
            answer, hint = text[body:separator], text[separator + len(_SEPARATOR) : close]
        found.append(Deletion(at, close + len(_CLOSE), answer, hint))
        position = close + len(_CLOSE)
    return found


def has_cloze(text: str) -> bool:
    return bool(cloze_deletions(text))


def cloze_replace(text: str, replacement: Callable[[Deletion], str]) -> str:
    """The text with each deletion replaced by `replacement(deletion)`."""
    pieces: list[str] = []
    position = 0
    for deletion in cloze_deletions(text):
        pieces += [text[position : deletion.start], replacement(deletion)]
        position = deletion.end
    pieces.append(text[position:])
    return "".join(pieces)
