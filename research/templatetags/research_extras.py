"""Template helpers for research pages."""

from __future__ import annotations

from django import template

from research.library.reading import Piece
from research.library.selectors import document_summary_pieces
from research.models import Document

register = template.Library()


@register.filter
def summary_pieces(document: Document) -> list[Piece]:
    """A document's summary, its [p. N] citations as pieces that link to pages."""
    return document_summary_pieces(document=document)
