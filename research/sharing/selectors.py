"""Reads for the sharing page (the owner's only: research/access.py checks that)."""

from __future__ import annotations

from django.db.models import QuerySet

from research.models import Collection, CollectionShare


def share_list_for_collection(*, collection: Collection) -> QuerySet[CollectionShare]:
    """People first, then groups, each by name."""
    return (
        CollectionShare.objects.filter(collection=collection)
        .select_related("user", "group")
        .order_by("group__name", "user__username", "id")
    )


def share_for_collection(*, collection: Collection, share_id: int) -> CollectionShare | None:
    return share_list_for_collection(collection=collection).filter(pk=share_id).first()
