"""Bulk upload: several files at once and .zip files of papers, each file through the
ordinary upload path, one grouped message; a .zip that is unsafe or too big stores nothing."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from research.library.bulkimport import documents_bulk_upload
from research.models import Document
from tests.research.ingest_support import file_from, file_of

pytest_plugins = ["tests.research.ingest_fixtures"]  # fixtures: eager_celery, project
pytestmark = pytest.mark.django_db

PAPERS = ("habibi.pdf", "pdflatex-4-pages.pdf", "002-trivial-libre-office-writer.pdf")


def zip_of(name: str, members: dict[str, bytes]) -> SimpleUploadedFile:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return SimpleUploadedFile(name, out.getvalue(), content_type="application/zip")


def papers(shared_data: Path) -> dict[str, bytes]:
    return {f"papers/{name}": (shared_data / "papers" / name).read_bytes() for name in PAPERS}


def test_a_zip_of_three_shared_papers_imports_three_documents(
    signed_in_client, project, shared_data
):
    response = signed_in_client.post(
        reverse("research:document_upload", args=[project.pk]),
        {"uploads": [zip_of("library.zip", papers(shared_data))]},
        follow=True,
    )
    page = response.content.decode()
    assert "Added 3 files." in page
    documents = Document.objects.filter(project=project)
    assert sorted(documents.values_list("original_name", flat=True)) == sorted(PAPERS)
    assert {d.stage for d in documents} == {Document.Stage.QUEUED}
    assert all(d.file.name and "papers/" not in d.file.name for d in documents)


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../../evil.pdf", "a path outside the archive"),
        ("/etc/evil.pdf", "a path outside the archive"),
        ("C:\\Windows\\evil.pdf", "a path outside the archive"),
        ("inner/more.zip", "it holds another .zip"),
    ],
)
def test_a_zip_with_an_unsafe_member_is_refused_with_a_message_and_nothing_stored(
    signed_in_client, project, shared_data, member, reason
):
    members = papers(shared_data) | {member: b"%PDF-1.4 whatever"}
    response = signed_in_client.post(
        reverse("research:document_upload", args=[project.pk]),
        {"uploads": [zip_of("bad.zip", members)]},
        follow=True,
    )
    page = response.content.decode()
    assert reason in page
    assert "Nothing in it was added." in page
    assert not Document.objects.filter(project=project).exists()


def test_a_zip_with_too_many_members_is_refused_with_a_message_and_nothing_stored(
    project, user, settings
):
    settings.CARREL_BULK_ZIP_MAX_MEMBERS = 3
    members = {f"note-{n}.md": f"# Note {n}\n\nText {n}.".encode() for n in range(4)}
    report = documents_bulk_upload(
        project=project, uploaded_by=user, files=[zip_of("notes.zip", members)]
    )
    assert "holds 4 files; an upload may hold at most 3" in report.summary()
    assert "CARREL_BULK_ZIP_MAX_MEMBERS" in report.summary()
    assert not Document.objects.filter(project=project).exists()


def test_an_upload_over_the_files_per_batch_limit_stores_nothing(project, user, settings):
    settings.CARREL_BULK_MAX_FILES = 2
    members = {f"note-{n}.md": f"# Note {n}\n\nText {n}.".encode() for n in range(2)}
    report = documents_bulk_upload(
        project=project,
        uploaded_by=user,
        files=[zip_of("notes.zip", members), file_of("loose.md", b"# Loose\n\nText.")],
    )
    assert report.problem.startswith("This upload holds 3 files; one upload may add at most 2")
    assert not Document.objects.filter(project=project).exists()


def test_a_zip_over_the_size_limit_is_refused_and_the_other_files_go_ahead(project, user, settings):
    settings.CARREL_BULK_ZIP_MAX_BYTES = 100
    big = zip_of("big.zip", {f"n{n}.md": bytes(range(256)) * 4 for n in range(3)})
    report = documents_bulk_upload(
        project=project, uploaded_by=user, files=[big, file_of("loose.md", b"# Loose\n\nText.")]
    )
    assert report.added == ["loose.md"]
    assert "“big.zip” is" in report.summary() and "CARREL_BULK_ZIP_MAX_MB" in report.summary()
    assert list(Document.objects.values_list("original_name", flat=True)) == ["loose.md"]


def test_multi_file_upload_with_a_duplicate_reports_it_in_one_grouped_message(
    signed_in_client, project, shared_data
):
    paper = shared_data / "papers" / "habibi.pdf"
    response = signed_in_client.post(
        reverse("research:document_upload", args=[project.pk]),
        {
            "uploads": [
                file_from(paper),
                file_of("notes.md", b"# Notes\n\nSome text."),
                file_from(paper, name="habibi-again.pdf"),
                file_of("picture.png", b"\x89PNG\r\n\x1a\n" + bytes(64)),
            ]
        },
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert len(messages) == 1
    (message,) = messages
    assert message.startswith("Added 2 files.")
    assert "not added again: “habibi-again.pdf” (as “habibi”)" in message
    assert "Not added (1): " in message and "picture.png" in message
    assert sorted(Document.objects.values_list("original_name", flat=True)) == [
        "habibi.pdf",
        "notes.md",
        "picture.png",  # the refused file's row carries its message; no file is kept
    ]
    assert not Document.objects.get(original_name="picture.png").file


def test_a_zip_with_a_bad_file_inside_adds_the_rest_and_names_the_bad_one(
    project, user, shared_data
):
    members = papers(shared_data) | {
        "empty.pdf": b"",
        "__MACOSX/papers/._habibi.pdf": b"resource fork",
        ".DS_Store": b"finder",
    }
    report = documents_bulk_upload(
        project=project, uploaded_by=user, files=[zip_of("library.zip", members)]
    )
    assert len(report.added) == 3
    assert report.refused == ["“empty.pdf” is empty (0 bytes)."]
    assert len(report.document_ids) == 3
    assert Document.objects.filter(project=project, stage=Document.Stage.QUEUED).count() == 3


def test_a_small_zip_that_unpacks_past_the_limit_is_refused_and_nothing_stored(
    project, user, settings
):
    settings.CARREL_BULK_ZIP_MAX_BYTES = 1024 * 1024
    bomb = zip_of("small.zip", {"zeros.txt": b"0" * (5 * 1024 * 1024)})
    assert bomb.size < settings.CARREL_BULK_ZIP_MAX_BYTES
    report = documents_bulk_upload(project=project, uploaded_by=user, files=[bomb])
    assert report.refused == [
        "“small.zip” unpacks to 5.0\xa0MB; a .zip may unpack to at most 1.0\xa0MB "
        "(CARREL_BULK_ZIP_MAX_MB). Nothing in it was added."
    ]
    assert not Document.objects.filter(project=project).exists()
