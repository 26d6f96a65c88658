"""Flashcards: the list with its filters, generating, writing and editing by hand, exports."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from research.access import project_for_request, row_for_request
from research.library.selectors import ready_document_list_for_project
from research.models import Project, StudyJob
from research.qa.selectors import answer_get_for_user
from research.study import exports, review, selectors
from research.study import services as study_services
from research.study.forms import AnswerCardsForm, FlashcardForm, FlashcardGenerateForm, parse_tags
from research.study.generators import flashcards
from research.study.views.common import (
    can_edit,
    int_or_none,
    project_for_change,
    refused,
    row_for_change,
    slug,
    started,
)
from workspace.http import AuthedRequest, attachment


def _flashcard_page(
    request: AuthedRequest,
    project: Project,
    *,
    form: FlashcardGenerateForm | None = None,
    answer_form: AnswerCardsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    documents = ready_document_list_for_project(project=project)
    answers = selectors.answer_list_for_project(project=project)
    tag = request.GET.get("tag", "")
    document_id = int_or_none(request.GET.get("document"))
    context = {
        "project": project,
        "cards": selectors.flashcard_list_for_project(
            project=project, tag=tag, document_id=document_id
        ),
        "tags": selectors.tag_list_for_project(project=project),
        "documents": documents,
        "chosen_tag": tag,
        "chosen_document": document_id,
        "form": form or FlashcardGenerateForm(documents=documents),
        "answer_form": answer_form or AnswerCardsForm(answers=answers),
        "answers": answers,
        "jobs": selectors.job_list_for_project(project=project, kind=StudyJob.Kind.FLASHCARDS),
        "due": review.due_count(project=project),
        "can_edit": can_edit(request, project),
    }
    return render(request, "research/study/flashcards.html", context, status=status)


@require_GET
def flashcard_list(request: AuthedRequest, project_id: int) -> HttpResponse:
    return _flashcard_page(request, project_for_request(request, project_id))


@require_POST
def flashcard_generate(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = project_for_request(request, project_id)
    documents = ready_document_list_for_project(project=project)
    form = FlashcardGenerateForm(request.POST, documents=documents)
    if not form.is_valid():
        return _flashcard_page(request, project, form=form, status=400)
    data = form.cleaned_data
    chosen = list(documents) if data["scope"] == "project" else [data["document"]]
    if not chosen:
        messages.warning(request, "No document is ready yet: upload one and wait for it.")
        return redirect("research:study:flashcard_list", project_id=project.pk)
    url = reverse("research:study:flashcard_list", args=[project.pk])
    try:
        job = study_services.flashcards_generate(
            project=project,
            user=request.user,
            documents=chosen,
            pages=form.page_range(),
            count=data["count"],
            kinds=data["kinds"],
            tags=parse_tags(data["tags"]),
            method=data["method"],
        )
    except study_services.TooManyJobs as exc:
        return refused(request, exc, url)
    return started(request, job, url)


@require_POST
def flashcard_generate_from_answer(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = project_for_request(request, project_id)
    answers = selectors.answer_list_for_project(project=project)
    form = AnswerCardsForm(request.POST, answers=answers)
    if not form.is_valid():
        return _flashcard_page(request, project, answer_form=form, status=400)
    answer_id = form.cleaned_data["answer"].pk
    answer = row_for_request(request, answer_get_for_user, "answer", answer_id=answer_id)
    url = reverse("research:study:flashcard_list", args=[project.pk])
    try:
        job = study_services.flashcards_generate_from_answer(
            answer=answer,
            user=request.user,
            count=form.cleaned_data["count"],
            kinds=form.cleaned_data["kinds"],
            tags=parse_tags(form.cleaned_data["tags"]),
            method=form.cleaned_data["method"],
        )
    except study_services.TooManyJobs as exc:
        return refused(request, exc, url)
    return started(request, job, url)


@require_http_methods(["GET", "POST"])
def flashcard_create(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = project_for_change(request, project_id)
    documents = project.documents.order_by("created_at", "id")
    form = FlashcardForm(request.POST or None, documents=documents)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        flashcards.flashcard_create(
            project=project,
            kind=data["kind"],
            front=data["front"],
            back=data["back"],
            document=data["document"],
            pages=data["pages"],
            tags=parse_tags(data["tags"]),
        )
        messages.success(request, "Card added.")
        return redirect("research:study:flashcard_list", project_id=project.pk)
    context = {"project": project, "form": form, "card": None}
    return render(request, "research/study/flashcard_form.html", context)


@require_http_methods(["GET", "POST"])
def flashcard_edit(request: AuthedRequest, card_id: int) -> HttpResponse:
    card = row_for_change(request, selectors.flashcard_get_for_user, "card", card_id=card_id)
    documents = card.project.documents.order_by("created_at", "id")
    form = FlashcardForm(
        request.POST or None, documents=documents, initial=FlashcardForm.initial_for(card)
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        flashcards.flashcard_update(
            card=card,
            kind=data["kind"],
            front=data["front"],
            back=data["back"],
            document=data["document"],
            pages=data["pages"],
            tags=parse_tags(data["tags"]),
        )
        messages.success(request, "Card saved.")
        return redirect(
            reverse("research:study:flashcard_list", args=[card.project_id]) + f"#card-{card.pk}"
        )
    context = {"project": card.project, "form": form, "card": card}
    return render(request, "research/study/flashcard_form.html", context)


@require_POST
def flashcard_delete(request: AuthedRequest, card_id: int) -> HttpResponse:
    card = row_for_request(request, selectors.flashcard_get_for_user, "card", card_id=card_id)
    flashcards.flashcard_delete(card=card)
    if request.htmx:
        return HttpResponse("")
    messages.success(request, "Card deleted.")
    return redirect("research:study:flashcard_list", project_id=card.project_id)


EXPORTERS: dict[str, tuple[str, str]] = {
    "apkg": ("apkg", "application/apkg"),
    "csv": ("csv", "text/csv; charset=utf-8"),
    "tsv": ("tsv", "text/tab-separated-values; charset=utf-8"),
    "md": ("md", "text/markdown; charset=utf-8"),
}


@require_GET
def flashcard_export(request: AuthedRequest, project_id: int, fmt: str) -> HttpResponse:
    project = project_for_request(request, project_id)
    if fmt not in EXPORTERS:
        raise Http404("No such format.")
    cards = selectors.flashcard_list_for_project(
        project=project,
        tag=request.GET.get("tag", ""),
        document_id=int_or_none(request.GET.get("document")),
    )
    content: str | bytes
    if fmt == "apkg":
        content = exports.flashcards_apkg(project=project, cards=cards)
    elif fmt == "md":
        content = exports.flashcards_markdown(project=project, cards=cards)
    else:
        delimiter = "\t" if fmt == "tsv" else ","
        content = exports.flashcards_delimited(project=project, cards=cards, delimiter=delimiter)
    extension, content_type = EXPORTERS[fmt]
    filename = f"{slug(project.title)}-flashcards.{extension}"
    return attachment(content, filename=filename, content_type=content_type)
