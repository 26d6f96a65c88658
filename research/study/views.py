"""Study pages: flashcards and their review, timelines, comparisons, summaries, exports,
and the progress of generation jobs.

Every object is loaded through a selector that filters by access (research/access.py),
so another person's id is a 404; a POST needs an editor or the owner (a viewer gets 403).
Generators run in Celery; a page shows each job's progress and polls it with htmx (or
the reader reloads without JavaScript).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from research.access import request_writes
from research.models import (
    Answer,
    Comparison,
    ComparisonCell,
    Digest,
    Flashcard,
    Project,
    StudyJob,
    TimelineEvent,
)
from research.qa.selectors import answer_segments
from research.study import exports, review, selectors
from research.study import services as study_services
from research.study.forms import (
    AnswerCardsForm,
    CellForm,
    ComparisonForm,
    DigestEditForm,
    DigestForm,
    EventForm,
    FlashcardForm,
    FlashcardGenerateForm,
    GradeForm,
    TimelineGenerateForm,
    pages_text,
)
from research.study.generators import comparisons, digests, flashcards, timelines
from workspace.http import AuthedRequest

JOB_PARTIAL = "research/study/partials/job.html"
REVIEW_PARTIAL = "research/study/partials/review_card.html"


def _found(value: Any, what: str) -> Any:
    if value is None:
        raise Http404(f"No such {what}.")
    return value


def _writes(request: AuthedRequest) -> bool:
    """A POST changes the project: an editor's or the owner's (a viewer gets 403)."""
    return request_writes(request)


def _project(request: AuthedRequest, project_id: int) -> Project:
    found = selectors.project_get_for_user(
        user=request.user, project_id=project_id, write=_writes(request)
    )
    return _found(found, "project")


def _card(request: AuthedRequest, card_id: int) -> Flashcard:
    found = selectors.flashcard_get_for_user(
        user=request.user, card_id=card_id, write=_writes(request)
    )
    return _found(found, "card")


def _event(request: AuthedRequest, event_id: int) -> TimelineEvent:
    found = selectors.event_get_for_user(
        user=request.user, event_id=event_id, write=_writes(request)
    )
    return _found(found, "event")


def _comparison(request: AuthedRequest, comparison_id: int) -> Comparison:
    found = selectors.comparison_get_for_user(
        user=request.user, comparison_id=comparison_id, write=_writes(request)
    )
    return _found(found, "comparison")


def _digest(request: AuthedRequest, digest_id: int) -> Digest:
    writes = _writes(request)
    found = selectors.digest_get_for_user(user=request.user, digest_id=digest_id, write=writes)
    return _found(found, "summary")


def _download(content: str | bytes, *, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _slug(text: str) -> str:
    return slugify(text)[:60] or "carrel"


# -- overview and jobs ---------------------------------------------------------------------------


@require_GET
def study_home(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    context = {
        "project": project,
        "overview": selectors.study_overview(project=project),
        "documents": selectors.ready_document_list_for_project(project=project),
    }
    return render(request, "research/study/home.html", context)


def _tool_url(job: StudyJob) -> str:
    if job.kind == StudyJob.Kind.COMPARISON and job.comparison_id:
        return reverse("study:comparison_detail", args=[job.comparison_id])
    if job.kind == StudyJob.Kind.DIGEST and job.digest_id:
        return reverse("study:digest_detail", args=[job.digest_id])
    name = "study:timeline" if job.kind == StudyJob.Kind.TIMELINE else "study:flashcard_list"
    return reverse(name, args=[job.project_id])


@require_GET
def job_detail(request: AuthedRequest, job_id: int) -> HttpResponse:
    """A job's progress (polled by htmx); when it stops, the page reloads to show the
    results. Without htmx: back to the page the job belongs to."""
    found = selectors.job_get_for_user(user=request.user, job_id=job_id, write=_writes(request))
    job = _found(found, "job")
    if not request.htmx:
        return redirect(_tool_url(job))
    response = render(request, JOB_PARTIAL, {"job": job})
    if not job.is_active and request.GET.get("polling"):
        response["HX-Refresh"] = "true"
    return response


@require_POST
def job_retry(request: AuthedRequest, job_id: int) -> HttpResponse:
    found = selectors.job_get_for_user(user=request.user, job_id=job_id, write=_writes(request))
    job = _found(found, "job")
    if not study_services.job_retry(job=job):
        messages.info(request, "This job is not failed or stuck, so there is nothing to retry.")
    if request.htmx:
        job.refresh_from_db()
        return render(request, JOB_PARTIAL, {"job": job})
    return redirect(_tool_url(job))


def _started(request: AuthedRequest, job: StudyJob, url: str) -> HttpResponse:
    messages.success(request, f"Generating {job.get_kind_display().lower()} from {job.label}.")
    return redirect(url)


# -- flashcards ---------------------------------------------------------------------------------


def _flashcard_page(
    request: AuthedRequest,
    project: Project,
    *,
    form: FlashcardGenerateForm | None = None,
    answer_form: AnswerCardsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    documents = selectors.ready_document_list_for_project(project=project)
    answers = selectors.answer_list_for_project(project=project)
    tag = request.GET.get("tag", "")
    document_id = _int(request.GET.get("document"))
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
    }
    return render(request, "research/study/flashcards.html", context, status=status)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@require_GET
def flashcard_list(request: AuthedRequest, project_id: int) -> HttpResponse:
    return _flashcard_page(request, _project(request, project_id))


@require_POST
def flashcard_generate(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    documents = selectors.ready_document_list_for_project(project=project)
    form = FlashcardGenerateForm(request.POST, documents=documents)
    if not form.is_valid():
        return _flashcard_page(request, project, form=form, status=400)
    data = form.cleaned_data
    chosen = list(documents) if data["scope"] == "project" else [data["document"]]
    if not chosen:
        messages.warning(request, "No document is ready yet: upload one and wait for it.")
        return redirect("study:flashcard_list", project_id=project.pk)
    job = study_services.flashcards_generate(
        project=project,
        user=request.user,
        documents=chosen,
        pages=form.page_range(),
        count=data["count"],
        kinds=data["kinds"],
        tags=_tags(data["tags"]),
    )
    return _started(request, job, reverse("study:flashcard_list", args=[project.pk]))


def _tags(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


@require_POST
def flashcard_generate_from_answer(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    answers = selectors.answer_list_for_project(project=project)
    form = AnswerCardsForm(request.POST, answers=answers)
    if not form.is_valid():
        return _flashcard_page(request, project, answer_form=form, status=400)
    answer = _found(
        selectors.answer_get_for_user(
            user=request.user, answer_id=form.cleaned_data["answer"].pk, write=True
        ),
        "answer",
    )
    job = study_services.flashcards_generate_from_answer(
        answer=answer,
        user=request.user,
        count=form.cleaned_data["count"],
        kinds=form.cleaned_data["kinds"],
        tags=_tags(form.cleaned_data["tags"]),
    )
    return _started(request, job, reverse("study:flashcard_list", args=[project.pk]))


@require_http_methods(["GET", "POST"])
def flashcard_create(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
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
            tags=_tags(data["tags"]),
        )
        messages.success(request, "Card added.")
        return redirect("study:flashcard_list", project_id=project.pk)
    context = {"project": project, "form": form, "card": None}
    return render(request, "research/study/flashcard_form.html", context)


@require_http_methods(["GET", "POST"])
def flashcard_edit(request: AuthedRequest, card_id: int) -> HttpResponse:
    card = _card(request, card_id)
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
            tags=_tags(data["tags"]),
        )
        messages.success(request, "Card saved.")
        return redirect(
            reverse("study:flashcard_list", args=[card.project_id]) + f"#card-{card.pk}"
        )
    context = {"project": card.project, "form": form, "card": card}
    return render(request, "research/study/flashcard_form.html", context)


@require_POST
def flashcard_delete(request: AuthedRequest, card_id: int) -> HttpResponse:
    card = _card(request, card_id)
    flashcards.flashcard_delete(card=card)
    if request.htmx:
        return HttpResponse("")
    messages.success(request, "Card deleted.")
    return redirect("study:flashcard_list", project_id=card.project_id)


EXPORTERS: dict[str, tuple[str, str]] = {
    "apkg": ("apkg", "application/apkg"),
    "csv": ("csv", "text/csv; charset=utf-8"),
    "tsv": ("tsv", "text/tab-separated-values; charset=utf-8"),
    "md": ("md", "text/markdown; charset=utf-8"),
}


@require_GET
def flashcard_export(request: AuthedRequest, project_id: int, fmt: str) -> HttpResponse:
    project = _project(request, project_id)
    if fmt not in EXPORTERS:
        raise Http404("No such format.")
    cards = selectors.flashcard_list_for_project(
        project=project,
        tag=request.GET.get("tag", ""),
        document_id=_int(request.GET.get("document")),
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
    filename = f"{_slug(project.title)}-flashcards.{extension}"
    return _download(content, filename=filename, content_type=content_type)


# -- review -----------------------------------------------------------------------------------


@require_GET
def review_page(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    view = selectors.review_view(project=project, show=bool(request.GET.get("show")))
    context = {"project": project, "view": view, "oob_due": bool(request.htmx)}
    template = REVIEW_PARTIAL if request.htmx else "research/study/review.html"
    return render(request, template, context)


@require_POST
def flashcard_grade(request: AuthedRequest, card_id: int) -> HttpResponse:
    card = _card(request, card_id)
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
        context = {"project": project, "view": view, "oob_due": True}
        return render(request, REVIEW_PARTIAL, context)
    return redirect("study:review", project_id=project.pk)


# -- timeline --------------------------------------------------------------------------------


def _timeline_page(
    request: AuthedRequest,
    project: Project,
    *,
    form: TimelineGenerateForm | None = None,
    status: int = 200,
) -> HttpResponse:
    documents = selectors.ready_document_list_for_project(project=project)
    tag = request.GET.get("tag", "")
    document_id = _int(request.GET.get("document"))
    events = list(
        selectors.event_list_for_project(project=project, document_id=document_id, tag=tag)
    )
    context = {
        "project": project,
        "events": selectors.event_views(events),
        "layout": selectors.timeline_layout(events),
        "documents": project.documents.order_by("created_at", "id"),
        "tags": selectors.tag_list_for_project(project=project),
        "chosen_tag": tag,
        "chosen_document": document_id,
        "form": form or TimelineGenerateForm(documents=documents),
        "jobs": selectors.job_list_for_project(project=project, kind=StudyJob.Kind.TIMELINE),
        "filters": request.GET.urlencode(),
    }
    return render(request, "research/study/timeline.html", context, status=status)


@require_GET
def timeline(request: AuthedRequest, project_id: int) -> HttpResponse:
    return _timeline_page(request, _project(request, project_id))


@require_POST
def timeline_generate(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    documents = selectors.ready_document_list_for_project(project=project)
    form = TimelineGenerateForm(request.POST, documents=documents)
    if not form.is_valid():
        return _timeline_page(request, project, form=form, status=400)
    chosen = list(form.cleaned_data["documents"]) or list(documents)
    if not chosen:
        messages.warning(request, "No document is ready yet: upload one and wait for it.")
        return redirect("study:timeline", project_id=project.pk)
    job = study_services.timeline_generate(
        project=project,
        user=request.user,
        documents=chosen,
        count=form.cleaned_data["count"],
        tags=_tags(form.cleaned_data["tags"]),
    )
    return _started(request, job, reverse("study:timeline", args=[project.pk]))


def _event_form_page(
    request: AuthedRequest, project: Project, event: TimelineEvent | None
) -> HttpResponse:
    documents = project.documents.order_by("created_at", "id")
    initial = EventForm.initial_for(event) if event else None
    form = EventForm(request.POST or None, documents=documents, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = timelines.event_save(
            project=project,
            event=event,
            title=data["title"],
            description=data["description"],
            start=data["start"],
            end=data["end"],
            precision=data["precision"],
            tags=_tags(data["tags"]),
            document_id=data["document"].pk if data["document"] else None,
            pages=data["pages"],
        )
        messages.success(request, "Event saved.")
        return redirect(reverse("study:timeline", args=[project.pk]) + f"#event-{saved.pk}")
    context = {"project": project, "form": form, "event": event}
    return render(request, "research/study/event_form.html", context)


@require_http_methods(["GET", "POST"])
def event_create(request: AuthedRequest, project_id: int) -> HttpResponse:
    return _event_form_page(request, _project(request, project_id), None)


@require_http_methods(["GET", "POST"])
def event_edit(request: AuthedRequest, event_id: int) -> HttpResponse:
    event = _event(request, event_id)
    return _event_form_page(request, event.project, event)


@require_POST
def event_delete(request: AuthedRequest, event_id: int) -> HttpResponse:
    event = _event(request, event_id)
    timelines.event_delete(event=event)
    messages.success(request, "Event deleted.")
    return redirect("study:timeline", project_id=event.project_id)


TIMELINE_EXPORTS: dict[str, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
}


@require_GET
def timeline_export(request: AuthedRequest, project_id: int, fmt: str) -> HttpResponse:
    project = _project(request, project_id)
    if fmt not in TIMELINE_EXPORTS:
        raise Http404("No such format.")
    events = selectors.event_list_for_project(
        project=project,
        document_id=_int(request.GET.get("document")),
        tag=request.GET.get("tag", ""),
    )
    content = {
        "json": lambda: exports.timeline_json(project=project, events=events),
        "csv": lambda: exports.timeline_csv(events=events),
        "md": lambda: exports.timeline_markdown(project=project, events=events),
    }[fmt]()
    filename = f"{_slug(project.title)}-timeline.{fmt}"
    return _download(content, filename=filename, content_type=TIMELINE_EXPORTS[fmt])


# -- comparisons --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def comparison_list(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    documents = selectors.ready_document_list_for_project(project=project)
    form = ComparisonForm(request.POST or None, documents=documents)
    if request.method == "POST" and form.is_valid():
        job = study_services.comparison_start(
            project=project,
            user=request.user,
            title=form.cleaned_data["title"],
            documents=list(form.cleaned_data["documents"]),
            aspects=ComparisonForm.aspect_list(form.cleaned_data),
        )
        assert job.comparison_id is not None
        return _started(request, job, reverse("study:comparison_detail", args=[job.comparison_id]))
    context = {
        "project": project,
        "comparisons": selectors.comparison_list_for_project(project=project),
        "form": form,
        "documents": documents,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "research/study/comparisons.html", context, status=status)


@require_GET
def comparison_detail(request: AuthedRequest, comparison_id: int) -> HttpResponse:
    comparison = _comparison(request, comparison_id)
    documents, rows = selectors.comparison_table(comparison=comparison)
    context = {
        "project": comparison.project,
        "comparison": comparison,
        "documents": documents,
        "rows": rows,
        "jobs": list(comparison.jobs.order_by("-id")[:3]),
    }
    return render(request, "research/study/comparison_detail.html", context)


@require_POST
def comparison_regenerate(request: AuthedRequest, comparison_id: int) -> HttpResponse:
    comparison = _comparison(request, comparison_id)
    job = study_services.comparison_fill(comparison=comparison, user=request.user)
    return _started(request, job, reverse("study:comparison_detail", args=[comparison.pk]))


@require_http_methods(["GET", "POST"])
def cell_edit(request: AuthedRequest, cell_id: int) -> HttpResponse:
    found = selectors.cell_get_for_user(user=request.user, cell_id=cell_id, write=_writes(request))
    cell: ComparisonCell = _found(found, "cell")
    initial = {"text": cell.text, "pages": pages_text(list(cell.pages))}
    form = CellForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        comparisons.cell_update(
            cell=cell, text=form.cleaned_data["text"], pages=form.cleaned_data["pages"]
        )
        messages.success(request, "Cell saved; regenerating will keep your words.")
        return redirect("study:comparison_detail", comparison_id=cell.comparison_id)
    context = {"project": cell.comparison.project, "cell": cell, "form": form}
    return render(request, "research/study/cell_form.html", context)


@require_GET
def comparison_export(request: AuthedRequest, comparison_id: int, fmt: str) -> HttpResponse:
    comparison = _comparison(request, comparison_id)
    documents = selectors.comparison_documents(comparison=comparison)
    cells = selectors.comparison_cells(comparison=comparison)
    writers: dict[str, tuple[Callable[..., str], str]] = {
        "csv": (exports.comparison_csv, "text/csv; charset=utf-8"),
        "md": (exports.comparison_markdown, "text/markdown; charset=utf-8"),
    }
    if fmt not in writers:
        raise Http404("No such format.")
    writer, content_type = writers[fmt]
    content = writer(comparison=comparison, documents=documents, cells=cells)
    filename = f"{_slug(comparison.title)}.{fmt}"
    return _download(content, filename=filename, content_type=content_type)


# -- summaries ----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def digest_list(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = _project(request, project_id)
    documents = selectors.ready_document_list_for_project(project=project)
    form = DigestForm(request.POST or None, documents=documents)
    if request.method == "POST" and form.is_valid():
        job = study_services.digest_start(
            project=project,
            user=request.user,
            title=form.cleaned_data["title"],
            documents=list(form.cleaned_data["documents"]),
        )
        assert job.digest_id is not None
        return _started(request, job, reverse("study:digest_detail", args=[job.digest_id]))
    context = {
        "project": project,
        "digests": selectors.digest_list_for_project(project=project),
        "summarized": project.documents.exclude(summary="").order_by("created_at", "id"),
        "form": form,
        "documents": documents,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "research/study/summaries.html", context, status=status)


@require_GET
def digest_detail(request: AuthedRequest, digest_id: int) -> HttpResponse:
    digest = _digest(request, digest_id)
    # A digest's body cites pages like an answer does: render it the same way (unsaved).
    segments = answer_segments(answer=Answer(text=digest.body, citations=digest.citations))
    context = {
        "project": digest.project,
        "digest": digest,
        "segments": segments,
        "flagged": [c for c in digest.citations if c.get("flagged")],
        "documents": selectors.digest_documents(digest=digest),
        "jobs": list(digest.jobs.order_by("-id")[:3]),
    }
    return render(request, "research/study/digest_detail.html", context)


@require_http_methods(["GET", "POST"])
def digest_edit(request: AuthedRequest, digest_id: int) -> HttpResponse:
    digest = _digest(request, digest_id)
    form = DigestEditForm(
        request.POST or None, initial={"title": digest.title, "body": digest.body}
    )
    if request.method == "POST" and form.is_valid():
        digests.digest_update(
            digest=digest, title=form.cleaned_data["title"], body=form.cleaned_data["body"]
        )
        messages.success(request, "Summary saved; it will not be regenerated over.")
        return redirect("study:digest_detail", digest_id=digest.pk)
    context = {"project": digest.project, "digest": digest, "form": form}
    return render(request, "research/study/digest_form.html", context)


@require_POST
def digest_regenerate(request: AuthedRequest, digest_id: int) -> HttpResponse:
    digest = _digest(request, digest_id)
    try:
        job = study_services.digest_regenerate(digest=digest, user=request.user)
    except study_services.EditedByUser as exc:
        messages.warning(request, str(exc))
        return redirect("study:digest_detail", digest_id=digest.pk)
    return _started(request, job, reverse("study:digest_detail", args=[digest.pk]))


@require_GET
def digest_export(request: AuthedRequest, digest_id: int) -> HttpResponse:
    digest = _digest(request, digest_id)
    content = exports.digest_markdown(
        digest=digest, documents=selectors.digest_documents(digest=digest)
    )
    return _download(
        content, filename=f"{_slug(digest.title)}.md", content_type="text/markdown; charset=utf-8"
    )


@require_GET
def document_summary_export(request: AuthedRequest, document_id: int) -> HttpResponse:
    document = _found(
        selectors.document_get_for_user(user=request.user, document_id=document_id), "document"
    )
    return _download(
        exports.document_summary_markdown(document=document),
        filename=f"{_slug(document.title)}-summary.md",
        content_type="text/markdown; charset=utf-8",
    )
