"""Research pages through the test client: ownership, uploads, progress, buttons, reading."""

from __future__ import annotations

import os
import re
from html import unescape

import pytest
from django.urls import reverse

from research.library import services
from research.models import Chunk, Document, Page, Project
from tests.research.ingest_support import (
    file_from,
    file_of,
    upload,
)

pytest_plugins = ["tests.research.ingest_fixtures"]  # fixtures: eager_celery, project
pytestmark = pytest.mark.django_db

Stage = Document.Stage


@pytest.fixture
def ready_document(eager_celery, project, user, shared_data, django_capture_on_commit_callbacks):
    (outcome,) = upload(
        project,
        user,
        [file_from(shared_data / "papers" / "pdflatex-4-pages.pdf")],
        django_capture_on_commit_callbacks,
    )
    assert outcome.document is not None, outcome
    return Document.objects.get(pk=outcome.document.pk)


@pytest.fixture
def queued_document(project, user, shared_data):
    """Uploaded inside the test's transaction, so its task is never sent: it stays queued."""
    return services.document_upload(
        project=project,
        uploaded_by=user,
        files=[file_from(shared_data / "papers" / "multicolumn.pdf")],
    )[0].document


def test_a_project_is_created_and_listed(signed_in_client, user):
    response = signed_in_client.post(
        reverse("research:project_create"), {"title": "Topology", "kind": "research"}
    )
    project = Project.objects.get(owner=user, title="Topology")
    assert response["Location"] == reverse("research:project_detail", args=[project.pk])
    page = signed_in_client.get(reverse("research:project_list")).content.decode()
    assert "Topology" in page


def test_someone_elses_projects_documents_and_pages_are_not_found(
    client, other_user, ready_document
):
    client.force_login(other_user)
    document = ready_document
    urls = [
        reverse("research:project_detail", args=[document.project_id]),
        reverse("research:document_detail", args=[document.pk]),
        reverse("research:document_progress", args=[document.pk]),
        reverse("research:page_detail", args=[document.pk, 1]),
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
    for name in ("document_cancel", "document_retry", "document_delete", "document_password"):
        url = reverse(f"research:{name}", args=[document.pk])
        assert client.post(url, {"password": "x"}).status_code == 404, url
    upload_url = reverse("research:document_upload", args=[document.project_id])
    assert client.post(upload_url, {"uploads": [file_of("a.txt", b"hi")]}).status_code == 404
    assert Document.objects.filter(pk=document.pk).exists()
    assert "pdflatex" not in client.get(reverse("research:project_list")).content.decode()


def test_uploading_several_files_reports_each_on_the_batch_page_and_lists_them(
    signed_in_client, project, shared_data
):
    response = signed_in_client.post(
        reverse("research:document_upload", args=[project.pk]),
        {
            "uploads": [
                file_from(shared_data / "papers" / "multicolumn.pdf"),
                file_from(shared_data / "pdfs-bad" / "empty.pdf"),
                file_from(shared_data / "papers" / "multicolumn.pdf", name="copy.pdf"),
                file_of("notes.md", b"# Notes\n\nSome text."),
            ]
        },
        follow=True,
    )
    page = response.content.decode()
    assert "Added 2 files." in page
    assert "“empty.pdf” is empty (0 bytes)." in page
    assert "not added again: “copy.pdf” (as “" in page
    assert Document.objects.filter(project=project).count() == 3
    assert response.redirect_chain[-1][0].startswith("/research/imports/")
    assert '<span data-testid="count-queued">2</span>' in page
    listing = signed_in_client.get(reverse("research:project_detail", args=[project.pk]))
    assert listing.content.decode().count('data-testid="document-card"') == 3


def test_an_upload_without_files_shows_the_form_error(signed_in_client, project):
    response = signed_in_client.post(reverse("research:document_upload", args=[project.pk]))
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_the_progress_card_polls_only_while_the_document_is_running(
    signed_in_client, queued_document, ready_document
):
    running = signed_in_client.get(
        reverse("research:document_progress", args=[queued_document.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'hx-trigger="every 2s"' in running
    assert "<progress" in running and "Cancel</button>" in running
    done = signed_in_client.get(
        reverse("research:document_progress", args=[ready_document.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "hx-trigger" not in done
    assert 'data-testid="page-count">4 pages<' in done
    assert re.search(r'data-testid="token-count">[\d,]+ tokens<', done)
    assert 'data-testid="summary"' in done
    # without htmx the progress URL is the document's page
    plain = signed_in_client.get(reverse("research:document_progress", args=[ready_document.pk]))
    assert plain["Location"] == reverse("research:document_detail", args=[ready_document.pk])


def test_a_waiting_summary_is_shown_as_waiting(signed_in_client, ready_document):
    Document.objects.filter(pk=ready_document.pk).update(
        stage=Stage.SUMMARIZING,
        summary_status=Document.SummaryStatus.WAITING,
        status_message="Waiting for the model: refused. Retry 2 of 8 in 20 s.",
    )
    card = signed_in_client.get(
        reverse("research:document_progress", args=[ready_document.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'class="warning" data-testid="status">Waiting for the model' in card
    assert 'hx-trigger="every 2s"' in card


def test_cancel_and_retry_buttons_work_with_and_without_htmx(
    signed_in_client, queued_document, django_capture_on_commit_callbacks
):
    uploaded = queued_document.attempt
    cancel = reverse("research:document_cancel", args=[queued_document.pk])
    response = signed_in_client.post(cancel, HTTP_HX_REQUEST="true")
    assert 'data-stage="cancelled"' in response.content.decode()
    assert "Retry</button>" in response.content.decode()
    retry = reverse("research:document_retry", args=[queued_document.pk])
    with django_capture_on_commit_callbacks() as sent:
        response = signed_in_client.post(retry, {"next": "document"})
    assert response["Location"] == reverse("research:document_detail", args=[queued_document.pk])
    assert len(sent) == 1  # the restart was queued
    queued_document.refresh_from_db()
    assert queued_document.stage == Stage.QUEUED and queued_document.attempt == uploaded + 2


def test_the_password_form_sends_the_password_to_the_service(
    signed_in_client, queued_document, django_capture_on_commit_callbacks
):
    Document.objects.filter(pk=queued_document.pk).update(
        stage=Stage.NEEDS_PASSWORD,
        error_code=Document.ErrorCode.NEEDS_PASSWORD,
        error="This PDF is protected by a password. Enter it to continue.",
    )
    card = signed_in_client.get(
        reverse("research:document_detail", args=[queued_document.pk])
    ).content.decode()
    assert 'data-testid="password-form"' in card and 'type="password"' in card
    assert f'<label for="password-{queued_document.pk}">PDF password</label>' in card
    with django_capture_on_commit_callbacks() as sent:
        signed_in_client.post(
            reverse("research:document_password", args=[queued_document.pk]),
            {"password": "openpassword"},
        )
    queued_document.refresh_from_db()
    assert queued_document.stage == Stage.QUEUED and len(sent) == 1
    assert queued_document.pdf_password == "openpassword"  # until the worker has used it


def test_the_reading_view_marks_a_cited_passage_across_line_breaks(
    signed_in_client, ready_document
):
    page = Page.objects.get(document=ready_document, number=2)
    words = page.text.split()[10:22]
    passage = " ".join(words)
    url = reverse("research:page_detail", args=[ready_document.pk, 2])
    response = signed_in_client.get(url, {"q": passage})
    html = response.content.decode()
    found = re.search(r'<mark class="cited" id="cited">(.*?)</mark>', html, re.S)
    assert found is not None, html
    marked = found.group(1)
    assert " ".join(unescape(marked).split()) == passage
    occurrences = " ".join(page.text.split()).count(passage)
    assert f"Marked {occurrences} place{'s' if occurrences > 1 else ''}" in html
    assert html.count('<mark class="cited"') == occurrences
    assert 'rel="prev"' in html and 'rel="next"' in html
    missing = signed_in_client.get(url, {"q": "zzzz qqqq wwww"}).content.decode()
    assert "<mark" not in missing and "was not found on this page" in missing


def test_extracted_text_is_escaped_in_the_reading_view(signed_in_client, ready_document):
    Page.objects.filter(document=ready_document, number=1).update(
        text="<script>alert(1)</script> & the rest"
    )
    html = signed_in_client.get(
        reverse("research:page_detail", args=[ready_document.pk, 1]), {"q": "alert"}
    ).content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;<mark" in html


def test_a_summary_links_its_page_citations_to_the_reading_view(signed_in_client, ready_document):
    Document.objects.filter(pk=ready_document.pk).update(
        summary="Shown first [p. 2], and again [pp. 3-4]; not a page [p. 99]."
    )
    html = signed_in_client.get(
        reverse("research:document_detail", args=[ready_document.pk])
    ).content.decode()
    page2 = reverse("research:page_detail", args=[ready_document.pk, 2])
    page3 = reverse("research:page_detail", args=[ready_document.pk, 3])
    assert f'<a class="cite" href="{page2}">[p. 2]</a>' in html
    assert f'<a class="cite" href="{page3}">[pp. 3-4]</a>' in html
    assert "[p. 99]" in html and "pages/99/" not in html


def test_research_pages_use_no_inline_script_or_style(signed_in_client, ready_document):
    urls = [
        reverse("research:project_list"),
        reverse("research:project_create"),
        reverse("research:project_detail", args=[ready_document.project_id]),
        reverse("research:document_detail", args=[ready_document.pk]),
        reverse("research:page_detail", args=[ready_document.pk, 1]),
    ]
    for url in urls:
        html = signed_in_client.get(url).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert " style=" not in html, url
        for tag in re.findall(r"<[^>]+hx-get=[^>]*>", html):
            assert "href=" in tag or tag.startswith("<li"), tag
    project = signed_in_client.get(urls[2]).content.decode()
    assert "multiple" in project and 'enctype="multipart/form-data"' in project
    assert "js/upload.js" in project


def test_deleting_a_document_removes_its_pages_chunks_and_file(
    signed_in_client, ready_document, django_capture_on_commit_callbacks
):
    path = ready_document.file.path
    assert os.path.exists(path)
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in_client.post(
            reverse("research:document_delete", args=[ready_document.pk])
        )
    assert response.status_code == 302
    assert not Page.objects.filter(document_id=ready_document.pk).exists()
    assert not Chunk.objects.filter(document_id=ready_document.pk).exists()
    assert not os.path.exists(path)
