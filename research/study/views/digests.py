"""Digests (summaries across documents) and each document's own summary: making,
editing, regenerating, exports."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from research.access import project_for_request, row_for_request
from research.library.selectors import document_get_for_user, ready_document_list_for_project
from research.models import Answer
from research.qa.selectors import answer_segments
from research.study import exports, selectors
from research.study import services as study_services
from research.study.forms import DigestEditForm, DigestForm
from research.study.generators import digests
from research.study.views.common import can_edit, refused, row_for_change, slug, started
from workspace.http import AuthedRequest, attachment


@require_http_methods(["GET", "POST"])
def digest_list(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = project_for_request(request, project_id)
    documents = ready_document_list_for_project(project=project)
    form = DigestForm(request.POST or None, documents=documents)
    if request.method == "POST" and form.is_valid():
        try:
            job = study_services.digest_start(
                project=project,
                user=request.user,
                title=form.cleaned_data["title"],
                documents=list(form.cleaned_data["documents"]),
            )
        except study_services.TooManyJobs as exc:
            return refused(request, exc, request.path)
        assert job.digest_id is not None
        return started(request, job, reverse("research:study:digest_detail", args=[job.digest_id]))
    context = {
        "project": project,
        "digests": selectors.digest_list_for_project(project=project),
        "summarized": project.documents.exclude(summary="").order_by("created_at", "id"),
        "form": form,
        "documents": documents,
        "can_edit": can_edit(request, project),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "research/study/digests.html", context, status=status)


@require_GET
def digest_detail(request: AuthedRequest, digest_id: int) -> HttpResponse:
    digest = row_for_request(request, selectors.digest_get_for_user, "summary", digest_id=digest_id)
    # A digest's body cites pages like an answer does: render it the same way (unsaved).
    segments = answer_segments(answer=Answer(text=digest.body, citations=digest.citations))
    context = {
        "project": digest.project,
        "digest": digest,
        "segments": segments,
        "flagged": [c for c in digest.citations if c.get("flagged")],
        "documents": selectors.digest_documents(digest=digest),
        "jobs": selectors.job_list_for_digest(digest=digest),
        "can_edit": can_edit(request, digest.project),
    }
    return render(request, "research/study/digest_detail.html", context)


@require_http_methods(["GET", "POST"])
def digest_edit(request: AuthedRequest, digest_id: int) -> HttpResponse:
    digest = row_for_change(request, selectors.digest_get_for_user, "summary", digest_id=digest_id)
    form = DigestEditForm(
        request.POST or None, initial={"title": digest.title, "body": digest.body}
    )
    if request.method == "POST" and form.is_valid():
        digests.digest_update(
            digest=digest, title=form.cleaned_data["title"], body=form.cleaned_data["body"]
        )
        messages.success(request, "Summary saved; it will not be regenerated over.")
        return redirect("research:study:digest_detail", digest_id=digest.pk)
    context = {"project": digest.project, "digest": digest, "form": form}
    return render(request, "research/study/digest_form.html", context)


@require_POST
def digest_regenerate(request: AuthedRequest, digest_id: int) -> HttpResponse:
    digest = row_for_request(request, selectors.digest_get_for_user, "summary", digest_id=digest_id)
    url = reverse("research:study:digest_detail", args=[digest.pk])
    try:
        job = study_services.digest_regenerate(digest=digest, user=request.user)
    except study_services.EditedByUser as exc:
        messages.warning(request, str(exc))
        return redirect(url)
    except study_services.TooManyJobs as exc:
        return refused(request, exc, url)
    return started(request, job, url)


@require_GET
def digest_export(request: AuthedRequest, digest_id: int) -> HttpResponse:
    digest = row_for_request(request, selectors.digest_get_for_user, "summary", digest_id=digest_id)
    content = exports.digest_markdown(
        digest=digest, documents=selectors.digest_documents(digest=digest)
    )
    return attachment(
        content, filename=f"{slug(digest.title)}.md", content_type="text/markdown; charset=utf-8"
    )


@require_GET
def document_summary_export(request: AuthedRequest, document_id: int) -> HttpResponse:
    document = row_for_request(request, document_get_for_user, "document", document_id=document_id)
    return attachment(
        exports.document_summary_markdown(document=document),
        filename=f"{slug(document.title)}-summary.md",
        content_type="text/markdown; charset=utf-8",
    )
