"""One person's whole day with Carrel, in Debian's Chromium, against real processes.

The live server answers the browser; a real `celery worker` process on the test Redis and
the test database (a file for SQLite, the test database for PostgreSQL) ingests the upload
and makes the flashcards, and answers the question (streamed to the page through Redis).
Model calls made in the web process (the campaign's turns) use the scripted runtime; the
worker's model is the fake Ollama server (tests/fakes/ollama_server.py), which fills
whatever JSON schema it is sent, because the scripted runtime's echo cannot, and answers a
research question as the scripted echo would. Every main page is saved as a full-page screenshot in
test-artifacts/screenshots/e2e-*.png for a person to look at.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from research.models import Document, Flashcard, Question
from research.qa.services import QA_RULES
from stories.models import Campaign
from stories.scripting import StoryScript
from tests.browser.fixtures import sign_in
from tests.fakes.ollama_server import FakeOllama
from tests.stories.inline import tasks_run_inline
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime
from workspace.runtime.types import Message

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow]

PAPER = "pdflatex-4-pages.pdf"
INGEST_TIMEOUT_MS = 120_000
JOB_TIMEOUT_MS = 90_000


# -- the worker's model: a fake Ollama that answers any JSON schema with a valid instance ----


WORDING = {
    "question": "What does the sample say about point {number}?",
    "answer": "Point {number}, as the page states.",
}


def schema_example(
    schema: dict[str, Any], root: dict[str, Any], counter: Iterator[int], name: str = ""
) -> Any:
    """A value that validates against a (pydantic-made) JSON schema: the first enum value,
    a list three long when allowed, and numbered strings worded after their property."""
    if "$ref" in schema:
        return schema_example(root["$defs"][schema["$ref"].rsplit("/", 1)[-1]], root, counter, name)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return schema_example(options[0], root, counter, name)
    if "allOf" in schema:
        return schema_example(schema["allOf"][0], root, counter, name)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        return {
            key: schema_example(prop, root, counter, key)
            for key, prop in (schema.get("properties") or {}).items()
        }
    if kind == "array":
        low, high = schema.get("minItems", 0), schema.get("maxItems", 3)
        return [
            schema_example(schema.get("items") or {}, root, counter, name)
            for _ in range(min(max(low, 3), high))
        ]
    if kind == "integer":
        return int(schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    number = next(counter)
    text = WORDING.get(name, "{name} {number}").format(name=name or "text", number=number)
    return text[: schema.get("maxLength", len(text))].ljust(schema.get("minLength", 0), ".")


def fake_model_reply(body: dict[str, Any]) -> str:
    schema = body.get("format")
    if isinstance(schema, dict):
        numbers = iter(range(1, 10_000))
        return json.dumps(schema_example(schema, schema, numbers))
    messages = [Message(m["role"], m.get("content", "")) for m in body.get("messages", [])]
    if messages and messages[0].content.startswith(QA_RULES):
        # a research question: quote it and cite the first page marker, as the echo does
        return ScriptedRuntime.echo().chat(messages).text
    return "The authors describe a four-page sample document typeset with pdfLaTeX."


@pytest.fixture
def worker_model() -> Iterator[FakeOllama]:
    fake = FakeOllama()
    fake.add_model(settings.OLLAMA_MODEL)
    fake.reply = fake_model_reply
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


# -- checks on the downloaded exports -----------------------------------------------------------


def apkg_fronts(path: Path) -> list[str]:
    """The first field of every note in an Anki package (a zip holding a SQLite file)."""
    with zipfile.ZipFile(path) as archive:
        assert "collection.anki2" in archive.namelist(), archive.namelist()
        data = archive.read("collection.anki2")
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "collection.anki2"
        database.write_bytes(data)
        connection = sqlite3.connect(database)
        try:
            rows = connection.execute("SELECT flds FROM notes ORDER BY id").fetchall()
        finally:
            connection.close()
    return [flds.split("\x1f")[0] for (flds,) in rows]


def csv_fronts(path: Path) -> list[str]:
    """The front column of an Anki-importable CSV (its header lines start with #)."""
    text = path.read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    rows = list(csv.reader(io.StringIO(body)))
    assert rows and all(len(row) == 6 for row in rows), rows
    return [row[4] for row in rows]


def download(page: Page, link_name: str, folder: Path) -> Path:
    with page.expect_download() as info:
        page.get_by_role("link", name=link_name).click()
    saved = folder / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.stat().st_size > 0, f"{link_name} is empty"
    return saved


# -- the campaign's dungeon master ------------------------------------------------------------


def story_script() -> StoryScript:
    script = StoryScript()
    script.add(
        "Ada steps off the ferry at the Harbor, where gulls wheel over the fish stalls.",
        [
            {"kind": "create", "entity_kind": "location", "name": "Harbor"},
            {"kind": "create", "entity_kind": "character", "name": "Ada", "location": "Harbor"},
            {"kind": "clock", "minutes": 10},
        ],
    )
    script.add(
        "A fishwife sells Ada a battered lantern for a song.",
        [
            {"kind": "create", "entity_kind": "item", "name": "Lantern"},
            {"kind": "transfer", "item": "Lantern", "to_holder": "Ada"},
            {"kind": "clock", "minutes": 20},
        ],
    )
    script.add(
        "Ada climbs the steep lane up to the Market as the bells ring noon.",
        [
            {"kind": "create", "entity_kind": "location", "name": "Market"},
            {"kind": "connect", "a": "Harbor", "b": "Market"},
            {"kind": "move", "entity": "Ada", "to": "Market"},
            {"kind": "clock", "minutes": 30},
        ],
    )
    return script


def play_turn(page: Page, action: str, narration: str, clock: str) -> None:
    page.get_by_label("What do you do?").fill(action)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("story").get_by_text(narration)).to_be_visible()
    expect(page.locator("#world-panel").get_by_test_id("clock")).to_have_text(clock)
    expect(page.get_by_label("What do you do?")).to_have_value("")


# -- the journey --------------------------------------------------------------------------------


def test_a_researcher_uploads_asks_studies_and_plays_a_campaign_in_a_real_browser(
    page: Page,
    page_log,
    user,
    shared_data,
    celery_worker_factory,
    worker_model,
    screenshot,
    tmp_path,
):
    def shoot(name: str) -> None:
        """A full-page screenshot from the top, so sticky panes sit where a reader sees them."""
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, name)

    # Sign in through the real form; the workspace starts empty.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    shoot("e2e-01-sign-in")
    sign_in(page, username=user.get_username())
    expect(page.get_by_role("heading", name="Your workspace")).to_be_visible()
    shoot("e2e-02-home-empty")

    # A research project.
    page.get_by_role("link", name="Start a research project").click()
    page.get_by_label("Title").fill("Typesetting samples")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name="Typesetting samples", level=1)).to_be_visible()

    # Upload a real PDF. No worker runs yet, so the card waits in the queue, polling.
    page.get_by_label("Files").set_input_files(shared_data / "papers" / PAPER)
    page.get_by_role("button", name="Upload").click()
    card = page.get_by_test_id("document-card")
    expect(card).to_have_count(1)
    expect(card.get_by_role("progressbar")).to_be_visible()
    shoot("e2e-03-project-uploading")

    # A real worker picks it up; the card's progress bar runs to the end without a reload.
    # A mark on the window survives only if the page is never reloaded.
    page.evaluate("window.carrelNeverReloaded = true")
    # It consumes every queue (ingestion, summaries, study generation). One process: two
    # would race on the fake's KV cache, and the Ollama runtime reports the reuse of a
    # prefix recorded by a request still in flight as truncation (reported separately).
    worker = celery_worker_factory(
        concurrency=1, env={"CARREL_BACKEND": "ollama", "OLLAMA_HOST": worker_model.url}
    )
    finished = re.compile(f"^({'|'.join(Document.FINISHED_STAGES)})$")
    expect(card).to_have_attribute("data-stage", finished, timeout=INGEST_TIMEOUT_MS)
    document = Document.objects.get()
    assert document.stage == Document.Stage.READY, (document.error, worker.log.read_text())
    expect(card.get_by_role("progressbar")).to_have_count(0)
    expect(card.get_by_test_id("page-count")).to_have_text("4 pages")
    polls = [url for url in page_log.requests if url.endswith(f"/{document.pk}/progress/")]
    # htmx swapped the card in place. How many polls that took depends on how fast the worker
    # was (one, if it finished within the first 2 s), so the test asks for one and no reload.
    assert len(polls) >= 1, polls
    assert page.evaluate("window.carrelNeverReloaded === true")
    assert document.chunk_count > 0 and document.summary
    shoot("e2e-04-project")

    # The document and its pages.
    card.get_by_role("link", name=document.title).click()
    expect(page.get_by_role("heading", name=document.title, level=1)).to_be_visible()
    shoot("e2e-05-document")

    # Ask a question: the worker's answer streams in over SSE, with a citation.
    page.goto(f"/research/{document.project_id}/")
    page.get_by_role("link", name="Ask a question").first.click()
    # A click resolves once the new page is parsed, before htmx has bound its forms; asking
    # then would post without JavaScript and the worker (the fake Ollama) would answer.
    page.wait_for_url(f"**/research/{document.project_id}/ask/", wait_until="load")
    page.get_by_label("Your question").fill("What is this sample document about?")
    page.get_by_role("button", name="Ask").click()
    answer = page.get_by_test_id("answer")
    expect(answer).to_contain_text("Scripted answer to: What is this sample document about?")
    expect(page.get_by_test_id("answer-stream")).to_have_count(0)
    question = Question.objects.get()
    assert question.status == Question.Status.DONE
    assert any(f"/questions/{question.pk}/stream/" in url for url in page_log.requests)
    cite = answer.locator("a.cite").first
    expect(cite).to_have_text(re.compile(r"^\[.+, p\. \d+\]$"))
    shoot("e2e-06-qa-thread")

    # What the model saw.
    page.get_by_test_id("context-map-link").click()
    expect(page.get_by_role("heading", name="What the model saw")).to_be_visible()
    shoot("e2e-07-context-map")
    page.go_back()

    # The citation opens the reading view with the cited passage highlighted.
    page.get_by_test_id("answer").locator("a.cite").first.click()
    expect(page.get_by_test_id("page-body")).to_be_visible()
    expect(page.locator("mark.cited").first).to_be_visible()
    shoot("e2e-08-reading-view")

    # Flashcards: generated by the worker, then exported as an Anki deck and as CSV.
    page.goto(f"/research/{document.project_id}/flashcards/")
    page.get_by_role("button", name="Generate", exact=True).click()
    cards = page.get_by_test_id("flashcard")
    expect(cards.first).to_be_visible(timeout=JOB_TIMEOUT_MS)
    made = list(Flashcard.objects.order_by("pk").values_list("front", flat=True))
    assert made, worker.log.read_text()
    expect(cards).to_have_count(len(made))
    expect(cards.first.get_by_test_id("card-source")).to_contain_text("p. ")
    shoot("e2e-09-flashcards")
    assert sorted(apkg_fronts(download(page, "Anki deck (.apkg)", tmp_path))) == sorted(made)
    assert sorted(csv_fronts(download(page, "CSV", tmp_path))) == sorted(made)

    # Review one card.
    page.get_by_role("link", name=re.compile(r"^Review \d+ due")).click()
    due = page.get_by_test_id("due-now")
    expect(due).to_have_text(f"{len(made)} card{'s' if len(made) != 1 else ''} due")
    expect(page.get_by_test_id("review-front")).to_be_visible()
    shoot("e2e-10-review")
    page.get_by_test_id("show-answer").click()
    page.get_by_test_id("grade-3").click()
    if len(made) > 1:
        expect(due).to_have_text(f"{len(made) - 1} card{'s' if len(made) != 2 else ''} due")
    assert Flashcard.objects.filter(reps__gt=0).count() == 1

    # The project's timeline page.
    page.goto(f"/research/{document.project_id}/timeline/")
    expect(page.get_by_role("heading", name="Timeline", level=1)).to_be_visible()
    shoot("e2e-11-timeline")

    # A campaign: three turns stream in, then the last one is undone. Each turn is a task;
    # here it runs inline in the live server (with the scripted dungeon master) instead of
    # on the worker, whose model is the fake Ollama (tests/stories/turns test the worker).
    with use_runtime(ScriptedRuntime(story_script())), tasks_run_inline():
        page.goto("/")
        page.get_by_role("link", name="Start a campaign").click()
        page.get_by_label("Title").fill("The Harbor Town")
        page.get_by_label("Premise").fill("A traveller arrives in a harbor town.")
        page.get_by_role("button", name="Create campaign").click()
        expect(page.get_by_role("heading", name="The Harbor Town", level=1)).to_be_visible()
        page.wait_for_load_state("load")  # htmx has bound the turn form (see asking above)
        play_turn(page, "I step off the ferry.", "gulls wheel over the fish stalls", "Day 1, 00:10")
        play_turn(page, "I buy a lantern.", "sells Ada a battered lantern", "Day 1, 00:30")
        play_turn(page, "I climb up to the market.", "as the bells ring noon", "Day 1, 01:00")
        changes = page.get_by_test_id("story").get_by_test_id("changes").last
        expect(changes.get_by_text("Ada moved from Harbor to Market")).to_be_visible()
        shoot("e2e-12-campaign")

        page.get_by_role("button", name="Undo turn 3").click()
        expect(page.get_by_text("Undid 1 turn")).to_be_visible()
        expect(page.locator("#world-panel").get_by_test_id("clock")).to_have_text("Day 1, 00:30")
        campaign = Campaign.objects.get()
        assert campaign.head_turn == 2
        page.goto(f"/stories/{campaign.pk}/timeline/")
        expect(page.get_by_test_id("timeline-row").first).to_contain_text("undone")
        shoot("e2e-13-campaign-timeline")

    # The status page sees the worker (its name is for staff); home lists both.
    page.goto("/status/")
    expect(page.get_by_role("heading", name="Status", level=1)).to_be_visible()
    expect(page.get_by_test_id("workers")).to_have_text("up")
    shoot("e2e-14-status")
    page.goto("/")
    expect(page.get_by_test_id("projects")).to_contain_text("Typesetting samples")
    expect(page.get_by_test_id("campaigns")).to_contain_text("The Harbor Town")
    shoot("e2e-15-home")
