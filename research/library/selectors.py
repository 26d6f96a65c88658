"""Reads for the research app. Every selector takes the requesting user and filters by access."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, QuerySet

from research import access
from research.library.reading import Piece, highlight, linked_citations
from research.models import Collection, Document, Page


def collection_list_for_user(
    *, user: User | AnonymousUser, write: bool = False
) -> QuerySet[Collection]:
    """Projects the user owns or that are shared with them (research/access.py)."""
    return access.collection_list_for_user(user=user, write=write).annotate(
        document_count=Count("documents")
    )


def collection_for_user(
    *, user: User | AnonymousUser, collection_id: int, write: bool = False
) -> Collection | None:
    """None if the user may not read it; PermissionDenied for a viewer asking to write."""
    return access.collection_for_user(user=user, collection_id=collection_id, write=write)


def document_list_for_user(
    *, user: User | AnonymousUser, write: bool = False
) -> QuerySet[Document]:
    """Documents of the projects the user may read (the only documents they may see)."""
    documents = Document.objects.select_related("collection")
    return access.scoped_for_user(documents, user=user, through="collection", write=write)


def document_for_user(
    *, user: User | AnonymousUser, document_id: int, write: bool = False
) -> Document | None:
    """None if the user may not read it; PermissionDenied for a viewer asking to write."""
    documents = Document.objects.select_related("collection")
    return access.object_for_user(
        documents, user=user, pk=document_id, through="collection", write=write
    )


def document_list_for_collection(*, collection: Collection) -> QuerySet[Document]:
    return collection.documents.order_by("-created_at", "-id")


def page_list_for_document(*, document: Document) -> QuerySet[Page]:
    return document.pages.order_by("number").only("id", "number", "label", "token_count")


@dataclass(frozen=True)
class PageView:
    page: Page
    pieces: list[Piece]
    marks: int
    previous_number: int | None
    next_number: int | None


def page_view_for_user(
    *, user: User | AnonymousUser, document_id: int, number: int, query: str = ""
) -> PageView:
    """One page of a user's document, with `query` (a cited passage) marked.

    Raises Page.DoesNotExist for someone else's document or a page that does not exist.
    """
    page = Page.objects.select_related("document", "document__collection").get(
        document__in=document_list_for_user(user=user), document_id=document_id, number=number
    )
    pieces, marks = highlight(page.text, query[:2000])
    count = page.document.page_count
    return PageView(
        page=page,
        pieces=pieces,
        marks=marks,
        previous_number=number - 1 if number > 1 else None,
        next_number=number + 1 if number < count else None,
    )


def document_summary_pieces(*, document: Document) -> list[Piece]:
    return linked_citations(document.summary, page_count=document.page_count)
