"""The structure of an uploaded Markdown file: its headings and its front-matter title.

Headings are found by CommonMark's rules through markdown-it-py (block rules only: ATX
headings, fenced and indented code, paragraphs), so a `#` line inside a code fence is not
a heading. No regular expression runs on the upload: a hostile line costs time linear in
its length, and every line is cut to MAX_LINE_CHARS before it is parsed (a heading longer
than that is still found; its text is cut).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt

MAX_LINE_CHARS = 1000


@dataclass(frozen=True)
class Heading:
    line: int  # 0-based index into the lines parsed
    level: int
    text: str


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    parser = MarkdownIt("zero").enable(["heading", "fence", "code"])
    parser.disable("inline")  # the heading's raw text is all we need
    return parser


def markdown_headings(lines: Sequence[str]) -> list[Heading]:
    """The ATX headings (`# Title`) among lines, in order; empty headings are skipped."""
    source = "\n".join(line[:MAX_LINE_CHARS] for line in lines)
    tokens = _parser().parse(source)
    headings: list[Heading] = []
    for token, inline in itertools.pairwise(tokens):
        if token.type != "heading_open" or token.map is None:
            continue
        text = " ".join(inline.content.split())
        if text:
            headings.append(Heading(line=token.map[0], level=int(token.tag[1:]), text=text))
    return headings


def front_matter_title(line: str) -> str | None:
    """The value of a `title:` line of YAML front matter, without its quotes."""
    key, colon, value = line[:MAX_LINE_CHARS].partition(":")
    if not colon or key.casefold() != "title":
        return None
    value = value.strip()
    if value[:1] in ("'", '"'):
        value = value[1:]
    if value[-1:] in ("'", '"'):
        value = value[:-1]
    return value.strip() or None
