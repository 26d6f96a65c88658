"""Importing a Zotero export (.bib with its files/ folder, zipped), a .bib or CSL-JSON
alone: entries become documents with their metadata, through the ordinary upload path."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pypdf import PdfReader, PdfWriter

from research.library.bibimport import bibliography_import, file_paths
from research.library.bibliography import citation_keys_for_project
from research.models import Document

pytest_plugins = ["tests.research.ingest_fixtures"]  # fixtures: eager_celery, project
pytestmark = pytest.mark.django_db

BIB = r"""
@article{lovelace1843,
  title = {Sketch of the {A}nalytical {E}ngine},
  author = {Lovelace, Ada and Menabrea, Luigi},
  year = {1843},
  doi = {10.5555/ae.1843},
  abstract = {Notes on a machine that weaves algebraic patterns.},
  file = {Lovelace - 1843 - Sketch.pdf:files/12/Lovelace - 1843 - Sketch.pdf:application/pdf}
}

@book{hopper1952,
  title = {The Education of a Computer},
  author = {Grace Hopper},
  date = {1952-05-02},
  file = {files/13/hopper.pdf}
}

@article{broken,
  title = {An entry never closed,
  author = {Nobody}

@misc{gone2001,
  title = {A Paper Whose File Was Lost},
  author = {Lost, Ann},
  year = {2001},
  file = {gone.pdf:files/99/gone.pdf:application/pdf}
}

@misc{climber2002,
  title = {A Path That Climbs Out},
  year = {2002},
  file = {../../../etc/passwd}
}

@misc{nofile2003,
  title = {Only a Reference},
  author = {Cite, Only},
  year = {2003}
}
"""


def zotero_export(shared_data: Path, bib: str = BIB, folder: str = "My Library") -> bytes:
    """A zip as Zotero's Export Collection (BibTeX, Export Files) writes it."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(f"{folder}/{folder}.bib", bib)
        archive.writestr(
            f"{folder}/files/12/Lovelace - 1843 - Sketch.pdf",
            (shared_data / "papers" / "multicolumn.pdf").read_bytes(),
        )
        archive.writestr(
            f"{folder}/files/13/hopper.pdf",
            (shared_data / "papers" / "pdflatex-4-pages.pdf").read_bytes(),
        )
    return out.getvalue()


def _import(project, user, name: str, data: bytes, capture):
    with capture(execute=True):
        return bibliography_import(
            project=project, uploaded_by=user, upload=SimpleUploadedFile(name, data)
        )


def test_a_zotero_export_becomes_documents_with_the_entries_metadata_and_a_clear_report(
    eager_celery, project, user, shared_data, django_capture_on_commit_callbacks
):
    report = _import(
        project, user, "export.zip", zotero_export(shared_data), django_capture_on_commit_callbacks
    )
    assert report.ok, report.problem
    assert report.entries == 6
    documents = {d.original_name: d for d in Document.objects.filter(project=project)}
    assert sorted(documents) == ["Lovelace - 1843 - Sketch.pdf", "hopper.pdf"]
    sketch = documents["Lovelace - 1843 - Sketch.pdf"]
    assert sketch.stage == Document.Stage.READY, sketch.error
    assert sketch.title == "Sketch of the Analytical Engine"  # the entry's, not the PDF's
    assert sketch.authors == ["Lovelace, Ada", "Menabrea, Luigi"]
    assert (sketch.year, sketch.doi) == (1843, "10.5555/ae.1843")
    assert sketch.abstract == "Notes on a machine that weaves algebraic patterns."
    assert sketch.metadata_source == Document.MetadataSource.IMPORT
    hopper = documents["hopper.pdf"]
    assert (hopper.title, hopper.authors, hopper.year) == (
        "The Education of a Computer",
        ["Grace Hopper"],
        1952,
    )
    assert hopper.stage == Document.Stage.READY
    keys = citation_keys_for_project(project_id=project.pk)
    assert sorted(keys.values()) == ["hopper1952", "lovelace1843"]  # the user's own keys
    message = report.summary()
    assert message.startswith("Imported 2 of 6 entries as documents.")
    assert "No file attached: nofile2003 (“Only a Reference”)." in message
    assert "File not found in the upload: gone2001" in message
    assert "climber2002" in message  # a path out of the archive is simply not found
    assert "Could not read: the entry at line" in message


def test_importing_the_same_export_again_adds_nothing_and_says_so(
    eager_celery, project, user, shared_data, django_capture_on_commit_callbacks
):
    data = zotero_export(shared_data)
    _import(project, user, "export.zip", data, django_capture_on_commit_callbacks)
    again = _import(project, user, "export.zip", data, django_capture_on_commit_callbacks)
    assert again.added == [] and len(again.updated) == 2
    assert Document.objects.filter(project=project).count() == 2
    assert "Already here, details filled in: lovelace1843" in again.summary()


def test_a_bib_file_alone_reports_every_entry_with_a_file_as_missing(project, user):
    report = bibliography_import(
        project=project,
        uploaded_by=user,
        upload=SimpleUploadedFile("refs.bib", BIB.encode()),
    )
    assert report.added == [] and not Document.objects.exists()
    assert len(report.missing_file) == 4 and len(report.without_file) == 1
    assert len(report.broken) == 1


def test_a_csl_json_export_in_a_zip_imports_its_items(
    eager_celery, project, user, shared_data, django_capture_on_commit_callbacks
):
    items = [
        {
            "id": "http://zotero.org/users/1/items/ABC",
            "citation-key": "somerville1834",
            "type": "book",
            "title": "On the Connexion of the Physical Sciences",
            "author": [{"family": "Somerville", "given": "Mary"}],
            "issued": {"date-parts": [[1834]]},
            "file": "files/12/Lovelace - 1843 - Sketch.pdf",
        },
        {"id": "x2", "title": "No attachment", "issued": {"raw": "1999"}},
        {"id": "x3"},
        "not an item",
    ]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("lib.json", json.dumps(items))
        archive.writestr(
            "files/12/Lovelace - 1843 - Sketch.pdf",
            (shared_data / "papers" / "multicolumn.pdf").read_bytes(),
        )
    report = _import(project, user, "csl.zip", out.getvalue(), django_capture_on_commit_callbacks)
    assert report.added == ["somerville1834 (“On the Connexion of the Physical Sciences”)"]
    (document,) = Document.objects.filter(project=project)
    assert (document.authors, document.year) == (["Somerville, Mary"], 1834)
    assert report.without_file == ["x2 (“No attachment”)"]
    assert report.broken == ["x3 (no title)", "item 4 (not an object)"]


def test_an_import_over_the_entry_limit_or_not_a_bibliography_is_refused_whole(
    project, user, settings
):
    settings.CARREL_BIB_IMPORT_MAX_ENTRIES = 3
    report = bibliography_import(
        project=project, uploaded_by=user, upload=SimpleUploadedFile("refs.bib", BIB.encode())
    )
    assert "holds 6 entries; an import may hold at most 3" in report.problem
    report = bibliography_import(
        project=project, uploaded_by=user, upload=SimpleUploadedFile("notes.txt", b"hello")
    )
    assert "is not a bibliography" in report.problem
    report = bibliography_import(
        project=project, uploaded_by=user, upload=SimpleUploadedFile("x.zip", b"PK\x03\x04junk")
    )
    assert "cannot be opened" in report.problem
    assert not Document.objects.exists()


def test_a_zip_with_too_many_members_is_refused_before_reading_any(project, user, settings):
    settings.CARREL_BIB_IMPORT_MAX_MEMBERS = 5
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for number in range(6):
            archive.writestr(f"files/{number}.pdf", b"%PDF-1.4")
    report = bibliography_import(
        project=project, uploaded_by=user, upload=SimpleUploadedFile("big.zip", out.getvalue())
    )
    assert report.problem == (
        "This .zip holds 6 files; an import may hold at most 5 (CARREL_BIB_IMPORT_MAX_MEMBERS)."
    )


def test_an_attachment_over_the_upload_limit_is_reported_not_stored(
    project, user, shared_data, settings
):
    settings.CARREL_MAX_UPLOAD_BYTES = 1000
    report = bibliography_import(
        project=project,
        uploaded_by=user,
        upload=SimpleUploadedFile("export.zip", zotero_export(shared_data)),
    )
    assert report.added == [] and not Document.objects.exists()
    assert any("lovelace1843" in line and "over the limit" in line for line in report.refused)


def test_a_damaged_attachment_is_reported_and_the_others_are_imported(project, user, shared_data):
    data = bytearray(zotero_export(shared_data))
    at = data.find(b"%PDF")  # the first attachment's bytes (stored, so its CRC now fails)
    data[at + 200] ^= 0xFF
    report = bibliography_import(
        project=project, uploaded_by=user, upload=SimpleUploadedFile("export.zip", bytes(data))
    )
    assert any("could not be read from the .zip" in line for line in report.refused)
    assert len(report.added) == 1


def test_zotero_file_fields_give_their_paths():
    assert file_paths("a.pdf:files/1/a.pdf:application/pdf;b:files/2/b\\:c.pdf:text/plain") == [
        "files/1/a.pdf",
        "files/2/b:c.pdf",
    ]
    assert file_paths("files/3/plain.pdf") == ["files/3/plain.pdf"]


def test_the_import_form_on_the_project_page_reports_in_one_message(
    signed_in_client, project, shared_data, eager_celery, django_capture_on_commit_callbacks
):
    page = signed_in_client.get(f"/research/{project.pk}/").content.decode()
    assert f'action="/research/{project.pk}/import/"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in_client.post(
            f"/research/{project.pk}/import/",
            {"bibliography": SimpleUploadedFile("export.zip", zotero_export(shared_data))},
            follow=True,
        )
    text = response.content.decode()
    assert "Imported 2 of 6 entries as documents." in text
    assert "No file attached: nofile2003" in text


@pytest.mark.slow
def test_a_zotero_export_of_200_entries_imports_in_one_batch_with_a_report_line_per_problem(
    project, user, shared_data, django_capture_on_commit_callbacks
):
    """200 entries, 190 with their own PDF (distinct copies of a shared paper), 5 without a
    file and 5 whose file is missing; ingestion is queued, not run, here."""
    source = PdfReader(shared_data / "papers" / "pdflatex-4-pages.pdf")
    entries = []
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for number in range(200):
            fields = (
                f"title = {{Paper number {number}}}, author = {{Author{number}, A}}, year = 2000"
            )
            if number < 190:
                writer = PdfWriter(clone_from=source)
                writer.add_metadata({"/Subject": f"copy {number}"})
                data = io.BytesIO()
                writer.write(data)
                archive.writestr(f"Export/files/{number}/paper{number}.pdf", data.getvalue())
                path = f"files/{number}/paper{number}.pdf"
                fields += f", file = {{paper{number}.pdf:{path}:application/pdf}}"
            elif number < 195:
                fields += f", file = {{files/{number}/lost.pdf}}"
            entries.append(f"@article{{key{number}, {fields}}}")
        archive.writestr("Export/Export.bib", "\n".join(entries))
    with django_capture_on_commit_callbacks() as sent:
        report = bibliography_import(
            project=project,
            uploaded_by=user,
            upload=SimpleUploadedFile("export.zip", out.getvalue()),
        )
    assert report.entries == 200 and len(report.added) == 190
    assert len(report.missing_file) == 5 and len(report.without_file) == 5
    assert len(sent) == 190  # one ingestion task a document
    assert Document.objects.filter(project=project, stage=Document.Stage.QUEUED).count() == 190
    assert "and 0 more" not in report.summary()
