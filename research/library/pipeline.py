"""The ingestion pipeline's stage services, called by tasks.py.

    queued → extracting (page ranges in parallel; text is normalized and counted per page)
           → chunking → indexing → summarizing (chunk summaries, reduced) → ready

Each stage is safe to run twice. A stage's writes happen in one transaction that starts
with a conditional UPDATE on the document (right id, right attempt, right stage); when it
matches no row, the task belongs to a cancelled, superseded or finished run and writes
nothing. Outputs are replaced (delete + bulk_create), never appended.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from research.library import document_summary, ocr
from research.library.extraction import (
    MIN_PAGE_CHARS,
    DocumentInfo,
    ExtractionError,
    PageContent,
    normalize_pdf_text,
    open_pdf_reused,
    pdf_info,
    pdf_pages,
    text_pages_reused,
    too_many_pages,
)
from research.library.metadata import paper_metadata, usable_pdf_title
from research.library.search import chunk_index_document, chunk_unindex_document
from research.models import Chunk, Document, ExtractionPart, Page
from workspace.chunking import PageText, chunk_pages
from workspace.runtime import ModelRuntime, ModelRuntimeError, get_runtime
from workspace.runtime.tokenizer import count_tokens

logger = logging.getLogger(__name__)

Stage = Document.Stage
ErrorCode = Document.ErrorCode
SummaryStatus = Document.SummaryStatus

PART_PAGES = 20  # pages per extraction task
HEARTBEAT_PAGES = 10  # a running part reports progress this often
# Overall progress at the start of each stage (extraction fills 0.02..0.5, summaries ..1).
PROGRESS = {
    Stage.EXTRACTING: 0.02,
    Stage.CHUNKING: 0.5,
    Stage.INDEXING: 0.6,
    Stage.SUMMARIZING: 0.65,
    Stage.READY: 1.0,
}
STATUS = {
    Stage.QUEUED: "Waiting for a worker",
    Stage.EXTRACTING: "Extracting text",
    Stage.CHUNKING: "Counting tokens and chunking",
    Stage.INDEXING: "Indexing for keyword search",
    Stage.SUMMARIZING: "Summarizing",
}


def _short(message: str) -> str:
    return message if len(message) <= 480 else message[:477] + "…"


def page_ranges(page_count: int, size: int = PART_PAGES) -> list[tuple[int, int]]:
    """1-based inclusive ranges of about `size` pages, evened out: 117 pages with size 20
    make six ranges of 20, 20, 20, 19, 19 and 19 pages."""
    if page_count <= 0:
        return []
    parts = math.ceil(page_count / size)
    base, extra = divmod(page_count, parts)
    ranges, first = [], 1
    for index in range(parts):
        last = first + base + (1 if index < extra else 0) - 1
        ranges.append((first, last))
        first = last + 1
    return ranges


def compress_pages(numbers: Iterable[int]) -> str:
    """[1, 2, 3, 7] → "1-3, 7"."""
    ordered = sorted(set(numbers))
    spans: list[str] = []
    start = previous = None
    for number in [*ordered, None]:
        if number is not None and previous is not None and number == previous + 1:
            previous = number
            continue
        if start is not None:
            spans.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = number
    return ", ".join(spans)


def document_release(*, document_id: int, attempt: int, worker: str) -> None:
    """A step has queued what comes next: no worker holds the document until that runs."""
    Document.objects.filter(pk=document_id, attempt=attempt, worker=worker).update(worker="")


# --- Failure states ---------------------------------------------------------------------------


def document_fail(*, document_id: int, attempt: int, code: str, message: str) -> bool:
    """Stop a run with a message the user can act on. Returns False for a stale run."""
    return Document.fail(
        document_id,
        attempt,
        code=code,
        error=message,
        halted_stage=F("stage"),
        status_message=_short(message),
        pdf_password="",
        summary_status=SummaryStatus.FAILED
        if code == ErrorCode.SUMMARY_FAILED
        else F("summary_status"),
        finished_at=timezone.now(),
        heartbeat_at=None,
        worker="",
    )


def _needs_password(*, document_id: int, attempt: int, error: ExtractionError) -> None:
    Document.objects.filter(pk=document_id, attempt=attempt).exclude(
        stage__in=Document.FINISHED_STAGES
    ).update(
        halted_stage=F("stage"),
        stage=Stage.NEEDS_PASSWORD,
        error_code=error.code,
        error=error.message,
        status_message=_short(error.message),
        pdf_password="",
        heartbeat_at=None,
        worker="",
        finished_at=timezone.now(),
    )


def _stop_for(error: ExtractionError, *, document_id: int, attempt: int) -> None:
    if error.code in (ErrorCode.NEEDS_PASSWORD, ErrorCode.WRONG_PASSWORD):
        _needs_password(document_id=document_id, attempt=attempt, error=error)
    else:
        document_fail(
            document_id=document_id, attempt=attempt, code=error.code, message=error.message
        )


# --- Extraction -----------------------------------------------------------------------------


def _read(document: Document) -> tuple[DocumentInfo, object]:
    """Open the stored file: (info, source) where source is a PdfReader or the page list."""
    path = Path(document.file.path)
    if not path.exists():
        raise ExtractionError(
            ErrorCode.INTERNAL, "The uploaded file is missing from storage; upload it again."
        )
    limit = settings.CARREL_MAX_DOCUMENT_PAGES
    if document.file_type == Document.FileType.PDF:
        reader = open_pdf_reused(path, password=document.pdf_password)
        info = pdf_info(reader, fallback_title=document.title)
        if limit and info.page_count > limit:
            raise too_many_pages(name=document.original_name, count=info.page_count, limit=limit)
        return info, reader
    return text_pages_reused(
        path, file_type=document.file_type, name=document.original_name, max_pages=limit
    )


def _contents(source: object, first: int, last: int) -> Iterable[PageContent]:
    if isinstance(source, list):
        return [page for page in source if first <= page.number <= last]
    return pdf_pages(source, first=first, last=last)  # type: ignore[arg-type]


def document_start_extraction(
    *, document_id: int, attempt: int, worker: str = ""
) -> list[int] | None:
    """Claim a queued document, read its page count and metadata, and plan page ranges.

    Returns the ids of the parts still to extract ([] when a resumed run has them all),
    or None when there is nothing to do (claimed elsewhere, cancelled, or it failed here).
    """
    now = timezone.now()
    if not Document.claim(
        document_id,
        attempt,
        heartbeat_at=now,
        worker=worker,
        status_message=STATUS[Stage.EXTRACTING],
    ):
        return None
    document = Document.objects.get(pk=document_id)
    try:
        info, _source = _read(document)
    except ExtractionError as error:
        _stop_for(error, document_id=document_id, attempt=attempt)
        return None
    if info.page_count == 0:
        document_fail(
            document_id=document_id,
            attempt=attempt,
            code=ErrorCode.DAMAGED,
            message="This PDF has no pages. Download or export it again, then upload it again.",
        )
        return None
    # Text is parsed whole in one go, so its sections are one part: ranges would each parse
    # the whole file again.
    ranges = (
        page_ranges(info.page_count)
        if document.file_type == Document.FileType.PDF
        else [(1, info.page_count)]
    )
    with transaction.atomic():
        if not Document.fenced(document_id, attempt, Stage.EXTRACTING).update(
            page_count=info.page_count,
            # A title imported from a bibliography or typed by a person is kept.
            title=(info.title or document.title) if document.metadata_from_file else document.title,
            metadata=info.metadata,
            progress=max(document.progress, PROGRESS[Stage.EXTRACTING]),
            heartbeat_at=timezone.now(),
            status_message=f"Extracting text from {info.page_count} pages",
        ):
            return None
        parts = list(ExtractionPart.objects.filter(document_id=document_id))
        if [(p.first_page, p.last_page) for p in parts] != ranges:
            ExtractionPart.objects.filter(document_id=document_id).delete()
            Page.objects.filter(document_id=document_id).delete()
            ExtractionPart.objects.bulk_create(
                ExtractionPart(document_id=document_id, first_page=first, last_page=last)
                for first, last in ranges
            )
        else:  # a resumed run keeps the ranges already done
            ExtractionPart.objects.filter(document_id=document_id).exclude(
                status=ExtractionPart.Status.DONE
            ).update(status=ExtractionPart.Status.PENDING, pages_done=0, worker="")
        return list(
            ExtractionPart.objects.filter(document_id=document_id)
            .exclude(status=ExtractionPart.Status.DONE)
            .values_list("id", flat=True)
        )


def _vision_runtime() -> ModelRuntime | None:
    """The active model, when CARREL_OCR_ENGINE is "vision" and it reads images."""
    if settings.CARREL_OCR_ENGINE != "vision":
        return None
    runtime = get_runtime()
    return runtime if ocr.model_reads_images(runtime) else None


def _recognized(
    content: PageContent, *, path: Path, password: str, vision: ModelRuntime | None = None
) -> PageContent:
    """A scanned page with the text OCR found on its image, or with why it found none.
    With a vision model the model transcribes the page; a page it fails on (an error, or
    no text) goes to Tesseract when that is installed."""

    def read(text: str, engine: str) -> PageContent:
        return PageContent(
            number=content.number,
            label=content.label,
            text=normalize_pdf_text(text),
            has_images=True,
            ocr=True,
            ocr_engine=engine,
        )

    if vision is not None:
        try:
            transcribed = ocr.transcribe_page(
                vision, path, number=content.number, password=password
            )
        except (ModelRuntimeError, ocr.OcrError) as error:
            logger.warning("Vision transcription of page %s failed: %s", content.number, error)
        else:
            page = read(transcribed, "vision")
            if page.letters >= MIN_PAGE_CHARS or not ocr.ocr_available():
                return page
    if not ocr.ocr_available():
        error_text = ocr.missing_message()
    else:
        try:
            return read(ocr.ocr_page(path, number=content.number, password=password), "tesseract")
        except ocr.OcrError as error:
            error_text = str(error)
    return PageContent(
        number=content.number,
        label=content.label,
        text=content.text,
        has_images=True,
        ocr_error=error_text,
    )


def _part_notes(pages: Sequence[PageContent]) -> dict[str, Any]:
    textless = [p for p in pages if p.letters < MIN_PAGE_CHARS]
    return {
        "scanned": [p.number for p in textless if p.has_images],
        "blank": [p.number for p in textless if not p.has_images and not p.error],
        "unreadable": [[p.number, p.error] for p in pages if p.error],
        "ocr": [p.number for p in pages if p.ocr and p.letters >= MIN_PAGE_CHARS],
        "vision": [
            p.number for p in pages if p.ocr_engine == "vision" and p.letters >= MIN_PAGE_CHARS
        ],
        "ocr_errors": [[p.number, p.ocr_error] for p in pages if p.ocr_error],
        "letters": sum(p.letters for p in textless),
    }


def _extraction_progress(document_id: int, page_count: int) -> float:
    done = (
        ExtractionPart.objects.filter(document_id=document_id).aggregate(n=Sum("pages_done"))["n"]
        or 0
    )
    span = PROGRESS[Stage.CHUNKING] - PROGRESS[Stage.EXTRACTING]
    return PROGRESS[Stage.EXTRACTING] + span * done / max(1, page_count)


def document_extract_part(
    *, document_id: int, attempt: int, part_id: int, worker: str = ""
) -> bool:
    """Extract, normalize and count one page range, then store its pages in one go."""
    document = Document.fenced(document_id, attempt, Stage.EXTRACTING).first()
    if document is None:
        return False
    part = ExtractionPart.objects.filter(pk=part_id, document_id=document_id).first()
    if part is None or part.status == ExtractionPart.Status.DONE:
        return part is not None
    ExtractionPart.objects.filter(pk=part_id).exclude(status=ExtractionPart.Status.DONE).update(
        status=ExtractionPart.Status.RUNNING, attempt=attempt, pages_done=0, worker=worker
    )
    try:
        _info, source = _read(document)
    except ExtractionError as error:
        _stop_for(error, document_id=document_id, attempt=attempt)
        return False
    pages: list[tuple[PageContent, int]] = []
    is_pdf = document.file_type == Document.FileType.PDF
    readers: list[ModelRuntime | None] = []  # the vision model, looked up at the first scan
    for content in _contents(source, part.first_page, part.last_page):
        recognized = False
        if content.scanned and is_pdf:
            if not readers:
                readers.append(_vision_runtime())
            # seconds a page: report each one
            content = _recognized(
                content,
                path=Path(document.file.path),
                password=document.pdf_password,
                vision=readers[0],
            )
            recognized = True
        pages.append((content, count_tokens(content.text)))
        beat = recognized or len(pages) % HEARTBEAT_PAGES == 0
        if beat and len(pages) < part.page_total:
            ExtractionPart.objects.filter(pk=part_id, attempt=attempt).update(pages_done=len(pages))
            alive = Document.fenced(document_id, attempt, Stage.EXTRACTING).update(
                heartbeat_at=timezone.now(),
                progress=_extraction_progress(document_id, document.page_count),
            )
            if not alive:
                return False  # cancelled or superseded: stop early
    with transaction.atomic():
        if not Document.fenced(document_id, attempt, Stage.EXTRACTING).update(
            heartbeat_at=timezone.now()
        ):
            return False
        finished = ExtractionPart.objects.filter(
            pk=part_id, attempt=attempt, status=ExtractionPart.Status.RUNNING
        ).update(
            status=ExtractionPart.Status.DONE,
            pages_done=len(pages),
            notes=_part_notes([content for content, _ in pages]),
        )
        if not finished:
            return False
        Page.objects.filter(
            document_id=document_id, number__range=(part.first_page, part.last_page)
        ).delete()
        Page.objects.bulk_create(
            Page(
                document_id=document_id,
                number=content.number,
                label=content.label,
                text=content.text,
                token_count=tokens,
                ocr=content.ocr,
            )
            for content, tokens in pages
        )
        Document.objects.filter(pk=document_id, attempt=attempt).update(
            progress=_extraction_progress(document_id, document.page_count)
        )
    return True


def _extraction_outcome(
    document: Document, notes: Sequence[dict]
) -> tuple[ExtractionError | None, list[str]]:
    """A fatal error when the document has no text at all; otherwise warnings about the
    pages without, or about how little text there is when no page has much."""
    scanned = sorted(n for note in notes for n in note.get("scanned", []))
    blank = sorted(n for note in notes for n in note.get("blank", []))
    unreadable = sorted((n, e) for note in notes for n, e in note.get("unreadable", []))
    vision = set(n for note in notes for n in note.get("vision", []))
    recognized = sorted(n for note in notes for n in note.get("ocr", []) if n not in vision)
    ocr_errors = sorted((n, e) for note in notes for n, e in note.get("ocr_errors", []))
    unread = _unread_scans(scanned, ocr_errors)
    textless = len(scanned) + len(blank) + len(unreadable)
    pages = document.page_count
    if pages and len(unreadable) == pages:
        return ExtractionError(
            ErrorCode.DAMAGED,
            f"No page of this PDF could be read (page 1: {unreadable[0][1]}). Download or "
            "export it again, then upload the new copy.",
        ), []
    letters = sum(note.get("letters", 0) for note in notes)
    if pages and textless >= pages and not letters:
        if scanned:
            missing = any(error == ocr.missing_message() for _number, error in ocr_errors)
            retry = " Then use Retry." if missing else ""
            return ExtractionError(ErrorCode.NO_TEXT, f"No text layer: {unread}{retry}"), []
        return ExtractionError(
            ErrorCode.NO_TEXT,
            f"No text: none of the {pages} page{'s' if pages != 1 else ''} contains any "
            "text; they are blank or drawn as shapes.",
        ), []
    if pages and textless >= pages:
        unread_note = f" {unread}" if scanned else ""
        return None, [
            "Very little text: the whole file holds only "
            f"{'1 letter or digit' if letters == 1 else f'{letters} letters or digits'}."
            f"{unread_note}"
        ]
    warnings = []
    if recognized:
        warnings.append(
            f"{_pages_phrase(recognized)} {'were' if len(recognized) > 1 else 'was'} scanned "
            "(images without a text layer) and read by OCR (Tesseract): the text may have "
            "recognition errors."
        )
    if vision:
        warnings.append(
            f"{_pages_phrase(sorted(vision))} {'were' if len(vision) > 1 else 'was'} scanned "
            "(images without a text layer) and transcribed by the model from the page image: "
            "check quotes against the page."
        )
    if scanned:
        warnings.append(unread)
    if blank:
        warnings.append(f"Page{'s' if len(blank) > 1 else ''} {compress_pages(blank)}: no text.")
    for number, error in unreadable[:5]:
        warnings.append(f"Page {number} could not be read ({error}).")
    if len(unreadable) > 5:
        warnings.append(f"{len(unreadable) - 5} more pages could not be read.")
    return None, warnings


def _pages_phrase(numbers: Sequence[int]) -> str:
    return f"Page{'s' if len(numbers) > 1 else ''} {compress_pages(numbers)}"


def _unread_scans(scanned: Sequence[int], ocr_errors: Sequence[tuple[int, str]]) -> str:
    """What could not be read of the scanned pages, and why, naming the pages."""
    if not scanned:
        return ""
    were = "were" if len(scanned) > 1 else "was"
    reasons = {error for number, error in ocr_errors if number in set(scanned)}
    if reasons == {ocr.missing_message()}:
        return (
            f"{_pages_phrase(scanned)} {were} scanned (images without a text layer) and could "
            f"not be read. {ocr.missing_message()}"
        )
    if not reasons:
        return (
            f"{_pages_phrase(scanned)} {were} scanned (images without a text layer) and OCR "
            "found no text on them."
        )
    first = sorted(reasons)[0]
    return (
        f"{_pages_phrase(scanned)} {were} scanned (images without a text layer) and could "
        f"not be read: {first}"
    )


def _paper_metadata(document: Document) -> dict[str, Any]:
    """Title, authors, year, DOI and abstract read from a PDF's metadata and first page
    (research/library/metadata.py), unless they were imported or edited by hand."""
    if not document.metadata_from_file or document.file_type != Document.FileType.PDF:
        return {}
    first_page = (
        Page.objects.filter(document_id=document.pk, number__lte=2)
        .order_by("number")
        .values_list("text", flat=True)
    )
    text = next((page for page in first_page if len(page.strip()) >= MIN_PAGE_CHARS), "")
    found = paper_metadata(
        pdf_metadata=document.metadata,
        first_page=text,
        file_stem=Path(document.original_name).stem,
    )
    stem = Path(document.original_name).stem
    pdf_title = document.metadata.get("title", "")
    fallback = stem if pdf_title and not usable_pdf_title(pdf_title, file_stem=stem) else ""
    return {
        "title": found.title or fallback or document.title,
        "authors": found.authors,
        "year": found.year,
        "doi": found.doi,
        "abstract": found.abstract,
        "metadata_source": Document.MetadataSource.FILE,
    }


def document_finish_extraction(*, document_id: int, attempt: int, worker: str = "") -> bool:
    """When every range is done: totals, warnings about textless pages, then chunking."""
    with transaction.atomic():
        document = Document.fenced(document_id, attempt, Stage.EXTRACTING).first()
        if document is None:
            return False
        parts = list(ExtractionPart.objects.filter(document_id=document_id))
        if not parts or any(p.status != ExtractionPart.Status.DONE for p in parts):
            return False  # a part is still running, or failed and stopped the run
        totals = Page.objects.filter(document_id=document_id).aggregate(tokens=Sum("token_count"))
        error, warnings = _extraction_outcome(document, [p.notes for p in parts])
        if error is not None:
            document_fail(
                document_id=document_id, attempt=attempt, code=error.code, message=error.message
            )
            return False
        return bool(
            Document.fenced(document_id, attempt, Stage.EXTRACTING).update(
                **_paper_metadata(document),
                stage=Stage.CHUNKING,
                worker=worker,
                token_count=totals["tokens"] or 0,
                warnings=warnings,
                pdf_password="",
                progress=PROGRESS[Stage.CHUNKING],
                heartbeat_at=timezone.now(),
                status_message=STATUS[Stage.CHUNKING],
            )
        )


# --- Chunking and indexing ------------------------------------------------------------------


def document_chunk(*, document_id: int, attempt: int, worker: str = "") -> bool:
    """Replace the document's chunks with page-anchored, token-sized ones."""
    if not Document.fenced(document_id, attempt, Stage.CHUNKING).update(
        heartbeat_at=timezone.now(), worker=worker
    ):
        return False
    rows = list(
        Page.objects.filter(document_id=document_id)
        .order_by("number")
        .values_list("number", "text", "token_count")
    )
    known = {text: tokens for _number, text, tokens in rows}

    def count(text: str) -> int:  # pages were counted during extraction
        return known[text] if text in known else count_tokens(text)

    drafts = chunk_pages([PageText(number, text) for number, text, _ in rows], count=count)
    with transaction.atomic():
        if not Document.fenced(document_id, attempt, Stage.CHUNKING).update(
            stage=Stage.INDEXING,
            chunk_count=len(drafts),
            progress=PROGRESS[Stage.INDEXING],
            heartbeat_at=timezone.now(),
            status_message=STATUS[Stage.INDEXING],
        ):
            return False
        chunk_unindex_document(document_id=document_id)
        Chunk.objects.filter(document_id=document_id).delete()
        Chunk.objects.bulk_create(
            (
                Chunk(
                    document_id=document_id,
                    ordinal=draft.ordinal,
                    text=draft.text,
                    token_count=draft.token_count,
                    page_start=draft.page_start,
                    page_end=draft.page_end,
                )
                for draft in drafts
            ),
            batch_size=500,
        )
    return True


def document_index(*, document_id: int, attempt: int, worker: str = "") -> bool:
    with transaction.atomic():
        if not Document.fenced(document_id, attempt, Stage.INDEXING).update(
            stage=Stage.SUMMARIZING,
            indexed_at=timezone.now(),
            summary_status=SummaryStatus.PENDING,
            summaries_done=0,
            progress=PROGRESS[Stage.SUMMARIZING],
            heartbeat_at=timezone.now(),
            worker=worker,
            status_message=STATUS[Stage.SUMMARIZING],
        ):
            return False
        chunk_index_document(document_id=document_id)
    return True


# --- Summaries ----------------------------------------------------------------------------


def document_summary_plan(*, document_id: int, attempt: int, worker: str = "") -> list[int] | None:
    """The chunks still without a summary; None when the run is stale."""
    done = Chunk.objects.filter(document_id=document_id).exclude(summary="").count()
    if not Document.fenced(document_id, attempt, Stage.SUMMARIZING).update(
        summary_status=SummaryStatus.RUNNING,
        heartbeat_at=timezone.now(),
        worker=worker,
        summaries_done=done,
    ):
        return None
    return list(
        Chunk.objects.filter(document_id=document_id, summary="")
        .order_by("ordinal")
        .values_list("id", flat=True)
    )


def _summary_progress(document: Document) -> tuple[float, int, str]:
    """(overall progress, passages summarized, status): the card's summary bar is the
    passages summarized out of all (document_card.html), nothing before the first."""
    done = Chunk.objects.filter(document_id=document.pk).exclude(summary="").count()
    total = max(1, document.chunk_count)
    span = 0.97 - PROGRESS[Stage.SUMMARIZING]
    return (
        PROGRESS[Stage.SUMMARIZING] + span * done / total,
        done,
        f"Summarizing: {done} of {document.chunk_count} passages done",
    )


def chunk_summarize(
    *, document_id: int, attempt: int, chunk_id: int, runtime: ModelRuntime, worker: str = ""
) -> bool:
    """Summarize one chunk (the map step). Raises the runtime's errors for the task."""
    document = Document.fenced(document_id, attempt, Stage.SUMMARIZING).first()
    chunk = Chunk.objects.filter(pk=chunk_id, document_id=document_id).first()
    if document is None or chunk is None:
        return False
    if chunk.summary:
        return True
    Chunk.objects.filter(pk=chunk_id, summary="").update(summary_worker=worker)
    page_texts = dict(
        Page.objects.filter(
            document_id=document_id, number__range=(chunk.page_start, chunk.page_end)
        ).values_list("number", "text")
    )
    marked = document_summary.mark_pages(
        chunk.text, page_start=chunk.page_start, page_end=chunk.page_end, page_texts=page_texts
    )
    summary = document_summary.summarize_chunk(
        runtime,
        title=document.title,
        marked_text=marked,
        page_start=chunk.page_start,
        page_end=chunk.page_end,
    )
    with transaction.atomic():
        if not Document.fenced(document_id, attempt, Stage.SUMMARIZING).update(
            heartbeat_at=timezone.now()
        ):
            return False
        Chunk.objects.filter(pk=chunk_id, summary="").update(summary=summary)
        progress, done, message = _summary_progress(document)
        Document.fenced(document_id, attempt, Stage.SUMMARIZING).update(
            progress=progress,
            summaries_done=done,
            status_message=message,
            summary_status=SummaryStatus.RUNNING,
            summary_retry_at=None,
        )
    return True


def document_summary_reduce(
    *, document_id: int, attempt: int, runtime: ModelRuntime, worker: str = ""
) -> bool:
    """Reduce the chunk summaries to the document's summary (in rounds if needed); ready."""
    document = Document.fenced(document_id, attempt, Stage.SUMMARIZING).first()
    if document is None:
        return False
    rows = list(
        Chunk.objects.filter(document_id=document_id)
        .order_by("ordinal")
        .values_list("page_start", "page_end", "summary")
    )
    if any(not summary for _start, _end, summary in rows):
        return False  # a map task gave up; the document already says why
    Document.fenced(document_id, attempt, Stage.SUMMARIZING).update(
        heartbeat_at=timezone.now(), worker=worker, status_message="Writing the document summary"
    )
    items = [document_summary.SummaryItem(start, end, summary) for start, end, summary in rows]
    text, rounds = document_summary.reduce_summaries(
        runtime, title=document.title, page_count=document.page_count, items=items
    )
    metadata = {**document.metadata, "summary rounds": rounds}
    return bool(
        Document.fenced(document_id, attempt, Stage.SUMMARIZING).update(
            stage=Stage.READY,
            summary=text,
            summary_status=SummaryStatus.DONE,
            summary_retries=0,
            summary_retry_at=None,
            metadata=metadata,
            progress=PROGRESS[Stage.READY],
            status_message="",
            heartbeat_at=None,
            worker="",
            finished_at=timezone.now(),
        )
    )


def document_summary_waiting(
    *,
    document_id: int,
    attempt: int,
    error: str,
    retry_in: float,
    retry_number: int,
    max_retries: int,
) -> None:
    """The model is unreachable: say so, and when the next try is."""
    retry_at = timezone.now() + timedelta(seconds=retry_in)
    Document.fenced(document_id, attempt, Stage.SUMMARIZING).update(
        summary_status=SummaryStatus.WAITING,
        summary_retries=retry_number,
        summary_retry_at=retry_at,
        heartbeat_at=retry_at + timedelta(minutes=2),
        status_message=_short(
            f"Waiting for the model: {error} Retry {retry_number} of {max_retries} in "
            f"{round(retry_in)} s. The text is already extracted and searchable."
        ),
    )


def document_summary_failed(*, document_id: int, attempt: int, error: str) -> None:
    document_fail(
        document_id=document_id,
        attempt=attempt,
        code=ErrorCode.SUMMARY_FAILED,
        message=(
            f"Summarizing failed: {error} The text is extracted and searchable; "
            "use Retry to summarize again."
        ),
    )
