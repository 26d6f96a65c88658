"""Template helpers for research pages."""

from __future__ import annotations

from django import template
from django.template import Context

from research import access
from research.library.pipeline import compress_pages
from research.library.reading import Piece
from research.library.selectors import document_summary_pieces, ocr_page_numbers
from research.models import Document, Project

register = template.Library()


@register.filter
def summary_pieces(document: Document) -> list[Piece]:
    """A document's summary, its [p. N] citations as pieces that link to pages."""
    return document_summary_pieces(document=document)


@register.simple_tag(takes_context=True)
def project_writable(context: Context, project: Project) -> bool:
    """Whether the person viewing the page may change `project` (the template shows its
    edit controls only then; the views refuse the rest anyway)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    return access.project_writable_for_user(user=user, project=project)


@register.simple_tag(takes_context=True)
def ocr_pages(context: Context, document_id: int, ranges: list[list[int]]) -> str:
    """Which of `ranges` ([[first, last], ...]) of a document were read by OCR, as "2-3, 7"
    ("" for none). One query per document per rendered page (cached in the render)."""
    cache: dict[int, set[int]] = context.render_context.get("ocr_pages") or {}
    context.render_context["ocr_pages"] = cache
    if document_id not in cache:
        cache[document_id] = set(ocr_page_numbers(document_id=document_id))
    scanned = cache[document_id]
    inside = [n for first, last in ranges for n in range(first, last + 1) if n in scanned]
    return compress_pages(inside)
