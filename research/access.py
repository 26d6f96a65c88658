"""Who may open and who may change a research project (a Collection), in one place.

Every read in research goes through `collection_list_for_user` (or `scoped_for_user`,
which filters any queryset by the project it belongs to), so a project is:

- readable by its owner, by every person it is shared with, and by every member of a
  group it is shared with — whatever the role;
- writable (upload, delete, retry, generate, edit, grade, regenerate) by its owner and by
  editors, directly or through a group; when a person has several shares, the best wins.

Someone who may not read a project gets None from the `*_for_user` getters (the views
answer 404, so a guessed id says nothing about what exists); a viewer who asks to change
it gets PermissionDenied (403: they can see the project, so hiding it would be a lie).
Only the owner manages shares (research/sharing_services.py).

Conversations: a thread belongs to the person who asked it. Everyone who may read the
project may read its threads (they are part of the project, like its study materials)
and may start their own; only the asker may add follow-ups to a thread or retry its
questions. Views treat every request that is not GET/HEAD/OPTIONS as a change
(`request_writes`).
"""

from __future__ import annotations

from typing import TypeVar

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Case, CharField, Model, OuterRef, Q, QuerySet, Subquery, Value, When
from django.http import HttpRequest

from research.models import Collection, CollectionShare, Thread

Viewer = User | AnonymousUser
M = TypeVar("M", bound=Model)

OWNER = "owner"
EDITOR = CollectionShare.Role.EDITOR.value
VIEWER = CollectionShare.Role.VIEWER.value
READ_ROLES = (VIEWER, EDITOR)
WRITE_ROLES = (EDITOR,)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def request_writes(request: HttpRequest) -> bool:
    """Whether a request asks to change something: every method but GET, HEAD, OPTIONS
    (research views never change anything on a GET)."""
    return request.method not in SAFE_METHODS


def _account(user: Viewer) -> User | None:
    return user if isinstance(user, User) and user.is_authenticated and user.is_active else None


def shares_for_user(
    *, user: User, roles: tuple[str, ...] = READ_ROLES
) -> QuerySet[CollectionShare]:
    """Shares naming the user, or one of the user's groups, with one of `roles`."""
    return CollectionShare.objects.filter(
        Q(user=user) | Q(group__in=user.groups.all()), role__in=roles
    )


def collection_list_for_user(*, user: Viewer, write: bool = False) -> QuerySet[Collection]:
    """Projects the user may read (or, with `write`, change)."""
    account = _account(user)
    if account is None:
        return Collection.objects.none()
    roles = WRITE_ROLES if write else READ_ROLES
    shared = shares_for_user(user=account, roles=roles).values("collection_id")
    return Collection.objects.filter(Q(owner=account) | Q(pk__in=shared))


def scoped_for_user(
    queryset: QuerySet[M], *, user: Viewer, through: str, write: bool = False
) -> QuerySet[M]:
    """`queryset` narrowed to rows of projects the user may read (or change). `through`
    is the lookup from the row to its Collection: "collection", "document__collection",
    "question__thread__collection"..."""
    allowed = collection_list_for_user(user=user, write=write).values("pk")
    return queryset.filter(**{f"{through}__in": allowed})


def object_for_user(
    queryset: QuerySet[M], *, user: Viewer, pk: int, through: str, write: bool = False
) -> M | None:
    """One row of a project the user may read, or None. With `write`, a row the user may
    read but not change raises PermissionDenied."""
    found = scoped_for_user(queryset, user=user, through=through).filter(pk=pk).first()
    if found is not None and write:
        writable = scoped_for_user(
            queryset.model._default_manager.all(), user=user, through=through, write=True
        )
        if not writable.filter(pk=pk).exists():
            raise PermissionDenied("You can read this project but not change it.")
    return found


def collection_for_user(
    *, user: Viewer, collection_id: int, write: bool = False
) -> Collection | None:
    return object_for_user(
        Collection.objects.all(), user=user, pk=collection_id, through="pk", write=write
    )


def collection_role_for_user(*, user: Viewer, collection: Collection) -> str:
    """The user's role on the project: owner, editor, viewer, or "" (no access)."""
    account = _account(user)
    if account is None:
        return ""
    if collection.owner_id == account.pk:
        return OWNER
    roles = set(
        shares_for_user(user=account).filter(collection=collection).values_list("role", flat=True)
    )
    if EDITOR in roles:
        return EDITOR
    return VIEWER if VIEWER in roles else ""


def collection_writable_for_user(*, user: Viewer, collection: Collection) -> bool:
    """Whether the user may change the project (its owner, or an editor through a share)."""
    return collection_role_for_user(user=user, collection=collection) in (OWNER, *WRITE_ROLES)


def collection_owned_by_user(*, user: Viewer, collection_id: int) -> Collection | None:
    """The project if the user owns it (for managing shares). None when the user may not
    read it at all; PermissionDenied when they may read it but are not its owner."""
    collection = collection_for_user(user=user, collection_id=collection_id)
    if collection is not None and collection.owner_id != user.pk:
        raise PermissionDenied("Only the project's owner can manage who it is shared with.")
    return collection


def with_access_role(queryset: QuerySet[Collection], *, user: User) -> QuerySet[Collection]:
    """Annotates `access_role` ("owner", "editor" or "viewer": the best of the user's
    shares) on projects the user may read."""
    best = (
        shares_for_user(user=user)
        .filter(collection=OuterRef("pk"))
        .order_by(Case(When(role=EDITOR, then=Value(0)), default=Value(1)), "id")
        .values("role")[:1]
    )
    return queryset.annotate(
        access_role=Case(
            When(owner=user, then=Value(OWNER)),
            default=Subquery(best),
            output_field=CharField(),
        )
    )


# -- conversations -------------------------------------------------------------------------


def thread_for_user(*, user: Viewer, thread_id: int, write: bool = False) -> Thread | None:
    """A thread of a project the user may read, or None. With `write` (a follow-up, a
    retry) only its asker may go on: anyone else gets PermissionDenied."""
    thread = object_for_user(
        Thread.objects.select_related("collection"),
        user=user,
        pk=thread_id,
        through="collection",
    )
    if thread is not None and write:
        thread_require_asker(user=user, thread=thread)
    return thread


def thread_require_asker(*, user: Viewer, thread: Thread) -> None:
    if thread.owner_id != user.pk:
        raise PermissionDenied("Only the person who started this conversation can add to it.")
