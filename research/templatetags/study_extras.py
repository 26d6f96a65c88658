"""Template helpers for the study tools (the project page's study block)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from research.cloze import cloze_deletions
from research.models import Project
from research.study.selectors import study_overview

register = template.Library()


@register.inclusion_tag("research/study/partials/project_study.html")
def study_block(project: Project) -> dict[str, Any]:
    """Links to the study tools and the number of cards due, for the project page."""
    return {"project": project, "overview": study_overview(project=project)}


@register.filter
def cloze_marked(text: str) -> SafeString:
    """A cloze text with each {{c1::deletion}} shown as a highlighted span."""
    return format_html_join(
        "",
        "{}{}",
        (
            (piece, format_html('<mark class="cloze">{}</mark>', hidden) if hidden else "")
            for piece, hidden in _cloze_pieces(text)
        ),
    )


def _cloze_pieces(text: str) -> list[tuple[str, str]]:
    pieces: list[tuple[str, str]] = []
    position = 0
    for deletion in cloze_deletions(text):
        pieces.append((text[position : deletion.start], deletion.answer))
        position = deletion.end
    pieces.append((text[position:], ""))
    return pieces
