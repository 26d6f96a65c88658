"""Helpers for the ingestion tests: uploads from disk, generated PDFs."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from pypdf import PdfWriter

from research.library import services
from research.models import Document, Project


def file_from(path: Path, name: str | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name or path.name, path.read_bytes())


def file_of(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def blank_pdf(pages: int = 2) -> bytes:
    """A PDF whose pages have no text layer at all."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def repeated_pdf(source: Path, times: int) -> bytes:
    """A long real PDF: `source` appended to itself `times` times."""
    writer = PdfWriter()
    for _ in range(times):
        writer.append(str(source))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def upload(
    project: Project, user, files: Sequence[SimpleUploadedFile], capture
) -> list[services.UploadOutcome]:
    """Upload and run whatever the upload queued (inline when eager_celery is on)."""
    with capture(execute=True):
        return services.document_upload(project=project, uploaded_by=user, files=files)


def by_name(project: Project) -> dict[str, Document]:
    return {d.original_name: d for d in Document.objects.filter(project=project)}


def indexed_rows(document: Document) -> int:
    """How many of the document's chunks are in the keyword index."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT count(*) FROM research_chunk_fts WHERE rowid IN "
                "(SELECT id FROM research_chunk WHERE document_id = %s)",
                [document.pk],
            )
        else:
            cursor.execute(
                "SELECT count(*) FROM research_chunk WHERE document_id = %s "
                "AND search_vector IS NOT NULL",
                [document.pk],
            )
        return cursor.fetchone()[0]


def scanned_pdf(source: Path, *, dpi: int = 150, pages: int | None = None) -> bytes:
    """`source` as a scanner would give it back: every page an image, no text layer (the
    first `pages` only, when given). The OCR tests and bench.ocr make their scans with it."""
    import pypdfium2 as pdfium

    original = pdfium.PdfDocument(str(source))
    scan = pdfium.PdfDocument.new()
    for index in range(min(len(original), pages or len(original))):
        page = original[index]
        width, height = page.get_size()
        bitmap = page.render(scale=dpi / 72, grayscale=True)
        new_page = scan.new_page(width, height)
        image = pdfium.PdfImage.new(scan)
        image.set_bitmap(bitmap)
        image.set_matrix(pdfium.PdfMatrix().scale(width, height))
        new_page.insert_obj(image)
        new_page.gen_content()
    out = io.BytesIO()
    scan.save(out)
    return out.getvalue()
