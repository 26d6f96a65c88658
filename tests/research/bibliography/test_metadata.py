"""Title, authors, year, DOI and abstract read from a PDF's metadata and first page,
corrected by hand, and used to cite the document."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader, PdfWriter

from research.library import services
from research.library.bibliography import Cited, keys_for, labels_for
from research.library.metadata import find_doi, paper_metadata, split_authors
from research.models import Document, ProjectShare
from research.qa.selectors import packing_sources_for_documents
from tests.research.ingest_support import file_from, file_of, upload

pytest_plugins = ["tests.research.ingest_fixtures"]  # fixtures: eager_celery, project


def _document(outcome: services.UploadOutcome) -> Document:
    assert outcome.document is not None, outcome.message
    return outcome.document


FIRST_PAGE = """Attention Over Long Documents
Ada Lovelace1, Charles Babbage2* and Mary Somerville1
1 Analytical Society, London 2 Difference Engine Ltd
Published 1843. https://doi.org/10.1145/3368089.3409740.
Abstract
We read every page of a long paper and answer questions about it
with citations to the page.

1 Introduction
Earlier work from 1999 did not."""


def test_a_doi_is_found_by_scanning_and_loses_its_trailing_punctuation():
    assert find_doi("see https://doi.org/10.1145/3368089.3409740.") == "10.1145/3368089.3409740"
    assert find_doi("(doi:10.1000/xyz123), later") == "10.1000/xyz123"
    assert find_doi("version 210.5/3 and 10.12/x") == ""  # no registrant of 4+ digits


def test_the_first_page_gives_title_authors_year_doi_and_abstract():
    found = paper_metadata(pdf_metadata={}, first_page=FIRST_PAGE, file_stem="paper-3")
    assert found.title == "Attention Over Long Documents"
    assert found.authors == ["Ada Lovelace", "Charles Babbage", "Mary Somerville"]
    assert found.year == 1843
    assert found.doi == "10.1145/3368089.3409740"
    assert found.abstract == (
        "We read every page of a long paper and answer questions about it with citations "
        "to the page."
    )


def test_the_pdf_metadata_author_wins_and_a_placeholder_title_is_ignored():
    found = paper_metadata(
        pdf_metadata={"title": "Microsoft Word - draft3.docx", "author": "Lovelace, Ada"},
        first_page=FIRST_PAGE,
    )
    assert found.title == "Attention Over Long Documents"
    assert found.authors == ["Lovelace, Ada"]
    assert split_authors("Ada Lovelace and Mary Somerville") == ["Ada Lovelace", "Mary Somerville"]


def test_running_text_at_the_top_of_a_page_is_not_taken_for_a_title():
    found = paper_metadata(
        pdf_metadata={"created": "2022-04-03"},
        first_page="Hello, here is some text without a meaning. This text should show what a\n"
        "printed text will look like.",
    )
    assert found.title == "" and found.authors == [] and found.year == 2022


@pytest.mark.django_db
def test_an_uploaded_paper_gets_its_title_author_year_and_abstract(
    eager_celery, project, user, shared_data, django_capture_on_commit_callbacks
):
    (outcome,) = upload(
        project,
        user,
        [file_from(shared_data / "papers" / "multicolumn.pdf")],
        django_capture_on_commit_callbacks,
    )
    document = Document.objects.get(pk=_document(outcome).pk)
    assert document.stage == Document.Stage.READY, document.error
    assert document.title == "Two-Column Document with Lorem Ipsum"
    assert document.authors == ["Your Name"]
    assert document.year == 2024
    assert document.abstract.startswith("This is a sample document with two columns")
    assert document.metadata_source == Document.MetadataSource.FILE


def _with_pdf_metadata(path, **fields) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(path))
    writer.add_metadata({f"/{name}": value for name, value in fields.items()})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.django_db
def test_a_hand_edit_survives_a_retry_and_citations_use_author_year(
    eager_celery, project, user, shared_data, django_capture_on_commit_callbacks
):
    data = _with_pdf_metadata(
        shared_data / "papers" / "pdflatex-4-pages.pdf", Author="Grace Hopper", Title="Compilers"
    )
    (outcome,) = upload(
        project, user, [file_of("hopper.pdf", data)], django_capture_on_commit_callbacks
    )
    document = Document.objects.get(pk=_document(outcome).pk)
    assert (document.title, document.authors, document.year) == (
        "Compilers",
        ["Grace Hopper"],
        2022,
    )
    services.document_update_metadata(
        document=document,
        title="A Compiler for Everyone",
        authors=["Grace Hopper", "Jean Sammet"],
        year=1952,
        doi="10.1000/cobol",
        abstract="Programs in words.",
    )
    Document.objects.filter(pk=document.pk).update(summary="")
    with django_capture_on_commit_callbacks(execute=True):
        Document.objects.filter(pk=document.pk).update(stage=Document.Stage.FAILED)
        assert services.document_retry(document=Document.objects.get(pk=document.pk))
    document.refresh_from_db()
    assert document.stage == Document.Stage.READY
    assert document.title == "A Compiler for Everyone"
    assert document.authors == ["Grace Hopper", "Jean Sammet"] and document.year == 1952
    Document.objects.filter(pk=document.pk).update(summary="")
    (source,) = packing_sources_for_documents(document_ids=[document.pk])
    assert source.title == "Hopper and Sammet 1952"
    assert (
        source.summary == "A Compiler for Everyone. Programs in words."
    )  # title kept for retrieval


def test_two_papers_with_one_author_year_get_a_and_b_and_keys_get_suffixes():
    cited = [
        Cited(id=1, title="Deep nets", authors=("Jo Smith",), year=2020),
        Cited(id=2, title="The deep sea", authors=("Al Smith", "B Jones", "C Li"), year=2020),
        Cited(id=3, title="Untitled thoughts", authors=(), year=None),
    ]
    assert labels_for(cited) == {
        1: "Smith 2020",
        2: "Smith et al. 2020",
        3: "Untitled thoughts",
    }
    assert labels_for([*cited, Cited(id=4, title="x", authors=("Kim Smith",), year=2020)])[1] == (
        "Smith 2020a"
    )
    keys = keys_for([*cited, Cited(id=5, title="Deep Nets, again", authors=("Smith",), year=2020)])
    assert keys == {
        1: "smith2020deep",
        2: "smith2020deepa",
        3: "anonnduntitled",
        5: "smith2020deepb",
    }


@pytest.mark.django_db
def test_the_document_page_shows_the_citation_key_and_saves_an_edit(
    signed_in_client, project, user, other_user, client, shared_data
):
    (outcome,) = services.document_upload(
        project=project,
        uploaded_by=user,
        files=[file_from(shared_data / "papers" / "multicolumn.pdf")],
    )
    document = _document(outcome)
    url = f"/research/documents/{document.pk}/metadata/"
    response = signed_in_client.post(url, {"title": "T", "authors": "", "doi": "nonsense"})
    assert response.status_code == 400
    assert "A DOI starts with" in response.content.decode()
    response = signed_in_client.post(
        url,
        {
            "title": "Deep Nets",
            "authors": "Jo Smith\nAl Jones",
            "year": "2020",
            "doi": "https://doi.org/10.1000/xyz",
            "abstract": "Short.",
        },
    )
    assert response.status_code == 302
    document.refresh_from_db()
    assert document.doi == "10.1000/xyz" and document.authors == ["Jo Smith", "Al Jones"]
    page = signed_in_client.get(f"/research/documents/{document.pk}/").content.decode()
    assert 'value="smith2020deep"' in page
    assert "[Smith and Jones 2020, p. N]" in page
    bib = signed_in_client.get(f"/research/documents/{document.pk}/bibtex/")
    assert b"@article{smith2020deep," in bib.content and b"doi = {10.1000/xyz}" in bib.content
    ProjectShare.objects.create(project=project, user=other_user, role="viewer")
    client.force_login(other_user)
    assert client.post(url, {"title": "Mine"}).status_code == 403


@pytest.mark.django_db
def test_a_placeholder_pdf_title_gives_way_to_the_file_name(
    eager_celery, project, user, shared_data, django_capture_on_commit_callbacks
):
    data = _with_pdf_metadata(
        shared_data / "papers" / "pdflatex-4-pages.pdf", Title="Microsoft Word - draft3.docx"
    )
    (outcome,) = upload(
        project, user, [file_of("field-notes.pdf", data)], django_capture_on_commit_callbacks
    )
    document = Document.objects.get(pk=_document(outcome).pk)
    assert document.stage == Document.Stage.READY
    assert document.title == "field-notes"
