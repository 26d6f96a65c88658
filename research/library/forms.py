from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from research.models import Project

ACCEPT = ".pdf,.txt,.text,.md,.markdown,application/pdf,text/plain,text/markdown"


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
        help_text="PDF, plain text or Markdown. Choose several at once, or drop them here.",
        widget=MultipleFileInput(attrs={"accept": ACCEPT, "data-upload-input": ""}),
    )


class PasswordForm(forms.Form):
    password = forms.CharField(
        label="PDF password",
        strip=False,
        max_length=500,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )
