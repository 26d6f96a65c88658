"""Text that goes into files people download: spreadsheet cells and Markdown.

Exports carry text from documents, people and the model. A CSV or TSV cell that starts with
`=`, `+`, `-`, `@`, a tab or a carriage return is a formula to a spreadsheet, so such a
cell gets a leading `'` (OWASP's advice on CSV injection); Markdown gets `<`, `>` and `&` as
entities, so a viewer shows `<script>` instead of running raw HTML. Every CSV/TSV and
Markdown export in research/ and stories/ goes through these helpers.
"""

from __future__ import annotations

import csv
import html
from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def spreadsheet_cell(value: Any) -> Any:
    """The value, with a leading `'` when it is text a spreadsheet would run as a formula,
    and its carriage returns as newlines (the csv module quotes a cell with a newline, but
    not one with a lone carriage return, which readers take for the end of the row).
    Numbers are left alone: they are numbers, not formulas."""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_STARTS):
        value = "'" + value
    return value.replace("\r\n", "\n").replace("\r", "\n")


class SpreadsheetWriter:
    """csv.writer whose rows are neutralised cell by cell (lines end with \\n)."""

    def __init__(self, out: _Writable, *, delimiter: str = ",") -> None:
        self._writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([spreadsheet_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def markdown_text(text: str) -> str:
    """Text for a Markdown file: `<`, `>` and `&` as entities, so a card about `<ice>` or a
    model that wrote `<script>` shows the characters instead of raw HTML in a viewer."""
    return html.escape(text, quote=False)


def markdown_line(text: str) -> str:
    """One-line Markdown text (a heading or list item): whitespace runs become one space."""
    return markdown_text(" ".join(text.split()))
