"""Downloads of cited work: Markdown with footnote references, and the matching BibTeX.

Each view loads its row through its feature's selector (access checked there), calls
research/library/bibliography.py and returns a file."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from research.access import row_for_request
from research.library.bibliography import (
    CitedWork,
    TableCell,
    bibtex_for_documents,
    cited_markdown,
    cited_table_markdown,
)
from research.models import Answer, Comparison, Digest
from research.qa.selectors import question_get_for_user
from research.study.selectors import comparison_get_for_user, comparison_table, digest_get_for_user
from workspace.http import AuthedRequest, attachment

MARKDOWN = "text/markdown; charset=utf-8"
BIBTEX = "application/x-bibtex; charset=utf-8"


def _answer(request: AuthedRequest, question_id: int) -> tuple[Answer, CitedWork]:
    """The question's answer (404 while there is none)."""
    question = row_for_request(request, question_get_for_user, "question", question_id=question_id)
    answer = getattr(question, "answer", None)
    if answer is None:
        raise Http404("This question has no answer yet.")
    work = cited_markdown(
        heading=question.text, text=answer.text, project_id=question.thread.project_id
    )
    return answer, work


def _digest(request: AuthedRequest, digest_id: int) -> tuple[Digest, CitedWork]:
    digest = row_for_request(request, digest_get_for_user, "summary", digest_id=digest_id)
    return digest, cited_markdown(
        heading=digest.title, text=digest.body, project_id=digest.project_id
    )


@require_GET
def answer_markdown(request: AuthedRequest, question_id: int) -> HttpResponse:
    _answer_row, work = _answer(request, question_id)
    return attachment(work.markdown, filename=f"answer-{question_id}.md", content_type=MARKDOWN)


@require_GET
def answer_bibtex(request: AuthedRequest, question_id: int) -> HttpResponse:
    answer, work = _answer(request, question_id)
    text = bibtex_for_documents(
        project_id=answer.question.thread.project_id, document_ids=work.document_ids
    )
    return attachment(text, filename=f"answer-{question_id}.bib", content_type=BIBTEX)


@require_GET
def digest_markdown(request: AuthedRequest, digest_id: int) -> HttpResponse:
    digest, work = _digest(request, digest_id)
    return attachment(work.markdown, filename=f"summary-{digest.pk}.md", content_type=MARKDOWN)


@require_GET
def digest_bibtex(request: AuthedRequest, digest_id: int) -> HttpResponse:
    digest, work = _digest(request, digest_id)
    text = bibtex_for_documents(project_id=digest.project_id, document_ids=work.document_ids)
    return attachment(text, filename=f"summary-{digest.pk}.bib", content_type=BIBTEX)


def _comparison(request: AuthedRequest, comparison_id: int) -> tuple[Comparison, CitedWork]:
    comparison = row_for_request(
        request, comparison_get_for_user, "comparison", comparison_id=comparison_id
    )
    documents, rows = comparison_table(comparison=comparison)
    table = [
        (
            row.aspect,
            [
                TableCell(document.pk, cell.text, tuple(cell.pages))
                if cell is not None
                else TableCell(document.pk, "", ())
                for document, cell in zip(documents, row.cells, strict=True)
            ],
        )
        for row in rows
    ]
    work = cited_table_markdown(
        heading=comparison.title,
        project_id=comparison.project_id,
        document_ids=[document.pk for document in documents],
        rows=table,
    )
    return comparison, work


@require_GET
def comparison_markdown(request: AuthedRequest, comparison_id: int) -> HttpResponse:
    comparison, work = _comparison(request, comparison_id)
    filename = f"comparison-{comparison.pk}.md"
    return attachment(work.markdown, filename=filename, content_type=MARKDOWN)


@require_GET
def comparison_bibtex(request: AuthedRequest, comparison_id: int) -> HttpResponse:
    comparison, work = _comparison(request, comparison_id)
    text = bibtex_for_documents(project_id=comparison.project_id, document_ids=work.document_ids)
    return attachment(text, filename=f"comparison-{comparison.pk}.bib", content_type=BIBTEX)
