"""Who may open what: sign-in, projects shared with people and groups, and every research,
Q&A and study URL tried by a stranger, a viewer, an editor and the owner.

The URLs come from the resolver, so a URL added later is tried too; its ids are filled
with objects of a project owned by someone else (or, for the guessed-ids test, with ids
that do not exist). A URL whose id parameter this file does not know fails loudly.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models import Count, Max
from django.test import Client, RequestFactory, TestCase
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from research.library import search
from research.models import (
    Answer,
    Chunk,
    Comparison,
    ComparisonCell,
    Digest,
    Document,
    Flashcard,
    ImportBatch,
    Page,
    Project,
    ProjectShare,
    Question,
    StudyJob,
    Thread,
    TimelineEvent,
)
from research.qa.selectors import packing_sources_for_documents
from workspace.chunking import PageText, chunk_pages
from workspace.packing import DatabaseRetriever
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime
from workspace.runtime.tokenizer import count_tokens

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
NAMESPACES = ("research", "research:qa", "research:study", "research:sharing")
# Pages about no project in particular (lists, the new-project form).
NOT_ABOUT_ONE_PROJECT = {"research:project_list", "research:project_create"}
# Managing shares is the owner's alone, even for editors.
OWNER_ONLY = {
    "research:sharing:share_list",
    "research:sharing:share_role",
    "research:sharing:share_remove",
}
# Pages that are only a form to change something: a viewer is refused even the empty form.
EDITOR_FORMS = {
    "research:study:flashcard_create",
    "research:study:flashcard_edit",
    "research:study:event_create",
    "research:study:event_edit",
    "research:study:cell_edit",
    "research:study:digest_edit",
}
# Asking starts the reader's own thread: a viewer may.
READER_MAY_POST = {"research:qa:ask"}
# A follow-up, a retry, a cancel, a route choice, reading the whole library or an answer
# written from passages changes a thread: its asker's alone.
ASKER_ONLY_POST = {
    "research:qa:thread",
    "research:qa:retry",
    "research:qa:cancel",
    "research:qa:choose_route",
    "research:qa:whole_library",
    "research:qa:write_answer",
}

_hashes = itertools.count()


# -- the world: one project owned by ada, shared four ways, and everything in it ----------------


def add_document(project: Project, title: str, pages: list[str]) -> Document:
    """A ready, indexed document (rows as ingestion leaves them: pages, chunks, index)."""
    document = Document.objects.create(
        project=project,
        title=title,
        original_name=f"{title}.txt",
        file_type=Document.FileType.TEXT,
        content_hash=hashlib.sha256(f"{title}{next(_hashes)}".encode()).hexdigest(),
        stage=Document.Stage.READY,
        page_count=len(pages),
        summary=f"{title}: {pages[0].split('.')[0]}.",
        indexed_at=timezone.now(),
    )
    Page.objects.bulk_create(
        Page(document=document, number=n + 1, text=text, token_count=count_tokens(text))
        for n, text in enumerate(pages)
    )
    drafts = chunk_pages([PageText(n + 1, text) for n, text in enumerate(pages)], target_tokens=40)
    Chunk.objects.bulk_create(
        Chunk(
            document=document,
            ordinal=d.ordinal,
            text=d.text,
            token_count=d.token_count,
            page_start=d.page_start,
            page_end=d.page_end,
        )
        for d in drafts
    )
    search.chunk_index_document(document_id=document.pk)
    return document


GLACIER_PAGES = [
    "Glaciers carve U-shaped valleys. The ice grinds bedrock into fine rock flour.",
    "Meltwater from the glacier snout feeds braided rivers in summer.",
]
SECRET_PAGES = [
    "Glaciers hide the secret survey: the ice core drill site is at marker 7.",
    "The glacier survey budget is confidential.",
]


@dataclass
class World:
    owner: User
    project: Project
    document: Document
    ids: dict[str, Any]
    people: dict[str, User]


def make_user(username: str) -> User:
    return User.objects.create_user(username=username, password="correct horse 44")


@pytest.fixture
def world(user, other_user) -> World:
    project = Project.objects.create(owner=user, title="Field notes")
    document = add_document(project, "Glacial erosion", GLACIER_PAGES)
    thread = Thread.objects.create(owner=user, project=project, title="Valleys")
    question = Question.objects.create(
        thread=thread, text="How do glaciers carve valleys?", status=Question.Status.DONE
    )
    Answer.objects.create(question=question, text="By grinding bedrock [Glacial erosion, p. 1].")
    card = Flashcard.objects.create(
        project=project, front="What is rock flour?", back="Ground bedrock.",
        document=document, pages=[1], due=timezone.now(),
    )  # fmt: skip
    event = TimelineEvent.objects.create(
        project=project, title="Last glacial maximum", start_year=-20000, sort_key=-20000
    )
    comparison = Comparison.objects.create(
        project=project, title="Methods", document_ids=[document.pk], aspects=["Method"]
    )
    cell = ComparisonCell.objects.create(
        comparison=comparison, document=document, aspect="Method", text="Field survey", pages=[1]
    )
    digest = Digest.objects.create(
        project=project, title="Overview", document_ids=[document.pk], body="Ice carves."
    )
    job = StudyJob.objects.create(
        project=project,
        created_by=user,
        kind=StudyJob.Kind.FLASHCARDS,
        label="Glacial erosion",
        status=StudyJob.Status.FAILED,
    )
    batch = ImportBatch.objects.create(project=project, created_by=user)
    Document.objects.filter(pk=document.pk).update(batch=batch)
    people = {
        "stranger": other_user,
        "viewer": make_user("vera"),
        "editor": make_user("ed"),
        "group viewer": make_user("rita"),
        "group editor": make_user("gus"),
    }
    readers, lab = Group.objects.create(name="readers"), Group.objects.create(name="lab")
    people["group viewer"].groups.add(readers)
    people["group editor"].groups.add(lab)
    share = ProjectShare.objects.create(project=project, user=people["viewer"], role="viewer")
    ProjectShare.objects.create(project=project, user=people["editor"], role="editor")
    ProjectShare.objects.create(project=project, group=readers, role="viewer")
    ProjectShare.objects.create(project=project, group=lab, role="editor")
    ids = {
        "pk": project.pk,
        "project_id": project.pk,
        "document_id": document.pk,
        "number": 1,
        "thread_id": thread.pk,
        "question_id": question.pk,
        "job_id": job.pk,
        "card_id": card.pk,
        "event_id": event.pk,
        "comparison_id": comparison.pk,
        "cell_id": cell.pk,
        "digest_id": digest.pk,
        "share_id": share.pk,
        "batch_id": batch.pk,
        "fmt": "csv",
    }
    return World(user, project, document, ids, people)


# -- the URLs, from the resolver ------------------------------------------------------------------


def routes(namespaces: tuple[str, ...] | None) -> list[tuple[str, list[str]]]:
    """(name, its parameters) of every named URL in these namespaces (None: every URL of
    the site but the admin's, which has its own sign-in)."""
    found: list[tuple[str, list[str]]] = []

    def wanted(namespace: str | None) -> bool:
        return namespaces is None or namespace in namespaces

    def walk(patterns: list[Any], namespace: str | None, params: list[str]) -> None:
        for pattern in patterns:
            own = list(getattr(pattern.pattern, "converters", {}))
            if isinstance(pattern, URLResolver):
                if pattern.namespace != "admin":
                    inner = pattern.namespace
                    nested = f"{namespace}:{inner}" if namespace and inner else inner or namespace
                    walk(pattern.url_patterns, nested, params + own)
            elif isinstance(pattern, URLPattern) and pattern.name and wanted(namespace):
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                found.append((name, params + own))

    walk(get_resolver().url_patterns, None, [])
    return found


def url_for(name: str, params: list[str], ids: dict[str, Any]) -> str:
    unknown = [param for param in params if param not in ids]
    assert not unknown, f"{name}: tell tests/research/test_access.py which id {unknown} takes"
    return reverse(name, kwargs={param: ids[param] for param in params})


def project_routes() -> list[tuple[str, list[str]]]:
    found = [(name, params) for name, params in routes(NAMESPACES)]
    assert len(found) > 40, "the resolver walk found too few URLs"
    return [(name, params) for name, params in found if name not in NOT_ABOUT_ONE_PROJECT]


def get(client: Client, url: str, **extra: Any) -> int:
    response = client.get(url, **extra)
    if response.streaming:
        b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return response.status_code


def post_rolled_back(client: Client, url: str) -> int:
    """POST an empty form, then undo whatever it changed, so every URL sees the same world."""
    with transaction.atomic():
        status = client.post(url, {}).status_code
        transaction.set_rollback(True)
    return status


def statuses(client: Client, world: World, *, ids: dict[str, Any] | None = None) -> dict:
    """{(name, method): status} for every project URL; POSTs are rolled back."""
    found = {}
    for name, params in project_routes():
        url = url_for(name, params, ids or world.ids)
        found[(name, "GET")] = get(client, url)
        found[(name, "GET htmx")] = get(client, url, **HX)
        found[(name, "POST")] = post_rolled_back(client, url)
    return found


def wrong(found: dict, allowed: Any) -> list[str]:
    return [f"{name} {method}: {status}" for (name, method), status in found.items()
            if not allowed(name, method, status)]  # fmt: skip


def fingerprint(project: Project) -> dict[str, Any]:
    """What a write would change in the project."""
    rows: dict[str, Any] = {
        "project": Project.objects.filter(pk=project.pk).values().get(),
        "shares": list(project.shares.values("user", "group", "role").order_by("id")),
    }
    for model in (Document, Flashcard, TimelineEvent, Comparison, ComparisonCell, Digest,
                  StudyJob, Thread, Question):  # fmt: skip
        through = "comparison__project" if model is ComparisonCell else "project"
        if model is Question:
            through = "thread__project"
        rows[model.__name__] = model.objects.filter(**{through: project}).aggregate(
            count=Count("id"), last=Max("id"), **_changed(model)
        )
    return rows


def _changed(model: Any) -> dict[str, Any]:
    names = {field.name for field in model._meta.get_fields()}
    return {"updated": Max("updated_at")} if "updated_at" in names else {}


# -- sign-in ------------------------------------------------------------------------------------

PUBLIC = ("/accounts/login/", "/accounts/signup/", "/healthz")


def test_sign_in_is_required_for_every_url_but_the_sign_in_pages(client, world):
    """Every URL of the site, any id: a person who is not signed in is sent to sign in.
    Only the sign-in and sign-up pages, the liveness probe, static files and the admin
    (which has its own staff sign-in) are open."""
    ids = {
        name: 1 for name in ("member_id", "turn_id", "proposal_id", "character", "other", "token")
    }
    ids |= world.ids
    everything = routes(None)
    assert len(everything) > 60
    opened = []
    for name, params in everything:
        url = url_for(name, params, ids)
        if url.startswith(PUBLIC):
            opened.append(name)
            continue
        for response in (client.get(url), client.post(url, {})):
            assert response.status_code == 302, (name, response.status_code)
            assert response["Location"].startswith("/accounts/login/?next="), name
    assert sorted(opened) == ["healthz", "login", "signup"]
    admin = client.get("/admin/research/project/")
    assert admin.status_code == 302 and admin["Location"].startswith("/admin/login/")
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/healthz").status_code == 200


# -- every URL, every role ------------------------------------------------------------------------


def test_the_owner_reaches_every_project_url_so_the_ids_below_are_real(client, world):
    client.force_login(world.owner)
    found = statuses(client, world)
    assert not wrong(found, lambda name, method, status: status not in (403, 404, 500))


def test_a_stranger_gets_404_for_every_project_url_and_every_method(client, world):
    client.force_login(world.people["stranger"])
    found = statuses(client, world)
    # 405 says only which methods a URL takes, never whether the object exists.
    assert not wrong(found, lambda name, method, status: status in (404, 405))
    assert all(found[(name, "GET")] == 404 or found[(name, "POST")] == 404 for name, _ in found)
    lists = client.get(reverse("research:project_list")).content.decode()
    home = client.get("/").content.decode()
    assert "Field notes" not in lists and "Field notes" not in home


def test_ids_that_do_not_exist_are_404_and_never_an_error(client, world):
    client.force_login(world.owner)
    guessed = {
        key: value + 10_000 if key not in ("fmt", "number") else value
        for key, value in world.ids.items()
    }
    found = statuses(client, world, ids=guessed)
    assert not wrong(found, lambda name, method, status: status in (404, 405))


@pytest.mark.parametrize("who", ["viewer", "group viewer"])
def test_a_viewer_reads_every_page_but_every_change_is_refused(client, world, who):
    client.force_login(world.people[who])
    before = fingerprint(world.project)
    found: dict[tuple[str, str], int] = {}
    for name, params in project_routes():
        url = url_for(name, params, world.ids)
        found[(name, "GET")] = get(client, url)
        found[(name, "GET htmx")] = get(client, url, **HX)
        if name not in READER_MAY_POST:
            found[(name, "POST")] = client.post(url, {}).status_code

    def allowed(name: str, method: str, status: int) -> bool:
        if name in OWNER_ONLY or name in EDITOR_FORMS:
            return status in (403, 405)
        if method == "POST":
            return status in (403, 405)
        return status in (200, 302, 405)

    assert not wrong(found, allowed)
    assert fingerprint(world.project) == before
    assert client.get(reverse("research:project_list")).content.decode().count("Field notes") == 1


@pytest.mark.parametrize("who", ["editor", "group editor"])
def test_an_editor_may_change_the_project_but_not_its_shares_or_others_threads(client, world, who):
    client.force_login(world.people[who])
    found = statuses(client, world)

    def allowed(name: str, method: str, status: int) -> bool:
        if name in OWNER_ONLY or (method == "POST" and name in ASKER_ONLY_POST):
            return status in (403, 405)
        return status not in (403, 404, 500)

    assert not wrong(found, allowed)


def test_an_editor_uploads_edits_and_deletes_and_a_viewer_cannot(client, world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload_url = reverse("research:document_upload", args=[world.project.pk])
    create_card = reverse("research:study:flashcard_create", args=[world.project.pk])
    card = {"kind": "basic", "front": "What feeds braided rivers?", "back": "Meltwater."}

    client.force_login(world.people["viewer"])
    note = SimpleUploadedFile("note.md", b"# Moraines\n\nRidges of till.")
    assert client.post(upload_url, {"uploads": [note]}).status_code == 403
    assert client.post(create_card, card).status_code == 403
    delete = reverse("research:document_delete", args=[world.document.pk])
    assert client.post(delete).status_code == 403
    assert Document.objects.filter(project=world.project).count() == 1

    client.force_login(world.people["group editor"])
    note = SimpleUploadedFile("note.md", b"# Moraines\n\nRidges of till.")
    assert client.post(upload_url, {"uploads": [note]}).status_code == 302
    added = Document.objects.get(project=world.project, original_name="note.md")
    assert added.uploaded_by == world.people["group editor"]
    assert client.post(create_card, card).status_code == 302
    assert Flashcard.objects.filter(project=world.project, back="Meltwater.").exists()
    assert client.post(delete).status_code == 302
    assert not Document.objects.filter(pk=world.document.pk).exists()


# -- exports ------------------------------------------------------------------------------------

EXPORTS: list[tuple[str, str, str | None]] = [
    *(
        ("research:study:flashcard_export", "project_id", fmt)
        for fmt in ("apkg", "csv", "tsv", "md")
    ),
    *(("research:study:timeline_export", "project_id", fmt) for fmt in ("json", "csv", "md")),
    *(("research:study:comparison_export", "comparison_id", fmt) for fmt in ("csv", "md")),
    ("research:study:digest_export", "digest_id", None),
    ("research:study:document_summary_export", "document_id", None),
]


def test_every_export_refuses_strangers_and_serves_readers(client, world):
    urls = []
    for name, key, fmt in EXPORTS:
        kwargs: dict[str, Any] = {key: world.ids[key]}
        if fmt:
            kwargs["fmt"] = fmt
        urls.append(reverse(name, kwargs=kwargs))
    exported = {name for name, _params in routes(("research:study",)) if "export" in name}
    assert exported == {name for name, _key, _fmt in EXPORTS}, "an export is missing here"
    client.force_login(world.people["stranger"])
    for url in urls:
        assert client.get(url).status_code == 404, url
    client.force_login(world.people["group viewer"])
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Disposition"].startswith("attachment;"), url


# -- search and the context map -------------------------------------------------------------------


@contextlib.contextmanager
def eager_tasks() -> Iterator[None]:
    """Celery tasks run in this process as they are sent (the answer task of a question)."""
    from workspace.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


@pytest.fixture
def scripted() -> Iterator[ScriptedRuntime]:
    with use_runtime(ScriptedRuntime.echo()) as runtime:
        yield runtime  # type: ignore[misc]


def test_full_text_search_ranks_only_the_chunks_of_documents_the_user_may_read(world):
    """The database retriever searches only the documents of the pieces it is given, even
    when another person's document matches the query better."""
    secret = Project.objects.create(owner=world.people["stranger"], title="Survey")
    hidden = add_document(secret, "Secret survey", SECRET_PAGES * 3)
    own = packing_sources_for_documents(document_ids=[world.document.pk])
    pieces = [piece for source in own for piece in source.pieces]
    hits = DatabaseRetriever()("glacier survey secret ice", pieces, 50)
    chunk_ids = {hit.piece_id for hit in hits}
    assert chunk_ids, "the query matches the readable document too"
    assert chunk_ids <= set(
        Chunk.objects.filter(document=world.document).values_list("id", flat=True)
    )
    assert not chunk_ids & set(Chunk.objects.filter(document=hidden).values_list("id", flat=True))


def test_a_shared_reader_asks_and_the_context_map_holds_only_the_shared_project(
    client, world, scripted
):
    private = Project.objects.create(owner=world.owner, title="Private notes")
    add_document(private, "Secret survey", SECRET_PAGES)
    stranger_project = Project.objects.create(owner=world.people["stranger"], title="Survey")
    theirs = add_document(stranger_project, "Their survey", SECRET_PAGES)
    viewer = world.people["viewer"]
    client.force_login(viewer)

    # Choosing another project's document by id is refused by the form.
    ask_url = reverse("research:qa:ask", args=[world.project.pk])
    tampered = {"question": "Where is the drill site?", "scope": "chosen", "documents": [theirs.pk]}
    assert client.post(ask_url, tampered).status_code in (200, 400)
    assert not Thread.objects.filter(owner=viewer).exists()

    with eager_tasks(), TestCase.captureOnCommitCallbacks(execute=True):  # the worker's turn
        response = client.post(
            ask_url, {"question": "Where is the glacier survey?", "scope": "all"}, **HX
        )
    assert response.status_code == 204
    question = Question.objects.get(thread__owner=viewer)
    b"".join(client.get(reverse("research:qa:stream", args=[question.pk])).streaming_content)
    question.refresh_from_db()
    assert question.status == Question.Status.DONE
    readable = set(world.project.documents.values_list("id", flat=True))
    context = client.get(
        reverse("research:qa:context_map", args=[question.pk]), {"format": "json"}
    ).json()
    seen = {entry["source_id"] for entry in context["entries"]}
    seen |= {item["source_id"] for item in context["left_out"]}
    assert seen and seen <= readable
    chunk_ids = {chunk for entry in context["entries"] for chunk in entry["chunk_ids"]}
    assert chunk_ids <= set(
        Chunk.objects.filter(document__in=readable).values_list("id", flat=True)
    )
    assert "marker 7" not in str(scripted.calls[-1])

    # The reader's own follow-up is theirs; the owner's thread is read-only to them.
    thread_url = reverse("research:qa:thread", args=[question.thread_id])
    assert client.post(thread_url, {"question": "And in summer?"}).status_code == 302
    owners = Thread.objects.get(owner=world.owner)
    assert client.get(reverse("research:qa:thread", args=[owners.pk])).status_code == 200
    follow_up = {"question": "Mine now?"}
    assert (
        client.post(reverse("research:qa:thread", args=[owners.pk]), follow_up).status_code == 403
    )

    # Once the share is gone, so is everything in the project, their own thread included.
    ProjectShare.objects.filter(user=viewer).delete()
    assert client.get(reverse("research:qa:context_map", args=[question.pk])).status_code == 404
    assert client.get(thread_url).status_code == 404


def test_a_thread_pointing_at_another_projects_document_packs_none_of_it(world, scripted):
    """Even a thread whose stored scope names someone else's document (a tampered or stale
    row) only ever packs documents of its own project."""
    from research.qa import services as qa_services

    stranger_project = Project.objects.create(owner=world.people["stranger"], title="Survey")
    theirs = add_document(stranger_project, "Their survey", SECRET_PAGES)
    question = qa_services.thread_start(
        owner=world.people["editor"],
        project=world.project,
        question="Where is the drill site?",
        document_ids=[world.document.pk, theirs.pk],
    )
    prepared = qa_services.question_prepare(question_id=question.pk, attempt=question.attempt)
    assert prepared is not None
    question.refresh_from_db()
    sources = {entry["source_id"] for entry in question.context_map["entries"]}
    assert sources == {world.document.pk}
    assert "marker 7" not in str(prepared.messages)


# -- the sharing page ------------------------------------------------------------------------------


def test_the_owner_shares_with_a_person_and_a_group_changes_roles_and_removes_them(client, world):
    Project.objects.filter(pk=world.project.pk).update(title="Moraines")
    world.project.shares.all().delete()
    newcomer = make_user("nora")
    team = Group.objects.create(name="glaciology")
    member = make_user("tess")
    member.groups.add(team)
    sharing = reverse("research:sharing:share_list", args=[world.project.pk])

    client.force_login(world.owner)
    detail = client.get(reverse("research:project_detail", args=[world.project.pk]))
    assert f'href="{sharing}"' in detail.content.decode()
    assert "Only you can open this project." in client.get(sharing).content.decode()
    unknown = client.post(sharing, {"kind": "user", "name": "nobody", "role": "viewer"})
    assert unknown.status_code == 400 and "No account" in unknown.content.decode()
    myself = client.post(sharing, {"kind": "user", "name": world.owner.username, "role": "editor"})
    assert myself.status_code == 400 and not world.project.shares.exists()
    assert (
        client.post(sharing, {"kind": "user", "name": "nora", "role": "viewer"}).status_code == 302
    )
    assert (
        client.post(sharing, {"kind": "group", "name": "glaciology", "role": "editor"}).status_code
        == 302
    )
    page = client.get(sharing).content.decode()
    assert "nora" in page and "glaciology" in page

    # Shared projects are on the home page and the project list, marked as shared.
    for person, role in ((newcomer, "viewer"), (member, "editor")):
        client.force_login(person)
        home = client.get("/").content.decode()
        assert "Moraines" in home and f"Shared by {world.owner.username} · {role}" in home
        assert "Moraines" in client.get(reverse("research:project_list")).content.decode()
        assert client.get(sharing).status_code == 403
        tabs = client.get(reverse("research:project_detail", args=[world.project.pk]))
        assert f'href="{sharing}"' not in tabs.content.decode()

    share = world.project.shares.get(user=newcomer)
    client.force_login(world.owner)
    role_url = reverse("research:sharing:share_role", args=[world.project.pk, share.pk])
    assert client.post(role_url, {f"share{share.pk}-role": "editor"}).status_code == 302
    assert ProjectShare.objects.get(pk=share.pk).role == "editor"
    # Sharing again with the same person changes the role rather than adding a row.
    client.post(sharing, {"kind": "user", "name": "nora", "role": "viewer"})
    assert world.project.shares.filter(user=newcomer).get().role == "viewer"
    remove = reverse("research:sharing:share_remove", args=[world.project.pk, share.pk])
    assert client.post(remove).status_code == 302
    client.force_login(newcomer)
    assert (
        client.get(reverse("research:project_detail", args=[world.project.pk])).status_code == 404
    )
    assert "Moraines" not in client.get("/").content.decode()


def test_a_share_names_a_person_or_a_group_never_both_nor_neither(world):
    from django.db import IntegrityError

    group = Group.objects.create(name="both")
    for fields in ({"user": world.people["stranger"], "group": group}, {}):
        with pytest.raises(IntegrityError), transaction.atomic():
            ProjectShare.objects.create(project=world.project, role="viewer", **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        ProjectShare.objects.create(
            project=world.project, user=world.people["viewer"], role="editor"
        )


def test_a_share_on_another_project_cannot_be_changed_through_mine(client, world):
    mine = Project.objects.create(owner=world.people["stranger"], title="Mine")
    share = world.project.shares.get(user=world.people["viewer"])
    client.force_login(world.people["stranger"])
    for name in ("research:sharing:share_role", "research:sharing:share_remove"):
        url = reverse(name, args=[mine.pk, share.pk])
        assert client.post(url, {f"share{share.pk}-role": "editor"}).status_code == 404
    assert ProjectShare.objects.get(pk=share.pk).role == "viewer"


# -- the admin ------------------------------------------------------------------------------------


def test_the_admin_works_for_staff_and_is_closed_to_everyone_else(client, world):
    from django.contrib import admin

    staff = User.objects.create_superuser("root", "root@example.org", "correct horse 45")
    client.force_login(world.owner)
    assert client.get("/admin/").status_code == 302
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200
    asking = RequestFactory().get("/admin/")
    asking.user = staff
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        for view in ("changelist", "add"):
            url = reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}")
            # Records only written by Carrel (django-axes' sign-in attempts) cannot be added.
            allowed = view == "changelist" or model_admin.has_add_permission(asking)
            assert client.get(url).status_code == (200 if allowed else 403), url
        first = model._default_manager.first()
        if first is not None:
            url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk])
            assert client.get(url).status_code == 200, url
    add = reverse("admin:research_projectshare_add")
    response = client.post(
        add,
        {"project": world.project.pk, "user": world.people["stranger"].pk, "role": "viewer"},
    )
    assert response.status_code == 302
    assert world.project.shares.filter(user=world.people["stranger"]).exists()


def test_a_viewer_is_shown_no_upload_or_delete_controls_and_an_editor_is(client, world):
    project_url = reverse("research:project_detail", args=[world.project.pk])
    document_url = reverse("research:document_detail", args=[world.document.pk])
    client.force_login(world.people["viewer"])
    project, document = client.get(project_url).content, client.get(document_url).content
    assert b'data-testid="read-only"' in project and b'data-testid="upload-form"' not in project
    assert b"Delete this document" not in document
    client.force_login(world.people["editor"])
    project, document = client.get(project_url).content, client.get(document_url).content
    assert b'data-testid="upload-form"' in project and b'data-testid="read-only"' not in project
    assert b"Delete this document" in document
