"""Comparison tables: making one, regenerating it, editing a cell, exports."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from research.access import project_for_request, row_for_request
from research.library.selectors import ready_document_list_for_project
from research.study import exports, selectors
from research.study import services as study_services
from research.study.forms import CellForm, ComparisonForm, pages_text
from research.study.generators import comparisons
from research.study.views.common import can_edit, refused, row_for_change, slug, started
from workspace.http import AuthedRequest, attachment


@require_http_methods(["GET", "POST"])
def comparison_list(request: AuthedRequest, project_id: int) -> HttpResponse:
    project = project_for_request(request, project_id)
    documents = ready_document_list_for_project(project=project)
    form = ComparisonForm(request.POST or None, documents=documents)
    if request.method == "POST" and form.is_valid():
        try:
            job = study_services.comparison_start(
                project=project,
                user=request.user,
                title=form.cleaned_data["title"],
                documents=list(form.cleaned_data["documents"]),
                aspects=ComparisonForm.aspect_list(form.cleaned_data),
            )
        except study_services.TooManyJobs as exc:
            return refused(request, exc, request.path)
        assert job.comparison_id is not None
        return started(
            request, job, reverse("research:study:comparison_detail", args=[job.comparison_id])
        )
    context = {
        "project": project,
        "comparisons": selectors.comparison_list_for_project(project=project),
        "form": form,
        "documents": documents,
        "can_edit": can_edit(request, project),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "research/study/comparisons.html", context, status=status)


@require_GET
def comparison_detail(request: AuthedRequest, comparison_id: int) -> HttpResponse:
    comparison = row_for_request(
        request, selectors.comparison_get_for_user, "comparison", comparison_id=comparison_id
    )
    documents, rows = selectors.comparison_table(comparison=comparison)
    context = {
        "project": comparison.project,
        "comparison": comparison,
        "documents": documents,
        "rows": rows,
        "jobs": selectors.job_list_for_comparison(comparison=comparison),
        "can_edit": can_edit(request, comparison.project),
    }
    return render(request, "research/study/comparison_detail.html", context)


@require_POST
def comparison_regenerate(request: AuthedRequest, comparison_id: int) -> HttpResponse:
    comparison = row_for_request(
        request, selectors.comparison_get_for_user, "comparison", comparison_id=comparison_id
    )
    url = reverse("research:study:comparison_detail", args=[comparison.pk])
    try:
        job = study_services.comparison_fill(comparison=comparison, user=request.user)
    except study_services.TooManyJobs as exc:
        return refused(request, exc, url)
    return started(request, job, url)


@require_http_methods(["GET", "POST"])
def cell_edit(request: AuthedRequest, cell_id: int) -> HttpResponse:
    cell = row_for_change(request, selectors.cell_get_for_user, "cell", cell_id=cell_id)
    initial = {"text": cell.text, "pages": pages_text(list(cell.pages))}
    form = CellForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        comparisons.cell_update(
            cell=cell, text=form.cleaned_data["text"], pages=form.cleaned_data["pages"]
        )
        messages.success(request, "Cell saved; regenerating will keep your words.")
        return redirect("research:study:comparison_detail", comparison_id=cell.comparison_id)
    context = {"project": cell.comparison.project, "cell": cell, "form": form}
    return render(request, "research/study/cell_form.html", context)


@require_GET
def comparison_export(request: AuthedRequest, comparison_id: int, fmt: str) -> HttpResponse:
    comparison = row_for_request(
        request, selectors.comparison_get_for_user, "comparison", comparison_id=comparison_id
    )
    documents = selectors.comparison_documents(comparison=comparison)
    cells = selectors.comparison_cells(comparison=comparison)
    writers: dict[str, tuple[Callable[..., str], str]] = {
        "csv": (exports.comparison_csv, "text/csv; charset=utf-8"),
        "md": (exports.comparison_markdown, "text/markdown; charset=utf-8"),
    }
    if fmt not in writers:
        raise Http404("No such format.")
    writer, content_type = writers[fmt]
    content = writer(comparison=comparison, documents=documents, cells=cells)
    filename = f"{slug(comparison.title)}.{fmt}"
    return attachment(content, filename=filename, content_type=content_type)
