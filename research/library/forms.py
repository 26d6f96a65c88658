from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from research.library.metadata import clean_doi
from research.models import Document, Project

ACCEPT = (
    ".pdf,.txt,.text,.md,.markdown,.zip,application/pdf,text/plain,text/markdown,application/zip"
)


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["title", "kind", "description"]
        labels = {"title": "Title", "kind": "Kind", "description": "Description (optional)"}
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Any number of files; each is checked by the upload service, not here, so that an
    empty or mistyped file gets its own message on its own document."""

    widget = MultipleFileInput

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple) and data:
            return [single(item, initial) for item in data]
        return [single(data or None, initial)]  # [] is "no file": the required error


class UploadForm(forms.Form):
    uploads = MultipleFileField(
        label="Files",
        help_text=(
            "PDF, plain text or Markdown. Choose several at once, drop them here, or upload "
            "a .zip of them."
        ),
        widget=MultipleFileInput(attrs={"accept": ACCEPT, "data-upload-input": ""}),
    )


class PasswordForm(forms.Form):
    password = forms.CharField(
        label="PDF password",
        strip=False,
        max_length=500,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )


class DocumentMetadataForm(forms.Form):
    """A document's bibliographic fields, as a person corrects them."""

    title = forms.CharField(label="Title", max_length=300)
    authors = forms.CharField(
        label="Authors",
        required=False,
        max_length=4000,
        help_text="One name a line, e.g. “Ada Lovelace”.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    year = forms.IntegerField(label="Year", required=False, min_value=1000, max_value=2100)
    doi = forms.CharField(
        label="DOI", required=False, max_length=300, help_text="e.g. 10.1000/xyz123"
    )
    abstract = forms.CharField(
        label="Abstract",
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 6}),
    )

    def clean_authors(self) -> list[str]:
        lines = [" ".join(line.split()) for line in self.cleaned_data["authors"].splitlines()]
        names = [line[:120] for line in lines if line]
        if len(names) > 100:
            raise forms.ValidationError("At most 100 authors.")
        return names

    def clean_doi(self) -> str:
        value = self.cleaned_data["doi"].strip()
        if not value:
            return ""
        doi = clean_doi(value)
        if not doi:
            raise forms.ValidationError(
                "A DOI starts with “10.” and holds a “/”, e.g. 10.1000/xyz."
            )
        return doi

    @classmethod
    def for_document(cls, document: Document) -> DocumentMetadataForm:
        return cls(
            initial={
                "title": document.title,
                "authors": "\n".join(str(name) for name in document.authors or []),
                "year": document.year,
                "doi": document.doi,
                "abstract": document.abstract,
            }
        )


class BibliographyImportForm(forms.Form):
    bibliography = forms.FileField(
        label="Bibliography",
        help_text=(
            "A .bib or CSL-JSON (.json) file, or a .zip of Zotero's “Export Collection” with "
            "“Export Files” checked (the .bib and its files/ folder)."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".bib,.bibtex,.json,.zip"}),
    )


class SummaryModeForm(forms.Form):
    summary_mode = forms.ChoiceField(
        label="Model summaries of new documents",
        choices=Project.SummaryMode.choices,
        help_text=(
            "Each summary is one model call per passage. A document is ready to ask about "
            "without one: its abstract, or its passages, serve."
        ),
    )
