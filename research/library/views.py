"""Research pages: projects, uploads, document progress and the reading view.

Every object is loaded through a selector that filters by access (research/access.py),
so another person's id is a 404 and a viewer's POST a 403. Views validate, call one
service, and render or redirect.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from research import access
from research.access import row_for_request
from research.library import bibliography, selectors, services, summary_lane
from research.library.bibimport import bibliography_import
from research.library.bulkimport import documents_bulk_upload
from research.library.forms import (
    BibliographyImportForm,
    DocumentMetadataForm,
    PasswordForm,
    ProjectForm,
    SummaryModeForm,
    UploadForm,
)
from research.models import Document, Page, Project
from research.qa import selectors as qa_selectors
from research.study import selectors as study_selectors
from workspace.http import AuthedRequest, attachment


def _document_card(request: AuthedRequest, document: Document) -> HttpResponse:
    """The document's card; on its own page ("document") the summary shows open."""
    place = request.GET.get("view") or request.POST.get("next") or "project"
    context = {
        "document": document,
        "next": "document" if place == "document" else "project",
        "read_only": _read_only(request, document.project),
    }
    return render(request, "research/library/partials/document_card.html", context)


def _read_only(request: AuthedRequest, project: Project) -> bool:
    """A viewer sees no buttons that would only be refused (the server checks regardless)."""
    return not access.project_writable_for_user(user=request.user, project=project)


def _back_to(request: AuthedRequest, document: Document) -> HttpResponse:
    """After a button on a document: the fresh card for htmx, else the page it came from."""
    if request.htmx:
        document.refresh_from_db()
        return _document_card(request, document)
    if request.POST.get("next") == "document":
        return redirect("research:document_detail", document_id=document.pk)
    return redirect("research:project_detail", project_id=document.project_id)


@require_GET
def project_list(request: AuthedRequest) -> HttpResponse:
    projects = selectors.project_list_for_user(user=request.user)
    return render(request, "research/library/project_list.html", {"projects": projects})


@require_http_methods(["GET", "POST"])
def project_create(request: AuthedRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = services.project_create(owner=request.user, **form.cleaned_data)
        return redirect("research:project_detail", project_id=project.pk)
    return render(request, "research/library/project_form.html", {"form": form})


def _project_page(
    request: AuthedRequest, project: Project, form: UploadForm, status: int = 200
) -> HttpResponse:
    documents = selectors.document_list_for_project(project=project)
    context = {
        "project": project,
        "documents": documents,
        "form": form,
        "import_form": BibliographyImportForm(),
        "summary_form": SummaryModeForm(initial={"summary_mode": project.summary_mode}),
        "summary_cost": selectors.summary_cost_for_project(project=project),
        "import_batches": selectors.import_batch_list_for_project(project=project)[:3],
        "threads": qa_selectors.thread_list_for_project(user=request.user, project=project)[:10],
        "study": study_selectors.study_overview(project=project),
        "read_only": _read_only(request, project),
    }
    return render(request, "research/library/project_detail.html", context, status=status)


@require_GET
def project_detail(request: AuthedRequest, project_id: int) -> HttpResponse:
    return _project_page(request, access.project_for_request(request, project_id), UploadForm())


@require_POST
def document_upload(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = access.project_for_request(request, project_id)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _project_page(request, project, form, status=400)
    report = documents_bulk_upload(
        project=project, uploaded_by=request.user, files=form.cleaned_data["uploads"]
    )
    if report.clean and report.added:
        messages.success(request, report.summary())
    else:
        messages.warning(request, report.summary())
    if report.batch_id is not None:  # several files or a .zip: follow them on one page
        return redirect("research:import_batch", batch_id=report.batch_id)
    return redirect("research:project_detail", project_id=project.pk)


def _batch_context(request: AuthedRequest, batch_id: int) -> dict[str, object]:
    batch = row_for_request(
        request, selectors.import_batch_get_for_user, "import", batch_id=batch_id
    )
    return {
        "progress": selectors.import_batch_progress(batch=batch),
        "read_only": _read_only(request, batch.project),
    }


@require_GET
def import_batch(request: AuthedRequest, batch_id: int) -> HttpResponse:
    """One upload of many files: counts by state, the failures, cancel the rest."""
    return render(request, "research/library/import_batch.html", _batch_context(request, batch_id))


@require_GET
def import_batch_progress(request: AuthedRequest, batch_id: int) -> HttpResponse:
    """The batch's progress fragment, polled while any of its documents is active."""
    context = _batch_context(request, batch_id)  # a 404 for a stranger, even without htmx
    if not request.htmx:
        return redirect("research:import_batch", batch_id=batch_id)
    return render(request, BATCH_PARTIAL, context)


@require_POST
def import_batch_cancel(request: AuthedRequest, batch_id: int) -> HttpResponse:
    """Cancel the batch's documents no worker has started; those being read go on."""
    batch = row_for_request(
        request, selectors.import_batch_get_for_user, "import", batch_id=batch_id
    )
    cancelled = services.import_batch_cancel_rest(batch=batch)
    note = (
        f"Cancelled {cancelled} document{'' if cancelled == 1 else 's'} not started yet."
        if cancelled
        else "No document of this upload was still waiting to start."
    )
    if request.htmx:
        context = _batch_context(request, batch_id) | {"note": note}
        return render(request, BATCH_PARTIAL, context)
    messages.info(request, note)
    return redirect("research:import_batch", batch_id=batch.pk)


BATCH_PARTIAL = "research/library/partials/import_batch_progress.html"


def _document_page(
    request: AuthedRequest,
    document: Document,
    form: DocumentMetadataForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "document": document,
        "pages": selectors.page_list_for_document(document=document),
        "summary": selectors.document_summary_pieces(document=document),
        "read_only": _read_only(request, document.project),
        "citation": bibliography.citation_view_for_document(document=document),
        "metadata_form": form or DocumentMetadataForm.for_document(document),
        "metadata_open": form is not None,
    }
    return render(request, "research/library/document_detail.html", context, status=status)


@require_POST
def project_import(request: AuthedRequest, project_id: int) -> HttpResponse:
    """Import a .bib / CSL-JSON file, or a Zotero export .zip with its files."""
    project = access.project_for_request(request, project_id)
    form = BibliographyImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a .bib, CSL-JSON or .zip file to import.")
        return redirect("research:project_detail", project_id=project.pk)
    report = bibliography_import(
        project=project, uploaded_by=request.user, upload=form.cleaned_data["bibliography"]
    )
    if (
        report.ok
        and report.added
        and not (report.without_file or report.missing_file or report.refused or report.broken)
    ):
        messages.success(request, report.summary())
    else:
        messages.warning(request, report.summary())
    return redirect("research:project_detail", project_id=project.pk)


@require_POST
def project_summaries(request: AuthedRequest, project_id: int) -> HttpResponse:
    """Choose when new documents are summarised, or summarise the waiting ones now."""
    project = access.project_for_request(request, project_id)
    if request.POST.get("action") == "start":
        started = summary_lane.project_summaries_start(project=project)
        messages.success(
            request,
            f"Summarising {started} document{'' if started == 1 else 's'}; questions go first."
            if started
            else "No document is waiting for a summary.",
        )
        return redirect("research:project_detail", project_id=project.pk)
    form = SummaryModeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose when summaries run: now, when idle, or off.")
    else:
        summary_lane.project_set_summary_mode(
            project=project, mode=form.cleaned_data["summary_mode"]
        )
        messages.success(
            request, f"Summaries of new documents: {project.get_summary_mode_display()}."
        )
    return redirect("research:project_detail", project_id=project.pk)


@require_GET
def document_detail(request: AuthedRequest, document_id: int) -> HttpResponse:
    document = row_for_request(
        request, selectors.document_get_for_user, "document", document_id=document_id
    )
    return _document_page(request, document)


@require_POST
def document_metadata(request: AuthedRequest, document_id: int) -> HttpResponse:
    """Save a person's corrections to the title, authors, year, DOI and abstract."""
    document = row_for_request(
        request, selectors.document_get_for_user, "document", document_id=document_id
    )
    form = DocumentMetadataForm(request.POST)
    if not form.is_valid():
        return _document_page(request, document, form, status=400)
    services.document_update_metadata(document=document, **form.cleaned_data)
    messages.success(request, "Saved the document's details.")
    return redirect("research:document_detail", document_id=document.pk)


@require_GET
def document_bibtex(request: AuthedRequest, document_id: int) -> HttpResponse:
    """This one document as a BibTeX entry under its citation key."""
    document = row_for_request(
        request, selectors.document_get_for_user, "document", document_id=document_id
    )
    text = bibliography.bibtex_for_documents(
        project_id=document.project_id, document_ids=[document.pk]
    )
    key = bibliography.citation_key_for_document(document=document)
    return attachment(text, filename=f"{key}.bib", content_type="application/x-bibtex")


@require_GET
def document_progress(request: AuthedRequest, document_id: int) -> HttpResponse:
    document = row_for_request(
        request, selectors.document_get_for_user, "document", document_id=document_id
    )
    if not request.htmx:
        return redirect("research:document_detail", document_id=document.pk)
    return _document_card(request, document)


@require_POST
def document_cancel(request: AuthedRequest, document_id: int) -> HttpResponse:
    document = row_for_request(
        request, selectors.document_get_for_user, "document", document_id=document_id
    )
    if not services.document_cancel(document=document):
        messages.info(request, f"“{document.title}” was not running.")
    return _back_to(request, document)


@require_POST
def document_retry(request: AuthedRequest, document_id: int) -> HttpResponse:
    document = row_for_request(
        request, selectors.document_get_for_user, "document", document_id=document_id
    )
    if not services.document_retry(document=document):
        messages.info(request, f"“{document.title}” cannot be retried now.")
    return _back_to(request, document)


@require_POST
def document_password(request: AuthedRequest, document_id: int) -> HttpResponse:
    document = row_for_request(
        request, selectors.document_get_for_user, "document", document_id=document_id
    )
    form = PasswordForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter the PDF's password.")
    elif not services.document_submit_password(
        document=document, password=form.cleaned_data["password"]
    ):
        messages.info(request, f"“{document.title}” is not waiting for a password.")
    return _back_to(request, document)


@require_POST
def document_delete(request: AuthedRequest, document_id: int) -> HttpResponse:
    document = row_for_request(
        request, selectors.document_get_for_user, "document", document_id=document_id
    )
    project_id = document.project_id
    services.document_delete(document=document)
    messages.success(request, f"Deleted “{document.title}”.")
    return redirect("research:project_detail", project_id=project_id)


@require_GET
def page_detail(request: AuthedRequest, document_id: int, number: int) -> HttpResponse:
    query = request.GET.get("q", "")
    try:
        view = selectors.page_view_for_user(
            user=request.user, document_id=document_id, number=number, query=query
        )
    except Page.DoesNotExist:
        raise Http404("No such page.") from None
    return render(request, "research/library/page_detail.html", {"view": view, "query": query})
