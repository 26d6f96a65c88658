"""One progress view for a bulk import: counts by state, the failures with their messages,
and "cancel the rest" for the documents no worker has started."""

from __future__ import annotations

import pytest
from django.urls import reverse

from research.library import pipeline, selectors, services
from research.library.bulkimport import documents_bulk_upload
from research.models import Document, ImportBatch, ProjectShare
from tests.research.ingest_support import file_of
from tests.research.library.test_bulk_import import zip_of

pytest_plugins = ["tests.research.ingest_fixtures"]  # fixtures: eager_celery, project
pytestmark = pytest.mark.django_db

Stage = Document.Stage


def notes(count: int) -> dict[str, bytes]:
    return {f"note-{n}.md": f"# Note {n}\n\nText number {n}.".encode() for n in range(count)}


def batch_of(project, user, files) -> ImportBatch:
    report = documents_bulk_upload(project=project, uploaded_by=user, files=files)
    assert report.batch_id is not None
    return ImportBatch.objects.get(pk=report.batch_id)


def test_a_zip_upload_lands_on_its_batch_page_with_every_document_counted_as_queued(
    signed_in_client, project
):
    response = signed_in_client.post(
        reverse("research:document_upload", args=[project.pk]),
        {"uploads": [zip_of("notes.zip", notes(4))]},
    )
    batch = ImportBatch.objects.get(project=project)
    assert response.status_code == 302
    assert response["Location"] == reverse("research:import_batch", args=[batch.pk])
    page = signed_in_client.get(response["Location"]).content.decode()
    assert "Added 4 files." in page
    project_page = signed_in_client.get(reverse("research:project_detail", args=[project.pk]))
    assert reverse("research:import_batch", args=[batch.pk]) in project_page.content.decode()
    assert '<span data-testid="count-queued">4</span>' in page
    assert "0 of 4 documents finished" in page
    assert "Cancel the rest (4 not started)" in page
    assert reverse("research:import_batch_progress", args=[batch.pk]) in page
    assert set(Document.objects.values_list("batch_id", flat=True)) == {batch.pk}


def test_a_single_file_upload_makes_no_batch_and_goes_back_to_the_project(
    signed_in_client, project
):
    response = signed_in_client.post(
        reverse("research:document_upload", args=[project.pk]),
        {"uploads": [file_of("one.md", b"# One\n\nText.")]},
    )
    assert response["Location"] == reverse("research:project_detail", args=[project.pk])
    assert not ImportBatch.objects.exists()
    assert Document.objects.get().batch is None


def test_the_batch_page_lists_each_failure_with_its_message_including_a_refused_zip(
    signed_in_client, project, user
):
    members = notes(2) | {"empty.md": b"", "picture.md": b"\x89PNG\r\n\x1a\n" + bytes(64)}
    bomb = zip_of("inner.zip", {"deeper.zip": b"PK"})
    batch = batch_of(project, user, [zip_of("mixed.zip", members), bomb])
    page = signed_in_client.get(reverse("research:import_batch", args=[batch.pk])).content
    page = page.decode()
    assert "“empty.md” is empty (0 bytes)." in page
    assert "“inner.zip” was refused: it holds another .zip" in page
    assert page.count('data-testid="batch-failure"') == 3  # empty, picture, the refused zip
    assert '<span data-testid="count-failed">2</span>' in page
    assert '<span data-testid="count-queued">2</span>' in page


def test_duplicates_of_a_batch_are_listed_apart_from_its_failures(signed_in_client, project, user):
    same = b"# Same\n\nThe same text."
    batch = batch_of(project, user, [file_of("a.md", same), file_of("b.md", same)])
    page = signed_in_client.get(reverse("research:import_batch", args=[batch.pk])).content
    page = page.decode()
    assert "1 already in the project (same content), not added again" in page
    assert "“b.md” (as “a”)" in page
    assert 'data-testid="batch-failure"' not in page


def test_cancel_the_rest_cancels_only_documents_not_yet_started(signed_in_client, project, user):
    batch = batch_of(project, user, [zip_of("notes.zip", notes(4))])
    first, second, *rest = Document.objects.filter(batch=batch).order_by("id")
    # A worker claimed the first one (queued -> extracting) before the person pressed it.
    assert Document.claim(first.pk, first.attempt, status_message="Extracting")
    elsewhere = services.document_upload(
        project=project, uploaded_by=user, files=[file_of("alone.md", b"# Alone\n\nText.")]
    )[0].document
    assert elsewhere is not None
    response = signed_in_client.post(reverse("research:import_batch_cancel", args=[batch.pk]))
    assert response.status_code == 302
    stages = dict(Document.objects.values_list("original_name", "stage"))
    assert stages[first.original_name] == Stage.EXTRACTING
    assert {stages[d.original_name] for d in [second, *rest]} == {Stage.CANCELLED}
    assert stages[elsewhere.original_name] == Stage.QUEUED  # not of this batch
    page = signed_in_client.get(response["Location"]).content.decode()
    assert "Cancelled 3 documents not started yet." in page
    assert "Cancel the rest" not in page


def test_a_worker_skips_a_document_cancelled_with_the_rest(project, user):
    batch = batch_of(project, user, [zip_of("notes.zip", notes(2))])
    document = Document.objects.filter(batch=batch).earliest("id")
    sent_attempt = document.attempt  # the ingest task carries the attempt it was sent for
    assert services.import_batch_cancel_rest(batch=batch) == 2
    assert pipeline.document_start_extraction(document_id=document.pk, attempt=sent_attempt) is None
    document.refresh_from_db()
    assert document.stage == Stage.CANCELLED
    assert document.halted_stage == Stage.QUEUED and document.can_retry


def test_cancel_the_rest_through_htmx_answers_with_the_fresh_progress_fragment(
    signed_in_client, project, user
):
    batch = batch_of(project, user, [zip_of("notes.zip", notes(2))])
    response = signed_in_client.post(
        reverse("research:import_batch_cancel", args=[batch.pk]), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert html.lstrip().startswith("<section")
    assert "Cancelled 2 documents not started yet." in html
    assert '<span data-testid="count-cancelled">2</span>' in html
    assert 'data-finished="true"' in html and "hx-get" not in html


def test_the_progress_fragment_polls_while_active_and_redirects_without_htmx(
    signed_in_client, project, user
):
    batch = batch_of(project, user, [zip_of("notes.zip", notes(2))])
    url = reverse("research:import_batch_progress", args=[batch.pk])
    fragment = signed_in_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in fragment and f'hx-get="{url}"' in fragment
    assert "<html" not in fragment
    plain = signed_in_client.get(url)
    assert plain["Location"] == reverse("research:import_batch", args=[batch.pk])


def test_a_viewer_sees_the_batch_but_cannot_cancel_it_and_a_stranger_sees_nothing(
    client, project, user, other_user, django_user_model
):
    batch = batch_of(project, user, [zip_of("notes.zip", notes(2))])
    ProjectShare.objects.create(project=project, user=other_user, role="viewer")
    client.force_login(other_user)
    page = client.get(reverse("research:import_batch", args=[batch.pk]))
    assert page.status_code == 200 and "Cancel the rest" not in page.content.decode()
    assert client.post(reverse("research:import_batch_cancel", args=[batch.pk])).status_code == 403
    stranger = django_user_model.objects.create_user(username="eve", password="x" * 20)
    client.force_login(stranger)
    assert client.get(reverse("research:import_batch", args=[batch.pk])).status_code == 404
    assert Document.objects.filter(stage=Stage.QUEUED).count() == 2


def test_the_progress_of_a_large_batch_is_read_in_two_queries(
    project, user, django_assert_num_queries
):
    batch = services.import_batch_create(project=project, created_by=user)
    Document.objects.bulk_create(
        Document(
            project=project,
            batch=batch,
            title=f"Paper {n}",
            original_name=f"paper-{n}.md",
            file_type=Document.FileType.MARKDOWN,
            content_hash=f"hash-{n}",
            stage=(Stage.QUEUED, Stage.READY, Stage.FAILED)[n % 3],
            error=f"Problem {n}" if n % 3 == 2 else "",
        )
        for n in range(300)
    )
    with django_assert_num_queries(2):
        progress = selectors.import_batch_progress(batch=batch)
        assert [(row.stage, row.count) for row in progress.counts] == [
            (Stage.QUEUED, 100),
            (Stage.READY, 100),
            (Stage.FAILED, 100),
        ]
        assert (progress.total, progress.waiting, progress.done) == (300, 100, 200)
        assert len(progress.failures) == 100 and progress.failures[0].error == "Problem 2"
