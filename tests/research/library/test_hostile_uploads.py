"""Hostile and odd uploads through the real pipeline: text parsed once, page and section caps
with a message, and short real text kept with a warning instead of refused."""

from __future__ import annotations

import pytest

from research.library import extraction
from research.models import Document, ExtractionPart
from tests.hostile import (
    many_heading_markdown,
    many_line_text,
    pathological_markdown,
    text_pdf,
)
from tests.research.ingest_support import blank_pdf, by_name, file_from, file_of, upload

pytest_plugins = ["tests.research.ingest_fixtures"]  # fixtures: eager_celery, project
pytestmark = pytest.mark.django_db

Stage = Document.Stage
ErrorCode = Document.ErrorCode


@pytest.fixture
def ingest(eager_celery, project, user, django_capture_on_commit_callbacks):
    def run(*files):
        upload(project, user, list(files), django_capture_on_commit_callbacks)
        return by_name(project)

    return run


def test_a_one_page_pdf_of_short_real_text_is_kept_with_a_warning(ingest):
    documents = ingest(
        file_of("hello.pdf", text_pdf("Hello, world!")), file_of("blank.pdf", blank_pdf(1))
    )
    hello = documents["hello.pdf"]
    assert hello.stage == Stage.READY, hello.error
    assert hello.warnings == ["Very little text: the whole file holds only 10 letters or digits."]
    assert [page.text for page in hello.pages.all()] == ["Hello, world!"]
    assert hello.chunks.exists()
    blank = documents["blank.pdf"]  # no text at all is still refused
    assert (blank.stage, blank.error_code) == (Stage.FAILED, ErrorCode.NO_TEXT)
    assert "none of the 1 page contains any text" in blank.error


def test_a_text_file_of_many_short_lines_is_parsed_once_in_one_part(ingest, monkeypatch):
    parses = []
    real = extraction.text_pages

    def counting(*args, **kwargs):
        parses.append(kwargs["name"])
        return real(*args, **kwargs)

    monkeypatch.setattr(extraction, "text_pages", counting)
    extraction._text_pages_for.cache_clear()
    document = ingest(file_of("lines.txt", many_line_text(6_000)))["lines.txt"]
    assert document.stage == Stage.READY, document.error
    assert document.page_count == 100  # sections of 60 lines
    assert ExtractionPart.objects.filter(document=document).count() == 1
    assert parses == ["lines.txt"]
    assert document.pages.order_by("number").first().label == "lines 1-60"


def test_a_document_past_the_page_cap_is_refused_with_a_message(ingest, settings, shared_data):
    settings.CARREL_MAX_DOCUMENT_PAGES = 50
    documents = ingest(
        file_of("lines.txt", many_line_text(6_000)),
        file_of("headings.md", many_heading_markdown(51)),
        file_of("short.md", many_heading_markdown(50)),
        file_from(shared_data / "papers" / "GeoTopo-komprimiert.pdf"),
    )
    for name, words in [
        ("lines.txt", "“lines.txt” has more than 50 sections"),
        ("headings.md", "“headings.md” has more than 50 sections"),
        ("GeoTopo-komprimiert.pdf", "“GeoTopo-komprimiert.pdf” has 117 pages"),
    ]:
        document = documents[name]
        assert (document.stage, document.error_code) == (Stage.FAILED, ErrorCode.TOO_LARGE)
        assert words in document.error
        assert "at most 50 pages or sections per document (CARREL_MAX_DOCUMENT_PAGES)" in (
            document.error
        )
        assert not document.pages.exists()
    assert documents["short.md"].stage == Stage.READY
    assert documents["short.md"].page_count == 50


def test_the_pathological_markdown_file_ingests(ingest):
    document = ingest(file_of("evil.md", pathological_markdown()))["evil.md"]
    assert document.stage == Stage.READY, document.error
    assert document.title == "a"
    assert [page.label[:14] for page in document.pages.order_by("number")] == [
        "a (lines 4-7)",
        "x (lines 8-11)",
    ]
