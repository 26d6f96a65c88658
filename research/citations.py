"""Citations in answers: parse `[Title, p. 7]` markers and check each against the context map.

A citation is flagged when it does not point at a page the model actually saw: an unknown
title, a page that was not packed, or a source that was packed only as a summary.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass
from typing import Any

from workspace.packing import ContextMap

# [Title, p. 7] [Title, pp. 7-9] [Title, page 7] [A, p. 3; B, p. 5]
_BRACKET = re.compile(r"\[([^\[\]\n]{1,400})\]")
_PAGE_WORDS = ("pp.", "p.", "pages", "page")  # longest first
_RANGE_WORDS = ("-", "\u2013", "\u2014", "to")
_NON_WORD = re.compile(r"[\W_]+")


@dataclass
class Citation:
    start: int  # span of the whole bracket in the answer text
    end: int
    raw: str  # the citation as written, e.g. "Paper title, p. 7"
    title: str
    page_start: int
    page_end: int
    source_id: int | None = None
    flagged: bool = False
    problem: str = ""
    passage: str = ""  # the sentence of the cited page that best matches the claim
    passage_page: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def label(self) -> str:
        return f"[{self.raw}]"


def parse_citations(text: str) -> list[Citation]:
    """Every page citation in text, in order (several per bracket when split by ';')."""
    citations: list[Citation] = []
    for bracket in _BRACKET.finditer(text):
        for part in bracket.group(1).split(";"):
            parsed = _citation_part(part)
            if parsed is None:
                continue
            title, start, end = parsed
            citations.append(
                Citation(
                    start=bracket.start(),
                    end=bracket.end(),
                    raw=part.strip(),
                    title=title,
                    page_start=start,
                    page_end=max(start, end),
                )
            )
    return citations


def _number(text: str) -> tuple[int, str] | None:
    """A page number (1 to 5 digits) at the start of text, and what follows it."""
    digits = 0
    while digits < len(text) and digits <= 5 and text[digits].isdecimal():
        digits += 1
    if not 1 <= digits <= 5:
        return None
    return int(text[:digits]), text[digits:].lstrip()


def _citation_part(part: str) -> tuple[str, int, int] | None:
    """ "Title, p. 7" or "Title, pp. 7-9" (also "page", "pages", an en or em dash, "to") as
    (title, first page, last page); None for anything else. The pages follow the last
    comma, so a title may hold commas."""
    title, comma, pages = part.rpartition(",")
    if not comma or not title:
        return None
    pages = pages.strip()
    word = next((w for w in _PAGE_WORDS if pages[: len(w)].casefold() == w), None)
    if word is None:
        return None
    first = _number(pages[len(word) :].lstrip())
    if first is None:
        return None
    start, rest = first
    end = start
    if rest:
        dash = next((w for w in _RANGE_WORDS if rest[: len(w)].casefold() == w), None)
        last = _number(rest[len(dash) :].lstrip()) if dash else None
        if last is None or last[1]:
            return None
        end = last[0]
    return title.strip(), start, end


def normalise_title(title: str) -> str:
    return _NON_WORD.sub(" ", title.casefold().replace("…", " ")).strip()


def match_title(title: str, titles: dict[int, str]) -> int | None:
    """The id of the source a cited title names: exact, then prefix (titles are shortened
    in markers), then a close spelling."""
    wanted = normalise_title(title)
    if not wanted:
        return None
    normalised = {source_id: normalise_title(name) for source_id, name in titles.items()}
    exact = [source_id for source_id, name in normalised.items() if name == wanted]
    if exact:
        return exact[0]
    prefixed = [
        source_id
        for source_id, name in normalised.items()
        if len(wanted) >= 12 and (name.startswith(wanted) or wanted.startswith(name))
    ]
    if len(prefixed) == 1:
        return prefixed[0]
    close = difflib.get_close_matches(wanted, list(normalised.values()), n=1, cutoff=0.85)
    if close:
        return next(source_id for source_id, name in normalised.items() if name == close[0])
    return None


def check_citations(text: str, context_map: ContextMap) -> list[Citation]:
    """Parse the answer's citations and flag those that do not point at a packed page."""
    titles = context_map.seen_titles()
    pages = context_map.seen_pages()
    citations = parse_citations(text)
    for citation in citations:
        source_id = match_title(citation.title, titles)
        citation.source_id = source_id
        if source_id is None:
            citation.flagged = True
            citation.problem = "No source with this title was in the context."
            continue
        seen = pages.get(source_id, set())
        cited = set(range(citation.page_start, citation.page_end + 1))
        if not seen:
            citation.flagged = True
            citation.problem = "Only this source's summary was in the context, not its pages."
        elif not cited & seen:
            citation.flagged = True
            label = "Pages" if len(cited) > 1 else "Page"
            citation.problem = f"{label} {_pages(citation)} of this source was not in the context."
    return citations


def _pages(citation: Citation) -> str:
    if citation.page_end > citation.page_start:
        return f"{citation.page_start}-{citation.page_end}"
    return str(citation.page_start)


def citations_from_json(data: list[dict[str, Any]]) -> list[Citation]:
    return [Citation(**item) for item in data]
