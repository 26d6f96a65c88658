"""Reviewing flashcards with spaced repetition, one card at a time."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from research.access import project_for_request, row_for_request
from research.study import review, selectors
from research.study.forms import GradeForm
from research.study.views.common import can_edit
from workspace.http import AuthedRequest

REVIEW_PARTIAL = "research/study/partials/review_card.html"


@require_GET
def review_page(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = project_for_request(request, project_id)
    view = selectors.review_view(project=project, show=bool(request.GET.get("show")))
    context = {
        "project": project,
        "view": view,
        "oob_due": bool(request.htmx),
        "can_edit": can_edit(request, project),
    }
    template = REVIEW_PARTIAL if request.htmx else "research/study/review.html"
    return render(request, template, context)


@require_POST
def flashcard_grade(request: AuthedRequest, card_id: int) -> HttpResponse:
    card = row_for_request(request, selectors.flashcard_get_for_user, "card", card_id=card_id)
    form = GradeForm(request.POST)
    if form.is_valid():
        review.card_review(
            card=card,
            rating=form.cleaned_data["rating"],
            duration_ms=form.cleaned_data.get("duration_ms"),
        )
    else:
        messages.error(request, "Choose Again, Hard, Good or Easy.")
    project = card.project
    if request.htmx:
        view = selectors.review_view(project=project)
        context = {"project": project, "view": view, "oob_due": True, "can_edit": True}
        return render(request, REVIEW_PARTIAL, context)
    return redirect("research:study:review", project_id=project.pk)
