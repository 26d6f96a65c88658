"""Forms for the workspace's own pages. The style guide's forms show how fields render."""

from __future__ import annotations

from django import forms


class SampleProjectForm(forms.Form):
    """A form shown bound with errors on the style guide, so error styling can be seen."""

    title = forms.CharField(max_length=200, help_text="A name you will recognise later.")
    kind = forms.ChoiceField(
        choices=[("research", "Research project"), ("world", "World documents")]
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    share = forms.BooleanField(required=False, label="Share with my lab")


class SampleNoteForm(forms.Form):
    """The style guide's textarea that Ctrl+Enter submits."""

    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Press Ctrl+Enter (⌘+Enter on a Mac) to send.",
    )
