"""Uploaded files leave the disk when their documents go, however they go: the document's
Delete, a user account deleted, a project deleted, the admin's bulk delete. A rolled-back
delete keeps the file, and so does a deletion while another row uses the same file."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import transaction
from django.urls import reverse

from research.library import services
from research.models import Document, Project
from tests.hostile import text_pdf
from tests.research.ingest_support import file_of

pytestmark = pytest.mark.django_db


def _stored(project: Project, user, names: list[str], capture) -> list[Path]:
    files = [
        file_of(name, text_pdf(f"A paper called {name}, with enough words.")) for name in names
    ]
    with capture(execute=False):  # store only; ingestion is not what this is about
        services.document_upload(project=project, uploaded_by=user, files=files)
    paths = [Path(d.file.path) for d in Document.objects.filter(project=project)]
    assert len(paths) == len(names) and all(path.exists() for path in paths)
    return paths


def test_deleting_a_user_removes_the_files_of_everything_they_owned(
    user, django_capture_on_commit_callbacks
):
    project = services.project_create(owner=user, title="Mine")
    paths = _stored(project, user, ["a.pdf", "b.pdf"], django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    assert not any(path.exists() for path in paths)


def test_deleting_a_project_or_one_document_removes_their_files(
    user, django_capture_on_commit_callbacks
):
    project = services.project_create(owner=user, title="Mine")
    first, second = _stored(project, user, ["a.pdf", "b.pdf"], django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.document_delete(document=Document.objects.get(original_name="a.pdf"))
    assert not first.exists() and second.exists()
    with django_capture_on_commit_callbacks(execute=True):
        project.delete()
    assert not second.exists()


def test_the_admins_bulk_delete_removes_the_files(client, user, django_capture_on_commit_callbacks):
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    client.force_login(user)
    project = services.project_create(owner=user, title="Mine")
    paths = _stored(project, user, ["a.pdf", "b.pdf"], django_capture_on_commit_callbacks)
    ids = [str(pk) for pk in Document.objects.values_list("pk", flat=True)]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:research_document_changelist"),
            {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
        )
    assert response.status_code == 302
    assert not Document.objects.exists()
    assert not any(path.exists() for path in paths)


def test_a_rolled_back_delete_and_a_shared_file_keep_the_file(
    user, django_capture_on_commit_callbacks
):
    project = services.project_create(owner=user, title="Mine")
    [path] = _stored(project, user, ["a.pdf"], django_capture_on_commit_callbacks)
    document = Document.objects.get()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        document.delete()
        raise RuntimeError("changed my mind")
    assert path.exists()
    copy = Document.objects.get()
    copy.pk = None
    copy.content_hash = "another"
    copy.save()  # a second row pointing at the same stored file (as a copied world might)
    with django_capture_on_commit_callbacks(execute=True):
        Document.objects.filter(pk=document.pk).delete()
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        Document.objects.all().delete()
    assert not path.exists()
