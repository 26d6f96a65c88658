"""Study exports read back the way other programs read them: the .apkg opened as the zip
and SQLite database it is (as Anki does), TimelineJS JSON parsed, CSV/TSV through the csv
module with Anki's header lines, Markdown as text. Downloaded through the real views."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest

from research.models import Comparison, ComparisonCell, Digest, Document, Flashcard, Project
from research.study import exports
from research.study.generators import flashcards, timelines
from tests.research.study.test_generation import document, study_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(user) -> Project:
    return study_project(user)


@pytest.fixture
def cards(project) -> list[Flashcard]:
    glacier = document(project, "Glacial erosion")
    return [
        flashcards.flashcard_create(
            project=project,
            kind="basic",
            front='What carves "U-shaped", steep valleys?',
            back="Glaciers.\nSlowly.",
            document=glacier,
            pages=[1],
            tags=["ice age", "exam"],
        ),
        flashcards.flashcard_create(
            project=project,
            kind="cloze",
            front="Moraines are ridges of {{c1::till}}.",
            back="",
            document=glacier,
            pages=[1, 2],
        ),
        flashcards.flashcard_create(
            project=project, kind="basic", front="Why study <ice>?", back="Because & so."
        ),
    ]


def download(client, url: str) -> tuple[bytes, Any]:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content, response


# -- Anki ---------------------------------------------------------------------------------------


def open_apkg(data: bytes, tmp_path: Path) -> sqlite3.Connection:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(archive.namelist()) == ["collection.anki2", "media"]
    assert json.loads(archive.read("media")) == {}
    path = tmp_path / f"collection-{len(list(tmp_path.iterdir()))}.anki2"
    path.write_bytes(archive.read("collection.anki2"))
    return sqlite3.connect(path)


def notes_of(db: sqlite3.Connection) -> dict[str, tuple[int, int, list[str], str]]:
    """guid -> (note id, note type id, fields, tags)."""
    return {
        guid: (note_id, model_id, fields.split("\x1f"), tags.strip())
        for note_id, guid, model_id, fields, tags in db.execute(
            "select id, guid, mid, flds, tags from notes"
        )
    }


def test_the_anki_package_is_a_zip_of_a_sqlite_collection_with_one_note_per_card(
    signed_in_client, project, cards, tmp_path
) -> None:
    data, response = download(signed_in_client, f"/research/{project.pk}/flashcards/export/apkg/")
    assert response["Content-Disposition"] == 'attachment; filename="field-notes-flashcards.apkg"'
    db = open_apkg(data, tmp_path)
    notes = notes_of(db)
    basic, cloze, by_hand = cards
    assert notes[exports.note_guid(project, basic)] == (
        exports.NOTE_ID_BASE + basic.pk,
        exports.BASIC_MODEL_ID,
        [
            "What carves &quot;U-shaped&quot;, steep valleys?",
            "Glaciers.<br>Slowly.",
            "Glacial erosion, p. 1",
        ],
        "exam ice_age",
    )
    assert notes[exports.note_guid(project, cloze)][1:] == (
        exports.CLOZE_MODEL_ID,
        ["Moraines are ridges of {{c1::till}}.", "", "Glacial erosion, pp. 1, 2"],
        "",
    )
    assert notes[exports.note_guid(project, by_hand)][2] == [
        "Why study &lt;ice&gt;?",
        "Because &amp; so.",
        "",
    ]
    # One deck per project, named after it; every card in it; both note types present.
    (decks_json, models_json) = db.execute("select decks, models from col").fetchone()
    decks = json.loads(decks_json)
    deck_id = exports.deck_id_for(project)
    assert decks[str(deck_id)]["name"] == "Carrel::Field notes"
    models = json.loads(models_json)
    assert models[str(exports.CLOZE_MODEL_ID)]["type"] == 1  # Anki's cloze note type
    assert models[str(exports.BASIC_MODEL_ID)]["type"] == 0
    assert {did for (did,) in db.execute("select did from cards")} == {deck_id}
    assert db.execute("select count(*) from cards").fetchone() == (3,)


def test_a_re_export_keeps_note_ids_and_guids_so_anki_updates_instead_of_duplicating(
    signed_in_client, project, cards, tmp_path
) -> None:
    url = f"/research/{project.pk}/flashcards/export/apkg/"
    first = notes_of(open_apkg(download(signed_in_client, url)[0], tmp_path))
    basic = cards[0]
    flashcards.flashcard_update(
        card=basic,
        kind="basic",
        front="What carves U-shaped valleys?",
        back="Glaciers.",
        document=basic.document,
        pages=[1],
        tags=["exam"],
    )
    flashcards.flashcard_create(project=project, kind="basic", front="New?", back="Yes.")
    second = notes_of(open_apkg(download(signed_in_client, url)[0], tmp_path))

    assert set(first) < set(second) and len(second) == len(first) + 1
    for guid, (note_id, model_id, _, _) in first.items():
        assert second[guid][:2] == (note_id, model_id)
    guid = exports.note_guid(project, basic)
    assert second[guid][2][:2] == ["What carves U-shaped valleys?", "Glaciers."]
    assert second[guid][3] == "exam"
    # Deck and card ids are stable too.
    assert exports.deck_id_for(project) == exports.deck_id_for(Project.objects.get())


def test_deleted_and_filtered_cards_are_left_out_of_the_export(
    signed_in_client, project, cards, tmp_path
) -> None:
    flashcards.flashcard_delete(card=cards[2])
    url = f"/research/{project.pk}/flashcards/export/apkg/?tag=exam"
    notes = notes_of(open_apkg(download(signed_in_client, url)[0], tmp_path))
    assert list(notes) == [exports.note_guid(project, cards[0])]


# -- CSV, TSV, Markdown ---------------------------------------------------------------------------


def anki_rows(text: str, delimiter: str) -> tuple[dict[str, str], list[list[str]]]:
    headers = dict(line[1:].split(":", 1) for line in text.splitlines() if line.startswith("#"))
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    return headers, list(csv.reader(io.StringIO(body), delimiter=delimiter))


@pytest.mark.parametrize(
    ("fmt", "delimiter", "name"), [("csv", ",", "Comma"), ("tsv", "\t", "Tab")]
)
def test_csv_and_tsv_carry_anki_import_headers_and_the_same_guids(
    signed_in_client, project, cards, fmt, delimiter, name
) -> None:
    data, response = download(signed_in_client, f"/research/{project.pk}/flashcards/export/{fmt}/")
    assert response["Content-Disposition"].endswith(f'-flashcards.{fmt}"')
    headers, rows = anki_rows(data.decode(), delimiter)
    assert headers["separator"] == name
    assert headers["html"] == "true"
    assert headers["guid column"] == "1" and headers["notetype column"] == "2"
    assert headers["deck column"] == "3" and headers["tags column"] == "4"
    assert headers["columns"].split(delimiter) == exports.ANKI_COLUMNS
    assert [row[:4] for row in rows] == [
        [exports.note_guid(project, cards[0]), "Basic", "Carrel::Field notes", "exam ice_age"],
        [exports.note_guid(project, cards[1]), "Cloze", "Carrel::Field notes", ""],
        [exports.note_guid(project, cards[2]), "Basic", "Carrel::Field notes", ""],
    ]
    assert rows[0][4] == "What carves &quot;U-shaped&quot;, steep valleys?"
    assert rows[0][5] == 'Glaciers.<br>Slowly.<br><span class="source">Glacial erosion, p. 1</span>'


def test_the_markdown_export_lists_each_card_with_its_source_and_tags(
    signed_in_client, project, cards
) -> None:
    data, _ = download(signed_in_client, f"/research/{project.pk}/flashcards/export/md/")
    text = data.decode()
    assert text.startswith("# Flashcards: Field notes\n")
    assert '## 1. What carves "U-shaped", steep valleys?\n\nGlaciers.\nSlowly.\n' in text
    assert "*Source: Glacial erosion, p. 1 · Tags: exam, ice age*" in text
    assert "## 2. Moraines are ridges of {{c1::till}}." in text
    # Markdown viewers render raw HTML: a card about <ice> must show the brackets.
    assert "## 3. Why study &lt;ice&gt;?" in text
    assert "<ice>" not in text


def test_an_unknown_export_format_is_not_found(signed_in_client, project) -> None:
    assert signed_in_client.get(f"/research/{project.pk}/flashcards/export/pdf/").status_code == 404
    assert signed_in_client.get(f"/research/{project.pk}/timeline/export/xml/").status_code == 404


# -- timelines ------------------------------------------------------------------------------------


@pytest.fixture
def timeline(project) -> list[Any]:
    history = document(project, "Observatory history")
    save = timelines.event_save
    return [
        save(
            project=project,
            event=None,
            title="Survey <ran>",
            description="A sky survey.",
            start=timelines.When(1990),
            end=timelines.When(1995),
            precision="year",
            tags=["survey"],
            document_id=history.pk,
            pages=[2],
        ),
        save(
            project=project,
            event=None,
            title="First telescope",
            description="",
            start=timelines.When(2001, 3),
            end=None,
            precision="month",
            tags=[],
            document_id=history.pk,
            pages=[1],
        ),
        save(
            project=project,
            event=None,
            title="Caesar crosses the Rubicon",
            description="",
            start=timelines.When(-49, 1, 10),
            end=None,
            precision="day",
            tags=[],
        ),
    ]


def test_the_timelinejs_json_parses_with_dates_at_their_precision(
    signed_in_client, project, timeline
) -> None:
    data, response = download(signed_in_client, f"/research/{project.pk}/timeline/export/json/")
    assert response["Content-Type"] == "application/json"
    parsed = json.loads(data)
    assert parsed["title"]["text"]["headline"] == "Field notes"
    survey, telescope, caesar = timeline
    by_id = {item["unique_id"]: item for item in parsed["events"]}
    assert [item["unique_id"] for item in parsed["events"]] == [
        f"carrel-event-{caesar.pk}",
        f"carrel-event-{survey.pk}",
        f"carrel-event-{telescope.pk}",
    ]
    first = by_id[f"carrel-event-{survey.pk}"]
    assert first["start_date"] == {"year": 1990}
    assert first["end_date"] == {"year": 1995}
    assert first["text"]["headline"] == "Survey &lt;ran&gt;"
    assert first["text"]["text"] == "A sky survey.<p>Source: Observatory history, p. 2</p>"
    assert first["display_date"] == "1990 \u2013 1995"
    assert first["group"] == "survey"
    second = by_id[f"carrel-event-{telescope.pk}"]
    assert second["start_date"] == {"year": 2001, "month": 3}
    assert "end_date" not in second
    assert by_id[f"carrel-event-{caesar.pk}"]["start_date"] == {"year": -49, "month": 1, "day": 10}
    assert by_id[f"carrel-event-{caesar.pk}"]["display_date"] == "10 Jan 49 BCE"


def test_the_timeline_csv_and_markdown_list_every_event_with_its_sources(
    signed_in_client, project, timeline
) -> None:
    data, _ = download(signed_in_client, f"/research/{project.pk}/timeline/export/csv/")
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert [(r["start"], r["end"], r["precision"], r["title"]) for r in rows] == [
        ("'-0049-01-10", "", "day", "Caesar crosses the Rubicon"),  # text, not a sum
        ("1990", "1995", "year", "Survey <ran>"),
        ("2001-03", "", "month", "First telescope"),
    ]
    assert rows[1]["sources"] == "Observatory history, p. 2" and rows[1]["tags"] == "survey"
    data, _ = download(signed_in_client, f"/research/{project.pk}/timeline/export/md/")
    assert data.decode().splitlines() == [
        "# Timeline: Field notes",
        "",
        "- **10 Jan 49 BCE**: Caesar crosses the Rubicon",
        "- **1990 \u2013 1995**: Survey &lt;ran&gt;. A sky survey. (Observatory history, p. 2)",
        "- **Mar 2001**: First telescope (Observatory history, p. 1)",
    ]
    filtered, _ = download(
        signed_in_client, f"/research/{project.pk}/timeline/export/csv/?tag=survey"
    )
    assert len(list(csv.DictReader(io.StringIO(filtered.decode())))) == 1


# -- comparisons and summaries ---------------------------------------------------------------------


@pytest.fixture
def comparison(project) -> Comparison:
    glacier, bees = document(project, "Glacial erosion"), document(project, "Bee behaviour")
    table = Comparison.objects.create(
        project=project,
        title="Ice | bees",
        document_ids=[glacier.pk, bees.pk],
        aspects=["Method", "Limitations"],
    )
    ComparisonCell.objects.create(
        comparison=table, document=glacier, aspect="Method", text="Field work,\nin ice.", pages=[1]
    )
    ComparisonCell.objects.create(
        comparison=table, document=bees, aspect="Method", text="Hive | lab.", pages=[1, 2]
    )
    ComparisonCell.objects.create(
        comparison=table, document=glacier, aspect="Limitations", text="Not stated.", pages=[]
    )
    return table


def test_a_comparison_exports_to_csv_and_a_markdown_table_with_cited_pages(
    signed_in_client, comparison
) -> None:
    data, response = download(
        signed_in_client, f"/research/comparisons/{comparison.pk}/export/csv/"
    )
    assert response["Content-Disposition"] == 'attachment; filename="ice-bees.csv"'
    assert list(csv.reader(io.StringIO(data.decode()))) == [
        ["Aspect", "Glacial erosion", "Bee behaviour"],
        ["Method", "Field work,\nin ice. [p. 1]", "Hive | lab. [pp. 1, 2]"],
        ["Limitations", "Not stated.", ""],
    ]
    data, _ = download(signed_in_client, f"/research/comparisons/{comparison.pk}/export/md/")
    assert data.decode().splitlines() == [
        "# Ice | bees",
        "",
        "| Aspect | Glacial erosion | Bee behaviour |",
        "|---|---|---|",
        "| Method | Field work, in ice. [p. 1] | Hive \\| lab. [pp. 1, 2] |",
        "| Limitations | Not stated. |  |",
    ]


def test_summaries_export_to_markdown(signed_in_client, project) -> None:
    glacier = document(project, "Glacial erosion")
    digest = Digest.objects.create(
        project=project,
        title="Ice",
        document_ids=[glacier.pk],
        body="Glaciers carve. [Glacial erosion, p. 1]",
    )
    data, response = download(signed_in_client, f"/research/digests/{digest.pk}/export/")
    assert response["Content-Disposition"] == 'attachment; filename="ice.md"'
    assert data.decode() == (
        "# Ice\n\nGlaciers carve. [Glacial erosion, p. 1]\n\n## Documents\n\n- Glacial erosion\n"
    )
    data, _ = download(signed_in_client, f"/research/documents/{glacier.pk}/summary/export/")
    assert data.decode() == f"# Glacial erosion\n\n{glacier.summary}\n"
    assert isinstance(glacier, Document)
