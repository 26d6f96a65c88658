"""What the study pages share: slugs for file names, an optional integer from the query
string, and the reply to a started job."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.text import slugify

from research.models import StudyJob
from workspace.http import AuthedRequest


def slug(text: str) -> str:
    return slugify(text)[:60] or "carrel"


def int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def started(request: AuthedRequest, job: StudyJob, url: str) -> HttpResponse:
    messages.success(request, f"Generating {job.get_kind_display().lower()} from {job.label}.")
    return redirect(url)
