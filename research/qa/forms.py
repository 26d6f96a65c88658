"""Forms of research Q&A: a first question with its scope, and a follow-up."""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.db.models import QuerySet

from research.models import Document, Question

MAX_QUESTION_CHARS = 4000


def fresh_auto_id() -> str:
    """Field ids unique to one rendering: when htmx swaps a re-rendered form in, no old
    element shares an id with a new one, so htmx never copies attributes across (its
    "settle" step would set a style attribute, which the CSP forbids)."""
    return f"q{secrets.token_hex(3)}_%s"


ANSWER_MODES = [
    (
        Question.AnswerMode.PASSAGES,
        "The best passages, quoted with their pages (no model, in seconds)",
    ),
    (Question.AnswerMode.GENERATED, "An answer written by the model, with page citations"),
]


class FollowUpForm(forms.Form):
    """`passages_default`: what an answer is when the form does not say (the passages where
    the active model cannot follow instructions), and the choice shown at first."""

    def __init__(self, *args: Any, passages_default: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", fresh_auto_id())
        super().__init__(*args, **kwargs)
        self.default_mode = (
            Question.AnswerMode.PASSAGES if passages_default else Question.AnswerMode.GENERATED
        )
        self.fields["answer_mode"].initial = self.default_mode
        if passages_default:
            self.fields["answer_mode"].help_text = (
                "The active model is a small base model that cannot follow instructions: "
                "the passages are the honest answer. You can still have it write one, "
                "now or from the passages."
            )

    question = forms.CharField(
        label="Your question",
        max_length=MAX_QUESTION_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    answer_mode = forms.ChoiceField(
        label="Answer with",
        choices=ANSWER_MODES,
        required=False,
        widget=forms.RadioSelect,
    )

    def clean_question(self) -> str:
        text = self.cleaned_data["question"].strip()
        if not text:
            raise forms.ValidationError("Write a question first.")
        return text

    def clean_answer_mode(self) -> str:
        return self.cleaned_data.get("answer_mode") or self.default_mode


class AskForm(FollowUpForm):
    SCOPES = [("all", "All documents of this project"), ("chosen", "Only the documents I tick")]

    scope = forms.ChoiceField(
        label="Ask about", choices=SCOPES, initial="all", widget=forms.RadioSelect
    )
    documents = forms.ModelMultipleChoiceField(
        label="Documents",
        queryset=Document.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick one document to ask about it alone, or several.",
    )

    def __init__(self, *args: Any, documents: QuerySet[Document], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["documents"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = documents

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("scope") == "chosen" and not data.get("documents"):
            self.add_error("documents", "Tick at least one document, or ask about all of them.")
        return data

    def document_ids(self) -> list[int]:
        if self.cleaned_data.get("scope") != "chosen":
            return []
        return [document.pk for document in self.cleaned_data["documents"]]
