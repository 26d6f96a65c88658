"""The timeline: generating, drawing, editing events by hand, exports."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from research.access import project_for_request, row_for_request
from research.library.selectors import ready_document_list_for_project
from research.models import Project, StudyJob, TimelineEvent
from research.study import exports, selectors
from research.study import services as study_services
from research.study.forms import EventForm, TimelineGenerateForm, parse_tags
from research.study.generators import timelines
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


def _timeline_page(
    request: AuthedRequest,
    project: Project,
    *,
    form: TimelineGenerateForm | None = None,
    status: int = 200,
) -> HttpResponse:
    documents = ready_document_list_for_project(project=project)
    tag = request.GET.get("tag", "")
    document_id = int_or_none(request.GET.get("document"))
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
        "can_edit": can_edit(request, project),
    }
    return render(request, "research/study/timeline.html", context, status=status)


@require_GET
def timeline(request: AuthedRequest, project_id: int) -> HttpResponse:
    return _timeline_page(request, project_for_request(request, project_id))


@require_POST
def timeline_generate(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = project_for_request(request, project_id)
    documents = ready_document_list_for_project(project=project)
    form = TimelineGenerateForm(request.POST, documents=documents)
    if not form.is_valid():
        return _timeline_page(request, project, form=form, status=400)
    chosen = list(form.cleaned_data["documents"]) or list(documents)
    if not chosen:
        messages.warning(request, "No document is ready yet: upload one and wait for it.")
        return redirect("research:study:timeline", project_id=project.pk)
    url = reverse("research:study:timeline", args=[project.pk])
    try:
        job = study_services.timeline_generate(
            project=project,
            user=request.user,
            documents=chosen,
            count=form.cleaned_data["count"],
            tags=parse_tags(form.cleaned_data["tags"]),
            method=form.cleaned_data["method"],
        )
    except study_services.TooManyJobs as exc:
        return refused(request, exc, url)
    return started(request, job, url)


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
            tags=parse_tags(data["tags"]),
            document_id=data["document"].pk if data["document"] else None,
            pages=data["pages"],
        )
        messages.success(request, "Event saved.")
        return redirect(
            reverse("research:study:timeline", args=[project.pk]) + f"#event-{saved.pk}"
        )
    context = {"project": project, "form": form, "event": event}
    return render(request, "research/study/event_form.html", context)


@require_http_methods(["GET", "POST"])
def event_create(request: AuthedRequest, project_id: int) -> HttpResponse:
    return _event_form_page(request, project_for_change(request, project_id), None)


@require_http_methods(["GET", "POST"])
def event_edit(request: AuthedRequest, event_id: int) -> HttpResponse:
    event = row_for_change(request, selectors.event_get_for_user, "event", event_id=event_id)
    return _event_form_page(request, event.project, event)


@require_POST
def event_delete(request: AuthedRequest, event_id: int) -> HttpResponse:
    event = row_for_request(request, selectors.event_get_for_user, "event", event_id=event_id)
    timelines.event_delete(event=event)
    messages.success(request, "Event deleted.")
    return redirect("research:study:timeline", project_id=event.project_id)


TIMELINE_EXPORTS: dict[str, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
}


@require_GET
def timeline_export(request: AuthedRequest, project_id: int, fmt: str) -> HttpResponse:
    project = project_for_request(request, project_id)
    if fmt not in TIMELINE_EXPORTS:
        raise Http404("No such format.")
    events = selectors.event_list_for_project(
        project=project,
        document_id=int_or_none(request.GET.get("document")),
        tag=request.GET.get("tag", ""),
    )
    content = {
        "json": lambda: exports.timeline_json(project=project, events=events),
        "csv": lambda: exports.timeline_csv(events=events),
        "md": lambda: exports.timeline_markdown(project=project, events=events),
    }[fmt]()
    filename = f"{slug(project.title)}-timeline.{fmt}"
    return attachment(content, filename=filename, content_type=TIMELINE_EXPORTS[fmt])
