"""The study tools' overview page and the progress of generation jobs (polled with htmx)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from research.access import project_for_request, row_for_request
from research.library.selectors import ready_document_list_for_project
from research.models import StudyJob
from research.study import selectors
from research.study import services as study_services
from research.study.views.common import can_edit
from workspace.http import AuthedRequest

JOB_PARTIAL = "research/study/partials/job.html"


@require_GET
def study_home(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = project_for_request(request, project_id)
    context = {
        "project": project,
        "overview": selectors.study_overview(project=project),
        "documents": ready_document_list_for_project(project=project),
    }
    return render(request, "research/study/home.html", context)


def _tool_url(job: StudyJob) -> str:
    if job.kind == StudyJob.Kind.COMPARISON and job.comparison_id:
        return reverse("research:study:comparison_detail", args=[job.comparison_id])
    if job.kind == StudyJob.Kind.DIGEST and job.digest_id:
        return reverse("research:study:digest_detail", args=[job.digest_id])
    name = (
        "research:study:timeline"
        if job.kind == StudyJob.Kind.TIMELINE
        else "research:study:flashcard_list"
    )
    return reverse(name, args=[job.project_id])


def _job_partial(request: AuthedRequest, job: StudyJob) -> HttpResponse:
    context = {
        "job": job,
        "stuck": selectors.job_view(job).stuck,
        "can_edit": can_edit(request, job.project),
    }
    return render(request, JOB_PARTIAL, context)


@require_GET
def job_detail(request: AuthedRequest, job_id: int) -> HttpResponse:
    """A job's progress (polled by htmx); when it stops, the page reloads to show the
    results. Without htmx: back to the page the job belongs to."""
    job = row_for_request(request, selectors.job_get_for_user, "job", job_id=job_id)
    if not request.htmx:
        return redirect(_tool_url(job))
    response = _job_partial(request, job)
    if not job.is_active and request.GET.get("polling"):
        response["HX-Refresh"] = "true"
    return response


@require_POST
def job_retry(request: AuthedRequest, job_id: int) -> HttpResponse:
    job = row_for_request(request, selectors.job_get_for_user, "job", job_id=job_id)
    try:
        if not study_services.job_retry(job=job, user=request.user):
            messages.info(request, "This job is not failed or stuck, so there is nothing to retry.")
    except study_services.TooManyJobs as exc:
        messages.error(request, str(exc))
    if request.htmx:
        job.refresh_from_db()
        return _job_partial(request, job)
    return redirect(_tool_url(job))


@require_POST
def job_discard(request: AuthedRequest, job_id: int) -> HttpResponse:
    """Remove a failed or stuck job (what it saved stays). htmx: the job's card goes."""
    job = row_for_request(request, selectors.job_get_for_user, "job", job_id=job_id)
    url = _tool_url(job)
    if not study_services.job_discard(job=job):
        messages.info(request, "This job is still working or has finished, so it was kept.")
        if request.htmx:
            job.refresh_from_db()
            return _job_partial(request, job)
        return redirect(url)
    if request.htmx:
        return HttpResponse("")
    messages.success(request, "Job discarded; anything it had already made is kept.")
    return redirect(url)
