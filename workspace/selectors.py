"""Reads for the workspace's own pages (the home page, the status page)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, Max, Q, QuerySet

from research.access import with_access_role
from research.library.selectors import project_list_for_user
from research.models import Document, Project
from workspace import health
from workspace.runtime import runtime_status

# Stages a document passes through on its way to "ready": shown as "ingesting".
INGESTING_STAGES = (
    Document.Stage.QUEUED,
    Document.Stage.EXTRACTING,
    Document.Stage.CHUNKING,
    Document.Stage.INDEXING,
    Document.Stage.SUMMARIZING,
)
# Stages that need the person to do something: a password, or a look at the error.
ATTENTION_STAGES = (Document.Stage.FAILED, Document.Stage.NEEDS_PASSWORD)


def project_summary_list_for_user(*, user: User | AnonymousUser) -> QuerySet[Project]:
    """The research projects the user owns or that are shared with them, each with counts
    of documents ingesting and needing attention, the time of the last change to any of
    its documents, and `access_role` ("owner", "editor" or "viewer": a shared project is
    one whose role is not "owner")."""
    projects = (
        project_list_for_user(user=user)
        .filter(kind=Project.Kind.RESEARCH)
        .select_related("owner")
        .annotate(
            ingesting_count=Count(
                "documents", filter=Q(documents__stage__in=INGESTING_STAGES), distinct=True
            ),
            attention_count=Count(
                "documents", filter=Q(documents__stage__in=ATTENTION_STAGES), distinct=True
            ),
            last_document_change=Max("documents__updated_at"),
        )
    )
    if not isinstance(user, User) or not user.is_authenticated:
        return projects
    return with_access_role(projects, user=user)


# What the status page leaves out for people who are not staff: addresses, host names and
# errors' words (already free of passwords: workspace/redact.py).
_STAFF_ONLY_RUNTIME = ("ollama_host", "ollama_error")


def status_report(*, user: User | AnonymousUser) -> dict[str, Any]:
    """The status page's checks; staff see each one's details, everyone else up or down."""
    runtime = runtime_status()
    checks = {
        "database": health.check_database(),
        "redis": health.check_redis(),
        "workers": health.check_workers(),
    }
    staff = bool(user.is_staff)
    if not staff:
        runtime = {k: v for k, v in runtime.items() if k not in _STAFF_ONLY_RUNTIME}
        checks = {name: health.Check(check.ok, "") for name, check in checks.items()}
    return {"runtime": runtime, "details": staff, **checks}
