"""Reads for the sharing page (the owner's only: research/access.py checks that)."""

from __future__ import annotations

from django.db.models import QuerySet

from research.models import Project, ProjectShare


def share_list_for_project(*, project: Project) -> QuerySet[ProjectShare]:
    """People first, then groups, each by name."""
    return (
        ProjectShare.objects.filter(project=project)
        .select_related("user", "group")
        .order_by("group__name", "user__username", "id")
    )


def share_get_for_project(*, project: Project, share_id: int) -> ProjectShare | None:
    return share_list_for_project(project=project).filter(pk=share_id).first()
