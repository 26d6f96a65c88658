"""Per-user storage quota (CARREL_USER_STORAGE_MB): what a user's stored files add up to,
checked file by file at upload, with the reason shown on the project page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from research.library import services
from research.models import Document
from tests.research.ingest_support import file_of

pytest_plugins = ["tests.research.ingest_fixtures"]  # fixtures: project
pytestmark = pytest.mark.django_db

KB = 1024


def note(name: str, size: int) -> bytes:
    """A plain-text file of exactly `size` bytes, different for every name."""
    head = f"# {name}\n\n".encode()
    return head + b"x" * (size - len(head))


@pytest.fixture
def quota(settings):
    settings.CARREL_USER_STORAGE_BYTES = 10 * KB
    return settings.CARREL_USER_STORAGE_BYTES


def test_an_upload_that_would_pass_the_users_quota_is_refused_with_the_numbers_on_the_page(
    signed_in_client, project, quota
):
    response = signed_in_client.post(
        reverse("research:document_upload", args=[project.pk]),
        {
            "uploads": [
                file_of("first.md", note("first", 6 * KB)),
                file_of("second.md", note("second", 3 * KB)),
                file_of("third.md", note("third", 2 * KB)),
            ]
        },
        follow=True,
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Added 2 files." in page
    assert "“third.md” (2.0\xa0KB) was not added" in page
    assert "already use 9.0\xa0KB of your 10.0\xa0KB storage (1.0\xa0KB free)" in page
    assert sorted(Document.objects.values_list("original_name", flat=True)) == [
        "first.md",
        "second.md",
    ]  # nothing is kept of the refused file, not even a failed row


def test_a_file_that_exactly_fills_the_quota_is_accepted(project, user, quota):
    (outcome,) = services.document_upload(
        project=project, uploaded_by=user, files=[file_of("full.md", note("full", quota))]
    )
    assert outcome.accepted, outcome.message


def test_the_quota_counts_only_the_uploaders_stored_files_and_deleting_frees_room(
    project, user, other_user, quota, settings
):
    settings.CARREL_MAX_UPLOAD_BYTES = 8 * KB
    theirs = services.project_create(owner=other_user, title="Theirs")
    services.document_upload(
        project=theirs, uploaded_by=other_user, files=[file_of("a.md", note("a", 7 * KB))]
    )
    refused_for_size = services.document_upload(
        project=project, uploaded_by=user, files=[file_of("huge.md", note("huge", 9 * KB))]
    )[0].document
    assert refused_for_size is not None
    assert refused_for_size.error_code == Document.ErrorCode.TOO_LARGE  # a row, but no file
    (kept,) = services.document_upload(
        project=project, uploaded_by=user, files=[file_of("b.md", note("b", 7 * KB))]
    )
    assert kept.accepted, kept.message  # someone else's 7 KB and a refused 9 KB do not count

    (over,) = services.document_upload(
        project=project, uploaded_by=user, files=[file_of("c.md", note("c", 4 * KB))]
    )
    assert not over.accepted and "7.0\xa0KB of your 10.0\xa0KB" in over.message

    assert kept.document is not None
    services.document_delete(document=kept.document)
    (again,) = services.document_upload(
        project=project, uploaded_by=user, files=[file_of("c.md", note("c", 4 * KB))]
    )
    assert again.accepted, again.message


def test_a_duplicate_is_reported_as_a_duplicate_even_when_the_quota_is_full(project, user, quota):
    data = note("same", 8 * KB)
    services.document_upload(project=project, uploaded_by=user, files=[file_of("a.md", data)])
    (outcome,) = services.document_upload(
        project=project, uploaded_by=user, files=[file_of("copy.md", data)]
    )
    assert outcome.duplicate_of is not None and "already in this project" in outcome.message


def test_no_quota_is_the_local_default(project, user, settings):
    assert settings.CARREL_USER_STORAGE_BYTES == 0  # CARREL_ENV=local
    outcomes = services.document_upload(
        project=project,
        uploaded_by=user,
        files=[file_of(f"{n}.md", note(str(n), 64 * KB)) for n in range(3)],
    )
    assert all(outcome.accepted for outcome in outcomes)
