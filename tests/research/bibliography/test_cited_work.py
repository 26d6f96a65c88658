"""An answer, a comparison or a summary out as Markdown with footnote references and a
BibTeX file of the documents it cites, under keys that stay the same from one export to the next."""

from __future__ import annotations

import hashlib
import itertools

import bibtexparser
import pytest

from research.library.bibliography import cited_markdown
from research.models import (
    Answer,
    Comparison,
    ComparisonCell,
    Digest,
    Document,
    Project,
    ProjectShare,
    Question,
    Thread,
)

pytestmark = pytest.mark.django_db
_numbers = itertools.count()


def _document(project: Project, title: str, authors: list[str], year: int | None) -> Document:
    return Document.objects.create(
        project=project,
        title=title,
        original_name=f"{title}.pdf",
        file_type=Document.FileType.PDF,
        content_hash=hashlib.sha256(f"{title}{next(_numbers)}".encode()).hexdigest(),
        stage=Document.Stage.READY,
        authors=authors,
        year=year,
    )


@pytest.fixture
def library(user):
    project = Project.objects.create(owner=user, title="Engines")
    first = _document(project, "Sketch of the Analytical Engine", ["Ada Lovelace"], 1843)
    second = _document(project, "Sketches & Engines <draft>", ["Ada Lovelace"], 1843)
    third = _document(project, "Notes without authors", [], None)
    return project, first, second, third


ANSWER = (
    "Engines weave patterns [Lovelace 1843a, p. 2]; the notes agree "
    "[Notes without authors, pp. 3-4; Lovelace 1843b, p. 1]. Again [Lovelace 1843a, p. 2]. "
    "Unknown [Babbage 1864, p. 9]. <b>bold</b>"
)


def test_citations_become_numbered_footnotes_and_unknown_ones_stay_as_written(library):
    project, first, second, third = library
    work = cited_markdown(heading="How do engines weave?", text=ANSWER, project_id=project.pk)
    assert work.document_ids == [first.pk, third.pk, second.pk]
    assert work.markdown == (
        "# How do engines weave?\n\n"
        "Engines weave patterns [^1]; the notes agree [^2][^3]. Again [^1]. "
        "Unknown [Babbage 1864, p. 9]. &lt;b&gt;bold&lt;/b&gt;\n\n"
        "[^1]: Lovelace 1843a, “Sketch of the Analytical Engine”, p. 2. "
        "[@lovelace1843sketch, p. 2]\n"
        "[^2]: Notes without authors, “Notes without authors”, pp. 3-4. "
        "[@anonndnotes, pp. 3-4]\n"
        "[^3]: Lovelace 1843b, “Sketches &amp; Engines &lt;draft&gt;”, p. 1. "
        "[@lovelace1843sketches, p. 1]\n"
    )


def test_an_answer_exports_as_markdown_and_bibtex_with_keys_stable_across_exports(
    library, user, signed_in_client
):
    project = library[0]
    thread = Thread.objects.create(owner=user, project=project, title="Engines")
    question = Question.objects.create(
        thread=thread, text="How do engines weave?", status=Question.Status.DONE
    )
    Answer.objects.create(question=question, text=ANSWER)
    page = signed_in_client.get(f"/research/threads/{thread.pk}/").content.decode()
    assert f'href="/research/questions/{question.pk}/cited.md"' in page
    markdown = signed_in_client.get(f"/research/questions/{question.pk}/cited.md")
    assert markdown["Content-Disposition"].startswith("attachment")
    assert "[^1]: Lovelace 1843a" in markdown.content.decode()
    bib = signed_in_client.get(f"/research/questions/{question.pk}/cited.bib").content.decode()
    entries = bibtexparser.parse_string(bib).entries
    assert [entry.key for entry in entries] == [  # in the order they were added
        "lovelace1843sketch",
        "lovelace1843sketches",
        "anonndnotes",
    ]
    assert entries[0].fields_dict["author"].value == "Ada Lovelace"
    assert "Sketches \\& Engines <draft>" in bib
    # A later document with the same key stem takes a suffix; the earlier keys stay.
    _document(project, "Sketch of a Difference", ["Ada Lovelace"], 1843)
    again = signed_in_client.get(f"/research/questions/{question.pk}/cited.bib").content.decode()
    assert again == bib


def test_a_summary_exports_with_footnotes_and_a_stranger_gets_nothing(
    library, signed_in_client, client, other_user
):
    project, first, _second, _third = library
    digest = Digest.objects.create(
        project=project,
        title="Engines overview",
        document_ids=[first.pk],
        body="Looms of numbers [Sketch of the Analytical Engine, p. 5].",
    )
    page = signed_in_client.get(f"/research/digests/{digest.pk}/").content.decode()
    assert f'href="/research/digests/{digest.pk}/cited.bib"' in page
    text = signed_in_client.get(f"/research/digests/{digest.pk}/cited.md").content.decode()
    assert text.startswith("# Engines overview\n\nLooms of numbers [^1].")
    bib = signed_in_client.get(f"/research/digests/{digest.pk}/cited.bib").content.decode()
    assert bib.startswith("@misc{lovelace1843sketch,")
    client.force_login(other_user)
    assert client.get(f"/research/digests/{digest.pk}/cited.md").status_code == 404
    ProjectShare.objects.create(project=project, user=other_user, role="viewer")
    assert client.get(f"/research/digests/{digest.pk}/cited.bib").status_code == 200


def test_a_comparison_exports_as_a_table_headed_by_author_year_with_a_footnote_per_cell(
    library, signed_in_client, client, other_user
):
    project, first, _second, third = library
    comparison = Comparison.objects.create(
        project=project,
        title="Engines | compared",
        document_ids=[first.pk, third.pk],
        aspects=["Method", "Data"],
    )
    ComparisonCell.objects.create(
        comparison=comparison, document=first, aspect="Method", text="Cards | looms", pages=[2]
    )
    ComparisonCell.objects.create(
        comparison=comparison, document=third, aspect="Method", text="Gears", pages=[3, 5]
    )
    ComparisonCell.objects.create(
        comparison=comparison, document=first, aspect="Data", text="Not stated", pages=[]
    )
    page = signed_in_client.get(f"/research/comparisons/{comparison.pk}/").content.decode()
    assert f'href="/research/comparisons/{comparison.pk}/cited.md"' in page

    text = signed_in_client.get(f"/research/comparisons/{comparison.pk}/cited.md").content.decode()
    assert text == (
        "# Engines | compared\n\n"
        "| Aspect | Lovelace 1843a | Notes without authors |\n"
        "|---|---|---|\n"
        "| Method | Cards \\| looms[^1] | Gears[^2] |\n"
        "| Data | Not stated |  |\n\n"
        "[^1]: Lovelace 1843a, “Sketch of the Analytical Engine”, p. 2. "
        "[@lovelace1843sketch, p. 2]\n"
        "[^2]: Notes without authors, “Notes without authors”, pp. 3, 5. "
        "[@anonndnotes, pp. 3, 5]\n"
    )
    bib = signed_in_client.get(f"/research/comparisons/{comparison.pk}/cited.bib").content.decode()
    keys = [entry.key for entry in bibtexparser.parse_string(bib).entries]
    assert keys == ["lovelace1843sketch", "anonndnotes"]
    client.force_login(other_user)
    assert client.get(f"/research/comparisons/{comparison.pk}/cited.md").status_code == 404
