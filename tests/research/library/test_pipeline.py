"""The ingestion pipeline run in this process (Celery eager): real files, real tokenizer,
real keyword index; ScriptedRuntime writes the model's words."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from pypdf import PdfReader

from research.library import services
from research.library.reading import linked_citations
from research.library.search import chunk_search
from research.library.tasks import ingest_document
from research.models import Chunk, Document, ExtractionPart, Page
from tests.research.ingest_support import (
    blank_pdf,
    by_name,
    file_from,
    file_of,
    indexed_rows,
    upload,
)
from workspace.chunking import PageText, chunk_pages
from workspace.runtime import Message, ModelUnavailable, use_runtime
from workspace.runtime.scripted import ScriptedRuntime
from workspace.runtime.tokenizer import count_tokens

pytest_plugins = ["tests.research.ingest_fixtures"]  # fixtures: eager_celery, project
pytestmark = pytest.mark.django_db

Stage = Document.Stage


def citing_model(*, context_window: int = 128 * 1024) -> ScriptedRuntime:
    """Scripted words that cite the first and last page markers of the prompt."""

    def reply(messages: Sequence[Message]) -> str:
        pages = re.findall(r"\[p\. (\d+)\]|Pages? (\d+)", messages[-1].content)
        numbers = [int(a or b) for a, b in pages] or [1]
        return f"A passage about the topic [p. {numbers[0]}] and its end [p. {numbers[-1]}]."

    return ScriptedRuntime(reply, context_window=context_window)


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_every_paper_is_paged_counted_chunked_indexed_and_summarized(
    eager_celery, project, user, shared_data, django_capture_on_commit_callbacks
):
    papers = sorted((shared_data / "papers").glob("*.pdf"))
    with use_runtime(citing_model()):
        outcomes = upload(
            project,
            user,
            [file_from(path) for path in papers],
            django_capture_on_commit_callbacks,
        )
    assert all(outcome.accepted for outcome in outcomes)
    documents = by_name(project)
    for path in papers:
        document = documents[path.name]
        assert document.stage == Stage.READY, (path.name, document.error)
        assert document.page_count == len(PdfReader(path).pages)
        pages = list(document.pages.order_by("number"))
        assert [page.number for page in pages] == list(range(1, document.page_count + 1))
        for page in pages[:5]:
            assert page.token_count == count_tokens(page.text)
        assert document.token_count == sum(page.token_count for page in pages)
        chunks = list(document.chunks.order_by("ordinal"))
        assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
        assert document.chunk_count == len(chunks) > 0
        assert all(chunk.summary for chunk in chunks)
        assert linked_citations(document.summary, page_count=document.page_count)[0].page is None
        assert any(piece.page for piece in linked_citations(document.summary, page_count=999))
        assert document.indexed_at is not None and document.progress == 1.0
        assert document.pdf_password == ""
    geo = documents["GeoTopo-komprimiert.pdf"]
    assert geo.title == "Geometrie und Topologie"
    assert ExtractionPart.objects.filter(document=geo).count() == 6  # 117 pages in 6 ranges
    hits = chunk_search(query="universelle Überlagerung", document_ids=[geo.pk], limit=5)
    assert hits and "berlagerung" in Chunk.objects.get(pk=hits[0][0]).text


def test_chunks_keep_the_pages_their_text_came_from(
    eager_celery, project, user, shared_data, django_capture_on_commit_callbacks
):
    path = shared_data / "papers" / "pdflatex-4-pages.pdf"
    upload(project, user, [file_from(path)], django_capture_on_commit_callbacks)
    document = Document.objects.get(project=project)
    pages = {page.number: _squash(page.text) for page in document.pages.all()}
    chunks = list(document.chunks.order_by("ordinal"))
    assert {chunk.page_start for chunk in chunks} | {chunk.page_end for chunk in chunks} == {
        1, 2, 3, 4,
    }  # fmt: skip
    assert any(chunk.page_end > chunk.page_start for chunk in chunks)
    for chunk in chunks:
        paragraphs = [_squash(p) for p in chunk.text.split("\n\n") if p.strip()]
        span = range(chunk.page_start, chunk.page_end + 1)
        # every paragraph of the chunk is on one of its pages; first and last on its ends
        for paragraph in paragraphs:
            assert any(paragraph in pages[n] for n in span), (chunk.ordinal, paragraph[:60])
        assert paragraphs[0] in pages[chunk.page_start]
        assert paragraphs[-1] in pages[chunk.page_end]
        assert chunk.token_count == count_tokens(chunk.text)
    # pages are stitched back in order: chunks cover the document's text without loss
    words = " ".join(_squash(chunk.text) for chunk in chunks).split()
    assert words == " ".join(pages[n] for n in sorted(pages)).split()


def test_text_and_markdown_files_become_sections_with_line_ranges(
    eager_celery, project, user, django_capture_on_commit_callbacks
):
    markdown = (
        b"---\ntitle: Campaign lore\n---\n# Ignored\n\nThe city of Vell.\n\n## Harbour\n\nShips.\n"
    )
    text = ("\n\n".join(f"Entry {i}: the tide rose." for i in range(80))).encode()
    upload(
        project,
        user,
        [file_of("lore.md", markdown), file_of("log.txt", text)],
        django_capture_on_commit_callbacks,
    )
    documents = by_name(project)
    lore, log = documents["lore.md"], documents["log.txt"]
    assert lore.stage == log.stage == Stage.READY
    assert lore.title == "Campaign lore"
    assert list(lore.pages.values_list("label", flat=True)) == [
        "Ignored (lines 4-7)",
        "Harbour (lines 8-10)",
    ]
    assert log.page_count > 1
    assert all(label.startswith("lines ") for label in log.pages.values_list("label", flat=True))


def test_summaries_cite_pages_and_reduce_in_rounds_when_they_overflow_the_window(
    eager_celery, project, user, shared_data, django_capture_on_commit_callbacks
):
    model = citing_model(context_window=1400)
    with use_runtime(model):
        upload(
            project,
            user,
            [file_from(shared_data / "papers" / "GeoTopo-komprimiert.pdf")],
            django_capture_on_commit_callbacks,
        )
    document = Document.objects.get(project=project)
    assert document.stage == Stage.READY
    assert document.metadata["summary rounds"] > 1
    assert all(model.count_messages(call) + 700 <= 1400 for call in model.calls[-3:])
    cited = [p.page for p in linked_citations(document.summary, page_count=117) if p.page]
    assert cited and all(1 <= page <= 117 for page in cited)
    # each chunk's summary cites a page inside the chunk
    for chunk in document.chunks.all()[:20]:
        page_ref = re.search(r"\[p\. (\d+)\]", chunk.summary)
        assert page_ref is not None, chunk.summary
        page = int(page_ref.group(1))
        assert chunk.page_start <= page <= chunk.page_end


def dead_model() -> ScriptedRuntime:
    def reply(messages: Sequence[Message]) -> str:
        raise ModelUnavailable("Could not reach Ollama at http://127.0.0.1:9 (refused).")

    return ScriptedRuntime(reply)


def test_a_dead_model_leaves_the_text_searchable_and_retry_only_redoes_the_summary(
    eager_celery, project, user, shared_data, django_capture_on_commit_callbacks
):
    with use_runtime(dead_model()):
        upload(
            project,
            user,
            [file_from(shared_data / "papers" / "multicolumn.pdf")],
            django_capture_on_commit_callbacks,
        )
    document = Document.objects.get(project=project)
    # eager Celery runs the retries at once: all backoff retries fail, then the summary fails
    assert document.stage == Stage.FAILED
    assert document.error_code == Document.ErrorCode.SUMMARY_FAILED
    assert document.halted_stage == Stage.SUMMARIZING
    assert "Could not reach Ollama" in document.error and "searchable" in document.error
    assert document.indexed_at is not None and document.page_count == 3
    assert chunk_search(query="column", document_ids=[document.pk])
    page_ids = set(Page.objects.filter(document=document).values_list("id", flat=True))
    chunk_ids = set(Chunk.objects.filter(document=document).values_list("id", flat=True))

    with use_runtime(citing_model()), django_capture_on_commit_callbacks(execute=True):
        assert services.document_retry(document=document)
    document.refresh_from_db()
    assert document.stage == Stage.READY and document.summary
    assert set(Page.objects.filter(document=document).values_list("id", flat=True)) == page_ids
    assert set(Chunk.objects.filter(document=document).values_list("id", flat=True)) == chunk_ids


def test_a_cancelled_document_ignores_its_old_tasks_and_retry_finishes_it(
    eager_celery, project, user, shared_data, django_capture_on_commit_callbacks
):
    outcome = services.document_upload(  # not committed yet: nothing runs
        project=project,
        uploaded_by=user,
        files=[file_from(shared_data / "papers" / "pdflatex-outline.pdf")],
    )[0]
    document = outcome.document
    assert document is not None
    sent = document.attempt  # the attempt of the message sent at upload
    assert services.document_cancel(document=document)
    document.refresh_from_db()
    assert document.stage == Stage.CANCELLED and document.attempt == sent + 1
    ingest_document.delay(document.pk, sent)  # the message sent before the cancel
    document.refresh_from_db()
    assert document.stage == Stage.CANCELLED and not document.pages.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.document_retry(document=document)
    document.refresh_from_db()
    assert document.stage == Stage.READY and document.attempt == sent + 2
    assert not services.document_cancel(document=document)  # nothing to cancel any more


def test_a_stale_running_document_is_resumed_without_duplicating_its_chunks(
    eager_celery, project, user, shared_data, django_capture_on_commit_callbacks
):
    upload(
        project,
        user,
        [file_from(shared_data / "papers" / "pdflatex-4-pages.pdf")],
        django_capture_on_commit_callbacks,
    )
    document = Document.objects.get(project=project)
    ingested = document.attempt
    expected = [
        (c.ordinal, c.page_start, c.page_end, c.text) for c in document.chunks.order_by("ordinal")
    ]
    # as if a worker died right after chunking: stage back to chunking, heartbeat long ago
    Document.objects.filter(pk=document.pk).update(
        stage=Stage.CHUNKING, worker="celery@gone", summary="", progress=0.5
    )
    with django_capture_on_commit_callbacks(execute=True):
        resumed = services.documents_resume_stale(live_workers={"celery@here"})
    assert resumed == [document.pk]
    document.refresh_from_db()
    assert document.stage == Stage.READY and document.attempt == ingested + 1
    assert [
        (c.ordinal, c.page_start, c.page_end, c.text) for c in document.chunks.order_by("ordinal")
    ] == expected
    assert indexed_rows(document) == len(expected)
    # a live worker's document, with a fresh heartbeat, is left alone
    assert services.documents_resume_stale(live_workers={"celery@here"}) == []


def test_chunking_uses_the_shared_chunker_on_the_stored_pages(
    eager_celery, project, user, shared_data, django_capture_on_commit_callbacks
):
    upload(
        project,
        user,
        [file_from(shared_data / "papers" / "multicolumn.pdf")],
        django_capture_on_commit_callbacks,
    )
    document = Document.objects.get(project=project)
    drafts = chunk_pages([PageText(p.number, p.text) for p in document.pages.order_by("number")])
    assert [(d.text, d.page_start, d.page_end) for d in drafts] == [
        (c.text, c.page_start, c.page_end) for c in document.chunks.order_by("ordinal")
    ]


def test_a_pdf_with_no_text_layer_fails_clearly_and_a_partly_scanned_one_warns(
    eager_celery, project, user, shared_data, django_capture_on_commit_callbacks
):
    from io import BytesIO

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.append(str(shared_data / "papers" / "pdflatex-4-pages.pdf"))
    writer.add_blank_page(width=595, height=842)
    mixed = BytesIO()
    writer.write(mixed)
    upload(
        project,
        user,
        [file_of("scan.pdf", blank_pdf(pages=3)), file_of("mixed.pdf", mixed.getvalue())],
        django_capture_on_commit_callbacks,
    )
    documents = by_name(project)
    scan, partly = documents["scan.pdf"], documents["mixed.pdf"]
    assert scan.stage == Stage.FAILED and scan.error_code == Document.ErrorCode.NO_TEXT
    assert "none of the 3 pages contains any text" in scan.error
    assert partly.stage == Stage.READY and partly.page_count == 5
    assert partly.warnings == ["Page 5: no text."]
