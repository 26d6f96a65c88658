"""Bad input: every broken file gets its own clear message; the rest of the upload ingests."""

from __future__ import annotations

import shutil

import pytest

from research.library import services
from research.models import Document
from tests.research.ingest_support import (
    blank_pdf,
    by_name,
    file_from,
    file_of,
    upload,
)

pytest_plugins = ["tests.research.ingest_fixtures"]  # fixtures: eager_celery, project
pytestmark = pytest.mark.django_db

Stage = Document.Stage
ErrorCode = Document.ErrorCode


@pytest.fixture
def mixed_upload(
    eager_celery, project, user, shared_data, settings, django_capture_on_commit_callbacks
):
    settings.CARREL_MAX_UPLOAD_BYTES = 1_000_000
    bad = shared_data / "pdfs-bad"
    papers = shared_data / "papers"
    files = [
        file_from(papers / "pdflatex-4-pages.pdf"),
        *(file_from(path) for path in sorted(bad.glob("*.pdf"))),
        file_of("notes.pdf", b"These are my notes, saved with the wrong extension.\n"),
        file_from(papers / "GeoTopo-komprimiert.pdf"),  # 1.8 MB: over the 1 MB limit
        file_of("scan.pdf", blank_pdf(pages=2)),
        file_from(papers / "pdflatex-4-pages.pdf", name="same-paper-renamed.pdf"),
        file_of("slides.pptx", b"PK\x03\x04 not a document Carrel reads"),
        file_from(papers / "multicolumn.pdf"),
    ]
    outcomes = upload(project, user, files, django_capture_on_commit_callbacks)
    return {outcome.name: outcome for outcome in outcomes}, by_name(project)


def test_the_good_files_of_an_upload_ingest_whatever_else_is_in_it(mixed_upload):
    _, documents = mixed_upload
    for name in ("pdflatex-4-pages.pdf", "multicolumn.pdf", "corrupted-zen.pdf"):
        assert documents[name].stage == Stage.READY, (name, documents[name].error)
        assert documents[name].chunks.exists()


@pytest.mark.parametrize(
    ("name", "stage", "code", "words"),
    [
        ("empty.pdf", Stage.FAILED, ErrorCode.EMPTY, "“empty.pdf” is empty (0 bytes)"),
        ("notes.pdf", Stage.FAILED, ErrorCode.WRONG_TYPE, "is not a PDF: it contains plain text"),
        ("GeoTopo-komprimiert.pdf", Stage.FAILED, ErrorCode.TOO_LARGE, "the limit is 976.6"),
        ("scan.pdf", Stage.FAILED, ErrorCode.NO_TEXT, "none of the 2 pages contains any text"),
        ("slides.pptx", Stage.FAILED, ErrorCode.UNSUPPORTED, "is a .pptx file"),
        (
            "encrypted-libreoffice-openpassword.pdf",
            Stage.NEEDS_PASSWORD,
            ErrorCode.NEEDS_PASSWORD,
            "protected by a password",
        ),
        (
            "encrypted-r6-user-asdfzxcv.pdf",
            Stage.NEEDS_PASSWORD,
            ErrorCode.NEEDS_PASSWORD,
            "protected by a password",
        ),
    ],
)
def test_each_bad_file_gets_its_own_clear_message(mixed_upload, name, stage, code, words):
    _, documents = mixed_upload
    document = documents[name]
    assert (document.stage, document.error_code) == (stage, code)
    assert words in document.error
    assert not document.chunks.exists()


def test_a_japanese_scan_with_a_few_letters_is_kept_and_says_ocr_could_not_read_it(
    mixed_upload,
):
    _, documents = mixed_upload
    document = documents["malformed-issue-932.pdf"]
    assert document.stage == Stage.READY, document.error
    assert not document.pages.filter(ocr=True).exists()
    [warning] = document.warnings
    assert warning.startswith("Very little text: the whole file holds only 7 letters or digits.")
    assert "Page 1 was scanned (images without a text layer) and could not be read" in warning
    # English OCR data reads the Japanese page as confident-looking noise: it is refused.
    reason = "OCR was unsure" if shutil.which("tesseract") else "Tesseract OCR is not installed"
    assert reason in warning


def test_files_refused_at_upload_keep_no_file_and_cannot_be_retried(mixed_upload):
    _, documents = mixed_upload
    for name in ("empty.pdf", "notes.pdf", "GeoTopo-komprimiert.pdf", "slides.pptx"):
        assert not documents[name].file
        assert not documents[name].can_retry
        assert not services.document_retry(document=documents[name])


def test_the_same_file_twice_is_recognized_by_its_content(mixed_upload, project, user):
    outcomes, documents = mixed_upload
    duplicate = outcomes["same-paper-renamed.pdf"]
    assert duplicate.document is None
    assert duplicate.duplicate_of == documents["pdflatex-4-pages.pdf"]
    assert "already in this project" in duplicate.message
    assert "same-paper-renamed.pdf" not in documents


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("encrypted-libreoffice-openpassword.pdf", "openpassword"),
        ("encrypted-r6-user-asdfzxcv.pdf", "asdfzxcv"),
    ],
)
def test_a_wrong_password_says_so_and_the_right_one_ingests(
    mixed_upload, name, password, django_capture_on_commit_callbacks
):
    _, documents = mixed_upload
    document = documents[name]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.document_submit_password(document=document, password="guess")
    document.refresh_from_db()
    assert document.stage == Stage.NEEDS_PASSWORD
    assert document.error_code == ErrorCode.WRONG_PASSWORD
    assert "That password did not open this PDF" in document.error
    assert document.pdf_password == ""
    with django_capture_on_commit_callbacks(execute=True):
        assert services.document_submit_password(document=document, password=password)
    document.refresh_from_db()
    assert document.stage == Stage.READY, document.error
    assert document.pdf_password == ""  # cleared once used
    assert document.pages.get(number=1).text
