"""What the study pages share: slugs for file names, an optional integer from the query
string, the one permission flag every page gets, loading a row to change it, and the
reply to a started (or refused) job."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.contrib import messages
from django.db.models import Model
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.text import slugify

from research.access import project_get_for_user, project_writable_for_user
from research.models import Project, StudyJob
from workspace.http import AuthedRequest, found_or_404

M = TypeVar("M", bound=Model)


def slug(text: str) -> str:
    return slugify(text)[:60] or "carrel"


def int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def can_edit(request: AuthedRequest, project: Project) -> bool:
    """The one flag the study templates read (`can_edit`): whether this person may change
    the project (its owner or an editor). A viewer is offered no control that changes
    anything: no generate, add, edit, delete, grade, fill, regenerate, retry or discard."""
    return project_writable_for_user(user=request.user, project=project)


def row_for_change(
    request: AuthedRequest, get: Callable[..., M | None], what: str, **ids: int
) -> M:
    """The row a form changes, on GET as on POST: 404 unless the user may read it, 403
    when they may only read it (a viewer opening an edit form by its address)."""
    return found_or_404(get(user=request.user, write=True, **ids), what)


def project_for_change(request: AuthedRequest, project_id: int) -> Project:
    return row_for_change(request, project_get_for_user, "project", project_id=project_id)


def started(request: AuthedRequest, job: StudyJob, url: str) -> HttpResponse:
    messages.success(request, f"Generating {job.get_kind_display().lower()} from {job.label}.")
    return redirect(url)


def refused(request: AuthedRequest, reason: Exception, url: str) -> HttpResponse:
    """A job not started (the person's cap of jobs in flight): say why, back to the page."""
    messages.error(request, str(reason))
    return redirect(url)
