"""Template helpers for research pages."""

from __future__ import annotations

from django import template
from django.template import Context

from research import access
from research.library.reading import Piece
from research.library.selectors import document_summary_pieces
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
