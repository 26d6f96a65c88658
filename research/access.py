"""Who may open and who may change a research project, in one place.

Every read in research goes through `readable_projects` (or `scoped_for_user`, which
filters any queryset by the project it belongs to, and `object_for_user`, one row of it),
so a project is:

- readable by its owner, by every person it is shared with, and by every member of a
  group it is shared with — whatever the role;
- writable (upload, delete, retry, generate, edit, grade, regenerate) by its owner and by
  editors, directly or through a group; when a person has several shares, the best wins.

Someone who may not read a project gets None from the `*_for_user` getters (the views
answer 404, so a guessed id says nothing about what exists); a viewer who asks to change
it gets PermissionDenied (403: they can see the project, so hiding it would be a lie).
Only the owner manages shares (research/sharing/).

Conversations: a thread belongs to the person who asked it. Everyone who may read the
project may read its threads (they are part of the project, like its study materials)
and may start their own; only the asker may add follow-ups to a thread or retry its
questions. Views treat every request that is not GET/HEAD/OPTIONS as a change
(`request_writes`), and load a project's own pages through `project_for_request`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Case, CharField, Model, OuterRef, Q, QuerySet, Subquery, Value, When
from django.http import HttpRequest

from research.models import Document, Project, ProjectShare, Thread
from workspace.http import found_or_404

Viewer = User | AnonymousUser
M = TypeVar("M", bound=Model)

OWNER = "owner"
EDITOR = ProjectShare.Role.EDITOR.value
VIEWER = ProjectShare.Role.VIEWER.value
READ_ROLES = (VIEWER, EDITOR)
WRITE_ROLES = (EDITOR,)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def request_writes(request: HttpRequest) -> bool:
    """Whether a request asks to change something: every method but GET, HEAD, OPTIONS
    (research views never change anything on a GET)."""
    return request.method not in SAFE_METHODS


def _account(user: Viewer) -> User | None:
    return user if isinstance(user, User) and user.is_authenticated and user.is_active else None


def _user_shares(*, user: User, roles: tuple[str, ...] = READ_ROLES) -> QuerySet[ProjectShare]:
    """Shares naming the user, or one of the user's groups, with one of `roles`."""
    return ProjectShare.objects.filter(
        Q(user=user) | Q(group__in=user.groups.all()), role__in=roles
    )


def readable_projects(*, user: Viewer, write: bool = False) -> QuerySet[Project]:
    """Projects the user may read (or, with `write`, change)."""
    account = _account(user)
    if account is None:
        return Project.objects.none()
    roles = WRITE_ROLES if write else READ_ROLES
    shared = _user_shares(user=account, roles=roles).values("project_id")
    return Project.objects.filter(Q(owner=account) | Q(pk__in=shared))


def scoped_for_user(
    queryset: QuerySet[M], *, user: Viewer, through: str, write: bool = False
) -> QuerySet[M]:
    """`queryset` narrowed to rows of projects the user may read (or change). `through`
    is the lookup from the row to its Project: "project", "document__project",
    "question__thread__project"..."""
    allowed = readable_projects(user=user, write=write).values("pk")
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


def project_get_for_user(*, user: Viewer, project_id: int, write: bool = False) -> Project | None:
    """None if the user may not read it; PermissionDenied for a viewer asking to write."""
    return object_for_user(
        Project.objects.all(), user=user, pk=project_id, through="pk", write=write
    )


def row_for_request(request: HttpRequest, get: Callable[..., M | None], what: str, **ids: int) -> M:
    """The row a page is about, through its selector `get` (`flashcard_get_for_user`...):
    404 ("No such <what>.") unless the user may read it; 403 when the request would change
    it (any method but GET/HEAD/OPTIONS) and the user may only read it."""
    return found_or_404(get(user=request.user, write=request_writes(request), **ids), what)


def project_for_request(request: HttpRequest, project_id: int) -> Project:
    return row_for_request(request, project_get_for_user, "project", project_id=project_id)


def project_readable_by_user(*, user: Viewer, project_id: int | None) -> bool:
    """Whether the user may read the project (False for no project at all)."""
    if project_id is None:
        return False
    return readable_projects(user=user).filter(pk=project_id).exists()


def project_documents_for_user(*, user: Viewer, project_id: int | None) -> QuerySet[Document]:
    """The documents of a project the user may read; none when they may not (a campaign's
    world documents are read only through here: stories/selectors.py, stories/proposals.py)."""
    if project_id is None:
        return Document.objects.none()
    return scoped_for_user(
        Document.objects.filter(project_id=project_id), user=user, through="project"
    )


def project_role_for_user(*, user: Viewer, project: Project) -> str:
    """The user's role on the project: owner, editor, viewer, or "" (no access)."""
    account = _account(user)
    if account is None:
        return ""
    if project.owner_id == account.pk:
        return OWNER
    roles = set(_user_shares(user=account).filter(project=project).values_list("role", flat=True))
    if EDITOR in roles:
        return EDITOR
    return VIEWER if VIEWER in roles else ""


def project_writable_for_user(*, user: Viewer, project: Project) -> bool:
    """Whether the user may change the project (its owner, or an editor through a share)."""
    return project_role_for_user(user=user, project=project) in (OWNER, *WRITE_ROLES)


def project_owned_by_user(*, user: Viewer, project_id: int) -> Project | None:
    """The project if the user owns it (for managing shares). None when the user may not
    read it at all; PermissionDenied when they may read it but are not its owner."""
    project = project_get_for_user(user=user, project_id=project_id)
    if project is not None and project.owner_id != user.pk:
        raise PermissionDenied("Only the project's owner can manage who it is shared with.")
    return project


def with_access_role(queryset: QuerySet[Project], *, user: User) -> QuerySet[Project]:
    """Annotates `access_role` ("owner", "editor" or "viewer": the best of the user's
    shares) on projects the user may read."""
    best = (
        _user_shares(user=user)
        .filter(project=OuterRef("pk"))
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


def thread_require_asker(*, user: Viewer, thread: Thread) -> None:
    if thread.owner_id != user.pk:
        raise PermissionDenied("Only the person who started this conversation can add to it.")
