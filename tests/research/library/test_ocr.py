"""Scanned PDFs are read offline: pages without a text layer are rendered with PDFium and
recognized by the real Tesseract (Debian's tesseract-ocr, `make ocr-deps`), one page at a
time, so their text keeps its page. The scans are made here from a shared paper: each page
rendered to a bitmap and wrapped as an image-only PDF with pypdfium2's page-object API."""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from django.urls import reverse
from pypdf import PdfReader, PdfWriter

from research.library import ocr
from research.library.search import chunk_search
from research.models import Chunk, Document, Page, Question, Thread
from tests.fakes.ollama_server import FakeOllama
from tests.research.ingest_support import by_name, file_of, scanned_pdf, upload
from workspace.packing import ContextMap, MapEntry
from workspace.runtime import use_runtime
from workspace.runtime.ollama import OllamaRuntime
from workspace.runtime.scripted import ScriptedRuntime

pytest_plugins = ["tests.research.ingest_fixtures"]  # fixtures: eager_celery, project
pytestmark = pytest.mark.django_db

Stage = Document.Stage
needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None,
    reason="Tesseract is not installed (make ocr-deps: apt-get install tesseract-ocr)",
)
# Words that the shared paper multicolumn.pdf has on its page 2 and on no other page.
PAGE_TWO_WORDS = "sociosqu torquent conubia"


def quiet_model() -> ScriptedRuntime:
    return ScriptedRuntime(lambda messages: "A passage of the paper [p. 2].")


@pytest.fixture(scope="module")
def multicolumn_scan(shared_data_path: Path) -> bytes:
    return scanned_pdf(shared_data_path / "papers" / "multicolumn.pdf")


@pytest.fixture(scope="module")
def shared_data_path() -> Path:
    from tests.conftest import SHARED_DATA

    return SHARED_DATA


def test_the_made_scan_has_no_text_layer_at_all(multicolumn_scan):
    reader = PdfReader(io.BytesIO(multicolumn_scan))
    assert len(reader.pages) == 3
    assert all(not (page.extract_text() or "").strip() for page in reader.pages)


@needs_tesseract
def test_a_scanned_paper_is_read_page_by_page_and_its_pages_are_marked_as_ocr(
    eager_celery, project, user, multicolumn_scan, django_capture_on_commit_callbacks
):
    with use_runtime(quiet_model()):
        upload(
            project,
            user,
            [file_of("scan.pdf", multicolumn_scan)],
            django_capture_on_commit_callbacks,
        )
    document = Document.objects.get(project=project)
    assert document.stage == Stage.READY, document.error
    pages = {page.number: page for page in document.pages.all()}
    assert sorted(pages) == [1, 2, 3]
    assert all(page.ocr for page in pages.values())
    assert "Two-Column Document" in pages[1].text
    assert "Austria" in pages[3].text and "Vienna" in pages[3].text
    for word in PAGE_TWO_WORDS.split():
        assert word in pages[2].text.lower()
        assert word not in pages[1].text.lower() + pages[3].text.lower()
    assert document.warnings == [
        "Pages 1-3 were scanned (images without a text layer) and read by OCR (Tesseract): "
        "the text may have recognition errors."
    ]

    # Page 2's words are found, in a chunk anchored on page 2, and a citation of the
    # passage opens page 2 of the reader with the passage marked.
    [(chunk_id, _score), *_] = chunk_search(query=PAGE_TWO_WORDS, document_ids=[document.pk])
    chunk = Chunk.objects.get(pk=chunk_id)
    assert chunk.page_start <= 2 <= chunk.page_end
    passage = next(line for line in pages[2].text.splitlines() if "sociosqu" in line)
    client = _client_for(user)
    url = reverse("research:page_detail", args=[document.pk, 2])
    response = client.get(url, {"q": passage})
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="ocr-note"' in body and "Read by OCR" in body
    assert '<mark class="cited" id="cited">' in body
    detail = client.get(reverse("research:document_detail", args=[document.pk])).content.decode()
    assert detail.count('data-testid="ocr-badge"') == 3

    # The context map of a question marks the packed pages that were read by OCR.
    question = _question_that_saw(document, pages=[[2, 3]], user=user)
    shown = client.get(reverse("research:qa:context_map", args=[question.pk])).content.decode()
    assert 'data-testid="ocr-pages"' in shown and "OCR: p. 2-3" in shown


@needs_tesseract
def test_a_paper_with_a_text_layer_is_not_ocrd_and_only_its_scanned_page_is(
    eager_celery, project, user, shared_data_path, django_capture_on_commit_callbacks
):
    paper = shared_data_path / "papers" / "pdflatex-4-pages.pdf"
    writer = PdfWriter()
    writer.append(str(paper))
    writer.append(io.BytesIO(scanned_pdf(shared_data_path / "papers" / "multicolumn.pdf", pages=1)))
    mixed = io.BytesIO()
    writer.write(mixed)
    with use_runtime(quiet_model()):
        upload(
            project,
            user,
            [file_of("mixed.pdf", mixed.getvalue())],
            django_capture_on_commit_callbacks,
        )
    document = Document.objects.get(project=project)
    assert document.stage == Stage.READY, document.error
    marked = dict(document.pages.values_list("number", "ocr"))
    assert marked == {1: False, 2: False, 3: False, 4: False, 5: True}
    assert "Two-Column Document" in Page.objects.get(document=document, number=5).text
    assert document.warnings == [
        "Page 5 was scanned (images without a text layer) and read by OCR (Tesseract): "
        "the text may have recognition errors."
    ]


def test_without_tesseract_a_scan_fails_naming_its_pages_and_how_to_add_ocr(
    eager_celery, project, user, multicolumn_scan, settings, django_capture_on_commit_callbacks
):
    settings.CARREL_TESSERACT = "carrel-no-such-tesseract"
    upload(
        project, user, [file_of("scan.pdf", multicolumn_scan)], django_capture_on_commit_callbacks
    )
    document = Document.objects.get(project=project)
    assert document.stage == Stage.FAILED
    assert document.error_code == Document.ErrorCode.NO_TEXT
    assert document.error == (
        "No text layer: Pages 1-3 were scanned (images without a text layer) and could not be "
        "read. Tesseract OCR is not installed, so scanned pages cannot be read: apt-get install "
        "tesseract-ocr tesseract-ocr-eng (or `make ocr-deps`). Then use Retry."
    )
    assert document.can_retry
    assert not document.pages.filter(ocr=True).exists()


def test_without_tesseract_a_partly_scanned_paper_is_kept_and_names_the_page_it_could_not_read(
    eager_celery, project, user, shared_data_path, settings, django_capture_on_commit_callbacks
):
    settings.CARREL_TESSERACT = "carrel-no-such-tesseract"
    writer = PdfWriter()
    writer.append(str(shared_data_path / "papers" / "pdflatex-4-pages.pdf"))
    writer.append(io.BytesIO(scanned_pdf(shared_data_path / "papers" / "multicolumn.pdf", pages=2)))
    mixed = io.BytesIO()
    writer.write(mixed)
    with use_runtime(quiet_model()):
        upload(
            project,
            user,
            [file_of("mixed.pdf", mixed.getvalue())],
            django_capture_on_commit_callbacks,
        )
    document = by_name(project)["mixed.pdf"]
    assert document.stage == Stage.READY, document.error
    assert document.page_count == 6
    assert document.warnings == [
        "Pages 5-6 were scanned (images without a text layer) and could not be read. "
        "Tesseract OCR is not installed, so scanned pages cannot be read: apt-get install "
        "tesseract-ocr tesseract-ocr-eng (or `make ocr-deps`)."
    ]


@needs_tesseract
def test_a_tesseract_that_fails_names_the_pages_and_its_reason(
    eager_celery, project, user, multicolumn_scan, settings, django_capture_on_commit_callbacks
):
    settings.CARREL_OCR_LANGUAGE = "carrelnosuchlanguage"
    upload(
        project, user, [file_of("scan.pdf", multicolumn_scan)], django_capture_on_commit_callbacks
    )
    document = Document.objects.get(project=project)
    assert document.stage == Stage.FAILED
    assert document.error.startswith(
        "No text layer: Pages 1-3 were scanned (images without a text layer) and could not "
        "be read: Tesseract failed on this page ("
    )
    assert "Then use Retry" not in document.error


def test_a_page_that_declares_a_huge_size_is_rendered_at_a_bounded_size(tmp_path):
    pdf = pdfium.PdfDocument.new()
    pdf.new_page(72 * 200, 72 * 100)  # 200 by 100 inches
    path = tmp_path / "poster.pdf"
    pdf.save(str(path))
    rendered = ocr.render_page(path, number=1, dpi=300)
    assert (rendered.width, rendered.height) == (ocr.MAX_SIDE_PX, ocr.MAX_SIDE_PX // 2)
    assert rendered.png.startswith(b"\x89PNG\r\n\x1a\n")


def test_a_page_pdfium_cannot_open_is_an_ocr_error_with_a_sentence(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\nnot really a pdf")
    with pytest.raises(ocr.OcrError, match="PDFium could not open the file"):
        ocr.render_page(path, number=1)


def _client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_tesseract_tsv_becomes_lines_and_paragraphs_with_a_mean_confidence():
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tl\tt\tw\th\tconf\ttext"
    rows = [
        "5\t1\t1\t1\t1\t1\t0\t0\t1\t1\t90\tFirst",
        "5\t1\t1\t1\t1\t2\t0\t0\t1\t1\t80\tline",
        "4\t1\t1\t1\t2\t0\t0\t0\t1\t1\t-1\t",
        "5\t1\t1\t1\t2\t1\t0\t0\t1\t1\t70\tsecond",
        "5\t1\t1\t2\t1\t1\t0\t0\t1\t1\t60\tNext",
        "5\t1\t2\t1\t1\t1\t0\t0\t1\t1\t50\tblock",
        "5\t1\t2\t1\t1\t2\t0\t0\t1\t1\t95\t ",
    ]
    found = ocr.text_from_tsv("\n".join([header, *rows]))
    assert found.text == "First line\nsecond\n\nNext\n\nblock"
    assert (found.words, found.confidence) == (5, 70.0)


@needs_tesseract
def test_a_page_in_a_script_the_ocr_language_cannot_read_is_refused_not_stored_as_noise(
    shared_data_path,
):
    japanese = shared_data_path / "pdfs-bad" / "malformed-issue-932.pdf"
    with pytest.raises(ocr.OcrError, match=r"OCR was unsure of what it read \(confidence \d+"):
        ocr.ocr_page(japanese, number=1)


# --- The vision path: the active Ollama model transcribes the page image ------------------


@pytest.fixture
def vision_ollama(settings) -> Iterator[FakeOllama]:
    """The Ollama wire-protocol test server with a Gemma 4 model that lists "vision"."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "ocr-fake-ollama",
        }
    }
    settings.CARREL_OCR_ENGINE = "vision"
    fake = FakeOllama()
    fake.add_model("gemma4:e4b")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def _transcription(body: dict) -> str:
    """The scripted model: a transcription for a page image, a summary otherwise."""
    if any(message.get("images") for message in body["messages"]):
        return "Transcribed by the model: the columns of this scanned page, word for word."
    return "A passage of the paper [p. 1]."


def test_a_vision_model_transcribes_scanned_pages_from_their_images(
    eager_celery, project, user, multicolumn_scan, vision_ollama, django_capture_on_commit_callbacks
):
    vision_ollama.reply = _transcription
    runtime = OllamaRuntime(host=vision_ollama.url, model="gemma4:e4b", timeout=30)
    with use_runtime(runtime):
        upload(
            project,
            user,
            [file_of("scan.pdf", multicolumn_scan)],
            django_capture_on_commit_callbacks,
        )
    document = Document.objects.get(project=project)
    assert document.stage == Stage.READY, document.error
    with_images = [
        message
        for request in vision_ollama.chat_requests()
        for message in request["messages"]
        if message.get("images")
    ]
    assert len(with_images) == 3  # one request per page, each with its page image
    for message in with_images:
        [image] = message["images"]
        png = base64.b64decode(image)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert "Transcribe all of its text" in message["content"]
    pages = list(document.pages.order_by("number"))
    assert [(page.number, page.ocr) for page in pages] == [(1, True), (2, True), (3, True)]
    assert all(page.text.startswith("Transcribed by the model") for page in pages)
    assert document.warnings == [
        "Pages 1-3 were scanned (images without a text layer) and transcribed by the model "
        "from the page image: check quotes against the page."
    ]


@needs_tesseract
def test_a_model_without_vision_leaves_the_scan_to_tesseract(
    eager_celery, project, user, multicolumn_scan, vision_ollama, django_capture_on_commit_callbacks
):
    vision_ollama.models["gemma4:e4b"].capabilities = ("completion",)
    vision_ollama.reply = _transcription
    runtime = OllamaRuntime(host=vision_ollama.url, model="gemma4:e4b", timeout=30)
    with use_runtime(runtime):
        upload(
            project,
            user,
            [file_of("scan.pdf", multicolumn_scan)],
            django_capture_on_commit_callbacks,
        )
    document = Document.objects.get(project=project)
    assert document.stage == Stage.READY, document.error
    assert not any(
        message.get("images")
        for request in vision_ollama.chat_requests()
        for message in request["messages"]
    )
    assert "Two-Column Document" in document.pages.get(number=1).text
    assert document.pages.filter(ocr=True).count() == 3


def _question_that_saw(document: Document, *, pages: list[list[int]], user) -> Question:
    """A question whose stored context map packed `pages` of `document` as an excerpt."""
    context_map = ContextMap(
        strategy="fits",
        reason="test",
        window=8192,
        prompt_limit=7000,
        output_reserve=1024,
        margin=100,
        prompt_tokens=900,
        fixed_tokens=100,
        source_tokens=800,
        full_text_tokens=800,
        entries=[MapEntry(0, document.pk, document.title, "excerpt", 800, pages=pages)],
    )
    thread = Thread.objects.create(owner=user, project=document.project, title="Scans")
    return Question.objects.create(
        thread=thread, text="What is on page 2?", context_map=context_map.to_dict()
    )
