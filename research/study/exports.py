"""Exports of the study tools: Anki packages, CSV/TSV, Markdown and TimelineJS JSON.

Anki decks are stable: one deck per project with an id derived from the project, and
each note's GUID and id derived from its card, so importing a re-export updates the
notes already imported instead of adding duplicates. The CSV/TSV export carries the same
GUIDs in a `#guid column` header, which Anki's text importer uses the same way.
"""

from __future__ import annotations

import hashlib
import html
import io
import itertools
import json
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import genanki

from research.models import (
    Comparison,
    ComparisonCell,
    Digest,
    Document,
    Flashcard,
    Project,
    TimelineEvent,
)
from research.study.generators.comparisons import NOT_STATED
from research.study.generators.timelines import event_end, event_label, event_start
from workspace.export_text import SpreadsheetWriter
from workspace.export_text import markdown_line as _md_line
from workspace.export_text import markdown_text as _md

BASIC_MODEL_ID = 1_741_202_501  # fixed forever: Anki matches note types by id
CLOZE_MODEL_ID = 1_741_202_502
NOTE_ID_BASE = 1_600_000_000_000  # note ids look like Anki's own (epoch milliseconds)
CARD_CSS = ".card { font-family: system-ui, sans-serif; font-size: 20px; text-align: left; }\n"
CARD_CSS += ".source { margin-top: 1em; font-size: 14px; color: #555; }\n"

BASIC_MODEL = genanki.Model(
    BASIC_MODEL_ID,
    "Carrel basic",
    fields=[{"name": "Front"}, {"name": "Back"}, {"name": "Source"}],
    templates=[
        {
            "name": "Card 1",
            "qfmt": "{{Front}}",
            "afmt": '{{FrontSide}}<hr id="answer">{{Back}}<div class="source">{{Source}}</div>',
        }
    ],
    css=CARD_CSS,
)
CLOZE_MODEL = genanki.Model(
    CLOZE_MODEL_ID,
    "Carrel cloze",
    fields=[{"name": "Text"}, {"name": "Back Extra"}, {"name": "Source"}],
    templates=[
        {
            "name": "Cloze",
            "qfmt": "{{cloze:Text}}",
            "afmt": '{{cloze:Text}}<br>{{Back Extra}}<div class="source">{{Source}}</div>',
        }
    ],
    css=CARD_CSS,
    model_type=genanki.Model.CLOZE,
)


def deck_id_for(project: Project) -> int:
    """A deck id that is the same at every export of this project."""
    digest = hashlib.sha256(f"carrel-deck:{project.pk}".encode()).digest()
    return (1 << 30) + int.from_bytes(digest[:4], "big") % (1 << 30)


def deck_name_for(project: Project) -> str:
    return f"Carrel::{project.title}".replace('"', "'")


def note_guid(project: Project, card: Flashcard) -> str:
    return str(genanki.guid_for("carrel", deck_id_for(project), card.pk))


def note_id(card: Flashcard) -> int:
    return NOTE_ID_BASE + card.pk


class StableNote(genanki.Note):
    """A note whose id (and its cards' ids) come from the card, not the export time."""

    def __init__(self, *, note_id: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.note_id = note_id

    def write_to_db(self, cursor: Any, timestamp: float, deck_id: int, id_gen: Any) -> None:
        ids = itertools.chain([self.note_id], itertools.count(self.note_id * 100))
        super().write_to_db(cursor, timestamp, deck_id, ids)


def _html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _anki_tag(name: str) -> str:
    return "_".join(name.split())


def source_text(card: Flashcard) -> str:
    """ "Title, p. 3" or "Title, pp. 3, 5" (empty for a card without a source)."""
    if card.document is None:
        return ""
    pages = list(card.pages)
    if not pages:
        return card.document.title
    label = "p." if len(pages) == 1 else "pp."
    return f"{card.document.title}, {label} {', '.join(str(p) for p in pages)}"


def _cards(cards: Iterable[Flashcard]) -> list[Flashcard]:
    return list(cards)


def flashcards_apkg(*, project: Project, cards: Iterable[Flashcard]) -> bytes:
    """The project's deck as an .apkg (a zip holding the SQLite collection.anki2)."""
    deck = genanki.Deck(deck_id_for(project), deck_name_for(project))
    for card in _cards(cards):
        cloze = card.kind == Flashcard.Kind.CLOZE
        deck.add_note(
            StableNote(
                note_id=note_id(card),
                model=CLOZE_MODEL if cloze else BASIC_MODEL,
                fields=[_html(card.front), _html(card.back), _html(source_text(card))],
                tags=[_anki_tag(tag.name) for tag in card.tags.all()],
                guid=note_guid(project, card),
            )
        )
    package = genanki.Package(deck)
    out = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="carrel-apkg-") as folder:
        path = Path(folder) / "collection.anki2"
        connection = sqlite3.connect(path)
        try:
            cursor = connection.cursor()
            timestamp = 1_700_000_000.0  # fixed: the same cards give the same package
            package.write_to_db(cursor, timestamp, itertools.count(int(timestamp * 1000)))
            connection.commit()
        finally:
            connection.close()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(path, "collection.anki2")
            archive.writestr("media", "{}")
    return out.getvalue()


ANKI_COLUMNS = ["guid", "notetype", "deck", "tags", "front", "back"]


def flashcards_delimited(
    *, project: Project, cards: Iterable[Flashcard], delimiter: str = ","
) -> str:
    """CSV (or TSV with delimiter="\\t") that Anki's importer reads: its header lines name
    the separator and which columns hold the GUID, note type, deck and tags."""
    out = io.StringIO()
    separator = "Tab" if delimiter == "\t" else "Comma"
    out.write(f"#separator:{separator}\n#html:true\n")
    out.write("#guid column:1\n#notetype column:2\n#deck column:3\n#tags column:4\n")
    out.write("#columns:" + delimiter.join(ANKI_COLUMNS) + "\n")
    writer = SpreadsheetWriter(out, delimiter=delimiter)
    for card in _cards(cards):
        back = _html(card.back)
        source = source_text(card)
        if source:
            back += ("<br>" if back else "") + f'<span class="source">{_html(source)}</span>'
        writer.writerow(
            [
                note_guid(project, card),
                "Cloze" if card.kind == Flashcard.Kind.CLOZE else "Basic",
                deck_name_for(project),
                " ".join(_anki_tag(tag.name) for tag in card.tags.all()),
                _html(card.front),
                back,
            ]
        )
    return out.getvalue()


def flashcards_markdown(*, project: Project, cards: Iterable[Flashcard]) -> str:
    lines = [f"# Flashcards: {_md_line(project.title)}", ""]
    for number, card in enumerate(_cards(cards), start=1):
        lines.append(f"## {number}. {_md_line(card.front)}")
        lines.append("")
        if card.back:
            lines.append(_md(card.back))
            lines.append("")
        meta = []
        source = source_text(card)
        if source:
            meta.append(f"Source: {_md_line(source)}")
        tags = [_md_line(tag.name) for tag in card.tags.all()]
        if tags:
            meta.append("Tags: " + ", ".join(tags))
        if meta:
            lines.append("*" + " · ".join(meta) + "*")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# -- timelines ---------------------------------------------------------------------------


def _event_sources(event: TimelineEvent) -> list[tuple[Document, list[int]]]:
    grouped: dict[int, tuple[Document, list[int]]] = {}
    for source in event.sources.all():
        grouped.setdefault(source.document_id, (source.document, []))[1].append(source.page)
    return list(grouped.values())


def event_sources_text(event: TimelineEvent) -> str:
    parts = []
    for document, pages in _event_sources(event):
        label = "p." if len(pages) == 1 else "pp."
        parts.append(f"{document.title}, {label} {', '.join(str(p) for p in sorted(pages))}")
    return "; ".join(parts)


def _timelinejs_date(year: int, month: int | None, day: int | None) -> dict[str, int]:
    date = {"year": year}
    if month:
        date["month"] = month
        if day:
            date["day"] = day
    return date


def timeline_json(*, project: Project, events: Iterable[TimelineEvent]) -> str:
    """TimelineJS's JSON format: {"title": ..., "events": [{"start_date", "end_date",
    "text": {"headline", "text"}, "display_date", "unique_id"}]}."""
    items = []
    for event in events:
        start = event_start(event)
        item: dict[str, Any] = {
            "start_date": _timelinejs_date(start.year, start.month, start.day),
            "text": {
                "headline": html.escape(event.title),
                "text": _html(event.description)
                + (f"<p>Source: {html.escape(event_sources_text(event))}</p>"),
            },
            "display_date": event_label(event),
            "unique_id": f"carrel-event-{event.pk}",
        }
        end = event_end(event)
        if end is not None:
            item["end_date"] = _timelinejs_date(end.year, end.month, end.day)
        tags = [tag.name for tag in event.tags.all()]
        if tags:
            item["group"] = tags[0]
        items.append(item)
    data = {
        "title": {"text": {"headline": html.escape(project.title), "text": "From Carrel"}},
        "events": items,
    }
    return json.dumps(data, indent=2, ensure_ascii=False)


TIMELINE_COLUMNS = ["start", "end", "precision", "date", "title", "description", "sources", "tags"]


def timeline_csv(*, events: Iterable[TimelineEvent]) -> str:
    out = io.StringIO()
    writer = SpreadsheetWriter(out)
    writer.writerow(TIMELINE_COLUMNS)
    for event in events:
        end = event_end(event)
        writer.writerow(
            [
                event_start(event).iso(),
                end.iso() if end else "",
                event.precision,
                event_label(event),
                event.title,
                event.description,
                event_sources_text(event),
                "; ".join(tag.name for tag in event.tags.all()),
            ]
        )
    return out.getvalue()


def timeline_markdown(*, project: Project, events: Iterable[TimelineEvent]) -> str:
    lines = [f"# Timeline: {_md_line(project.title)}", ""]
    for event in events:
        line = f"- **{event_label(event)}**: {_md_line(event.title)}"
        if event.description:
            line += f". {_md_line(event.description)}"
        sources = event_sources_text(event)
        if sources:
            line += f" ({_md_line(sources)})"
        lines.append(line)
    return "\n".join(lines).rstrip() + "\n"


# -- comparisons ---------------------------------------------------------------------------


def _cell_text(cell: ComparisonCell | None) -> str:
    if cell is None or not cell.text:
        return ""
    if not cell.pages or cell.text.strip() == NOT_STATED:
        return cell.text
    label = "p." if len(cell.pages) == 1 else "pp."
    return f"{cell.text} [{label} {', '.join(str(p) for p in cell.pages)}]"


def comparison_rows(
    *, comparison: Comparison, documents: Sequence[Document], cells: Iterable[ComparisonCell]
) -> list[list[str]]:
    """A header row (aspect, then each paper), then one row per aspect."""
    by_key = {(cell.document_id, cell.aspect): cell for cell in cells}
    rows = [["Aspect", *[document.title for document in documents]]]
    for aspect in comparison.aspects:
        rows.append(
            [aspect, *[_cell_text(by_key.get((document.pk, aspect))) for document in documents]]
        )
    return rows


def comparison_csv(
    *, comparison: Comparison, documents: Sequence[Document], cells: Iterable[ComparisonCell]
) -> str:
    out = io.StringIO()
    writer = SpreadsheetWriter(out)
    writer.writerows(comparison_rows(comparison=comparison, documents=documents, cells=cells))
    return out.getvalue()


def _md_cell(text: str) -> str:
    return _md_line(text).replace("|", "\\|")


def comparison_markdown(
    *, comparison: Comparison, documents: Sequence[Document], cells: Iterable[ComparisonCell]
) -> str:
    rows = comparison_rows(comparison=comparison, documents=documents, cells=cells)
    lines = [f"# {_md_line(comparison.title)}", ""]
    lines.append("| " + " | ".join(_md_cell(text) for text in rows[0]) + " |")
    lines.append("|" + "---|" * len(rows[0]))
    for row in rows[1:]:
        lines.append("| " + " | ".join(_md_cell(text) for text in row) + " |")
    return "\n".join(lines) + "\n"


# -- digests (summaries across documents) -----------------------------------------------


def digest_markdown(*, digest: Digest, documents: Sequence[Document]) -> str:
    lines = [f"# {_md_line(digest.title)}", "", _md(digest.body.strip()), "", "## Documents", ""]
    lines += [f"- {_md_line(document.title)}" for document in documents]
    return "\n".join(lines).rstrip() + "\n"


def document_summary_markdown(*, document: Document) -> str:
    """A document's ingestion summary; its [p. N] citations stay as written."""
    return f"# {_md_line(document.title)}\n\n{_md(document.summary.strip())}\n"
