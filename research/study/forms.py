"""Forms of the study tools: what to generate from, and the hand edits of cards, events,
comparison cells and summaries."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from research.cloze import has_cloze
from research.models import Answer, Document, Flashcard, TimelineEvent
from research.study.generators import comparisons, flashcards, timelines
from research.study.generators.timelines import When, parse_when
from workspace.runtime import runtime_follows_instructions


def _page_number(text: str) -> int:
    text = text.strip()
    if not (1 <= len(text) <= 5 and text.isdecimal()):
        raise ValueError(text)
    return int(text)


def parse_pages(text: str) -> list[int]:
    """ "3, 5-7" -> [3, 5, 6, 7]; raises ValueError on anything else."""
    pages: set[int] = set()
    for part in text.split(","):
        if not part.strip():
            continue
        first, dash, last = part.partition("-")
        try:
            start = _page_number(first)
            end = _page_number(last) if dash else start
        except ValueError:
            raise ValueError(part.strip()) from None
        if start < 1 or end < start or end - start > 1000:
            raise ValueError(part.strip())
        pages.update(range(start, end + 1))
    return sorted(pages)


def parse_tags(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def pages_text(pages: list[int]) -> str:
    return ", ".join(str(page) for page in pages)


class DocumentChoices:
    """Mixin: limit document fields to the project's readable documents."""

    fields: dict[str, forms.Field]

    def limit_documents(self, documents: QuerySet[Document], *names: str) -> None:
        for name in names:
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = documents


TAGS_HELP = "Separate tags with commas."
FROM_TEXT, BY_MODEL = "text", "model"  # research/study/services.py METHODS


class MethodChoice:
    """Mixin: `method`, how the material is made: from the text itself (no model call) or
    by the model. Unsaid, it is the text wherever the active model cannot follow
    instructions (the embedded demo model), else the model."""

    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]
    TEXT_LABEL = "From the text itself, each citing its page (no model, in seconds)"

    def offer_methods(self) -> None:
        self.default_method = BY_MODEL if runtime_follows_instructions() else FROM_TEXT
        self.fields["method"] = forms.ChoiceField(
            label="Made",
            choices=[(FROM_TEXT, self.TEXT_LABEL), (BY_MODEL, "Written by the model")],
            initial=self.default_method,
            required=False,
            widget=forms.RadioSelect,
        )
        if self.default_method == FROM_TEXT:
            self.fields["method"].help_text = (
                "The active model is a small base model that cannot follow instructions, "
                "so the text itself is the default; its own version stays a choice."
            )

    def clean_method(self) -> str:
        return self.cleaned_data.get("method") or self.default_method


class FlashcardGenerateForm(MethodChoice, DocumentChoices, forms.Form):
    TEXT_LABEL = (
        "From the text itself: cloze cards from sentences that define something or state a "
        "finding, each citing its page (no model, in seconds)"
    )

    SCOPES = [
        ("project", "Every document of this project"),
        ("document", "One document"),
        ("pages", "Some pages of one document"),
    ]
    scope = forms.ChoiceField(
        label="Make cards from", choices=SCOPES, initial="project", widget=forms.RadioSelect
    )
    document = forms.ModelChoiceField(
        label="Document", queryset=Document.objects.none(), required=False
    )
    first_page = forms.IntegerField(label="From page", min_value=1, required=False)
    last_page = forms.IntegerField(label="To page", min_value=1, required=False)
    count = forms.IntegerField(
        label="Cards per document",
        min_value=1,
        max_value=flashcards.MAX_COUNT,
        initial=flashcards.DEFAULT_COUNT,
    )
    kinds = forms.ChoiceField(
        label="Kind of cards",
        choices=[
            ("basic", "Question and answer"),
            ("cloze", "Cloze (fill in the blank)"),
            ("both", "Both"),
        ],
        initial="basic",
    )
    tags = forms.CharField(label="Tag the new cards", required=False, help_text=TAGS_HELP)

    def __init__(self, *args: Any, documents: QuerySet[Document], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_documents(documents, "document")
        self.offer_methods()
        self.fields["kinds"].help_text = "For the model's cards; cards from the text are cloze."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        scope = data.get("scope")
        document = data.get("document")
        if scope in ("document", "pages") and document is None:
            self.add_error("document", "Choose the document.")
        if scope == "pages":
            first, last = data.get("first_page"), data.get("last_page")
            if first is None or last is None:
                self.add_error("first_page", "Give the first and the last page.")
            elif last < first:
                self.add_error("last_page", "The last page comes before the first.")
            elif document is not None and last > document.page_count:
                self.add_error("last_page", f"“{document.title}” has {document.page_count} pages.")
        return data

    def page_range(self) -> tuple[int, int] | None:
        if self.cleaned_data["scope"] != "pages":
            return None
        return (self.cleaned_data["first_page"], self.cleaned_data["last_page"])


class AnswerChoiceField(forms.ModelChoiceField):
    """Answers named by their question."""

    def label_from_instance(self, obj: Any) -> str:
        return str(obj.question.text[:120])


class AnswerCardsForm(MethodChoice, forms.Form):
    TEXT_LABEL = (
        "From the pages the answer cites: cloze cards from sentences that define something "
        "or state a finding (no model, in seconds)"
    )

    answer = AnswerChoiceField(label="Answer", queryset=Answer.objects.none())
    count = forms.IntegerField(
        label="Cards", min_value=1, max_value=flashcards.MAX_COUNT, initial=5
    )
    kinds = forms.ChoiceField(
        label="Kind of cards",
        choices=[("basic", "Question and answer"), ("cloze", "Cloze"), ("both", "Both")],
        initial="basic",
    )
    tags = forms.CharField(label="Tag the new cards", required=False, help_text=TAGS_HELP)

    def __init__(self, *args: Any, answers: list[Answer], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["answer"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Answer.objects.filter(pk__in=[answer.pk for answer in answers])
        self.offer_methods()


class FlashcardForm(DocumentChoices, forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=Flashcard.Kind.choices, initial="basic")
    front = forms.CharField(
        label="Question (or cloze text)",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="For a cloze card, wrap the hidden words like {{c1::this}}.",
    )
    back = forms.CharField(
        label="Answer (or extra note)",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        required=False,
    )
    document = forms.ModelChoiceField(
        label="Source document", queryset=Document.objects.none(), required=False
    )
    pages = forms.CharField(
        label="Source pages", required=False, help_text="For example: 3, 5-7", max_length=200
    )
    tags = forms.CharField(label="Tags", required=False, help_text=TAGS_HELP, max_length=500)

    def __init__(self, *args: Any, documents: QuerySet[Document], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_documents(documents, "document")

    def clean_pages(self) -> list[int]:
        try:
            return parse_pages(self.cleaned_data.get("pages", ""))
        except ValueError as exc:
            raise forms.ValidationError(f"“{exc}” is not a page or a range of pages.") from exc

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == Flashcard.Kind.CLOZE and not has_cloze(data.get("front", "")):
            self.add_error("front", "A cloze card needs at least one {{c1::hidden words}}.")
        if data.get("kind") == Flashcard.Kind.BASIC and not data.get("back", "").strip():
            self.add_error("back", "Write the answer.")
        document = data.get("document")
        pages = data.get("pages") or []
        if pages and document is None:
            self.add_error("document", "Choose the document these pages belong to.")
        if document is not None and pages and max(pages) > document.page_count:
            self.add_error("pages", f"“{document.title}” has {document.page_count} pages.")
        return data

    @classmethod
    def initial_for(cls, card: Flashcard) -> dict[str, Any]:
        return {
            "kind": card.kind,
            "front": card.front,
            "back": card.back,
            "document": card.document_id,
            "pages": pages_text(list(card.pages)),
            "tags": ", ".join(tag.name for tag in card.tags.all()),
        }


class GradeForm(forms.Form):
    rating = forms.TypedChoiceField(
        label="How well did you recall it?",
        choices=[(1, "Again"), (2, "Hard"), (3, "Good"), (4, "Easy")],
        coerce=int,
    )
    duration_ms = forms.IntegerField(min_value=0, max_value=86_400_000, required=False)


class DocumentsForm(DocumentChoices, forms.Form):
    documents = forms.ModelMultipleChoiceField(
        label="Documents",
        queryset=Document.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, documents: QuerySet[Document], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_documents(documents, "documents")


class TimelineGenerateForm(MethodChoice, DocumentsForm):
    TEXT_LABEL = "From the text itself: its dated sentences, each citing its page (no model)"

    count = forms.IntegerField(
        label="Events per document",
        min_value=1,
        max_value=timelines.MAX_COUNT,
        initial=timelines.DEFAULT_COUNT,
    )
    tags = forms.CharField(label="Tag the new events", required=False, help_text=TAGS_HELP)

    def __init__(self, *args: Any, documents: QuerySet[Document], **kwargs: Any) -> None:
        super().__init__(*args, documents=documents, **kwargs)
        self.fields["documents"].help_text = "Tick none to read every document."
        self.offer_methods()


class EventForm(DocumentChoices, forms.Form):
    title = forms.CharField(label="Title", max_length=timelines.TITLE_CHARS)
    description = forms.CharField(
        label="Description", widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    start = forms.CharField(
        label="Date (or start)",
        max_length=11,
        help_text="YYYY, YYYY-MM or YYYY-MM-DD; -44 is 44 BCE",
    )
    end = forms.CharField(label="End (for a period)", max_length=11, required=False)
    precision = forms.ChoiceField(
        label="Precision", choices=TimelineEvent.Precision.choices, initial="year"
    )
    document = forms.ModelChoiceField(
        label="Add a source document", queryset=Document.objects.none(), required=False
    )
    pages = forms.CharField(label="Its pages", required=False, max_length=200)
    tags = forms.CharField(label="Tags", required=False, help_text=TAGS_HELP, max_length=500)

    def __init__(self, *args: Any, documents: QuerySet[Document], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_documents(documents, "document")

    def _date(self, name: str) -> When | None:
        text = self.cleaned_data.get(name, "").strip()
        if not text:
            return None
        when = parse_when(text)
        if when is None:
            raise forms.ValidationError(f"“{text}” is not a date like 1998, 1998-03 or 1998-03-14.")
        return when

    def clean_start(self) -> When | None:
        return self._date("start")

    def clean_end(self) -> When | None:
        return self._date("end")

    def clean_pages(self) -> list[int]:
        try:
            return parse_pages(self.cleaned_data.get("pages", ""))
        except ValueError as exc:
            raise forms.ValidationError(f"“{exc}” is not a page or a range of pages.") from exc

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None and end.sort_key < start.sort_key:
            self.add_error("end", "The end comes before the start.")
        if data.get("pages") and data.get("document") is None:
            self.add_error("document", "Choose the document these pages belong to.")
        return data

    @classmethod
    def initial_for(cls, event: TimelineEvent) -> dict[str, Any]:
        end = timelines.event_end(event)
        return {
            "title": event.title,
            "description": event.description,
            "start": timelines.event_start(event).iso(),
            "end": end.iso() if end else "",
            "precision": event.precision,
            "tags": ", ".join(tag.name for tag in event.tags.all()),
        }


class ComparisonForm(DocumentsForm):
    title = forms.CharField(label="Title", max_length=200, required=False)
    aspects = forms.MultipleChoiceField(
        label="Aspects",
        choices=[(a, a) for a in comparisons.DEFAULT_ASPECTS],
        initial=comparisons.DEFAULT_ASPECTS,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    own_aspects = forms.CharField(
        label="Your own aspects",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="One per line, e.g. “Sample size”.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if len(data.get("documents") or []) < 2:
            self.add_error("documents", "Tick at least two papers to compare.")
        aspects = self.aspect_list(data)
        if not aspects:
            self.add_error("aspects", "Choose at least one aspect, or write your own.")
        elif len(aspects) > comparisons.MAX_ASPECTS:
            self.add_error("own_aspects", f"At most {comparisons.MAX_ASPECTS} aspects.")
        return data

    @staticmethod
    def aspect_list(data: dict[str, Any]) -> list[str]:
        own = [line.strip()[:200] for line in data.get("own_aspects", "").splitlines()]
        return list(dict.fromkeys([*(data.get("aspects") or []), *[a for a in own if a]]))


class CellForm(forms.Form):
    text = forms.CharField(
        label="Text", widget=forms.Textarea(attrs={"rows": 4}), max_length=4000, required=False
    )
    pages = forms.CharField(label="Pages", required=False, max_length=200)

    def clean_pages(self) -> list[int]:
        try:
            return parse_pages(self.cleaned_data.get("pages", ""))
        except ValueError as exc:
            raise forms.ValidationError(f"“{exc}” is not a page or a range of pages.") from exc


class DigestForm(DocumentsForm):
    title = forms.CharField(label="Title", max_length=200, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("documents"):
            self.add_error("documents", "Tick the documents to summarize together.")
        return data


class DigestEditForm(forms.Form):
    title = forms.CharField(label="Title", max_length=200)
    body = forms.CharField(
        label="Summary",
        widget=forms.Textarea(attrs={"rows": 14}),
        max_length=20000,
        help_text="Cite pages as [Title, p. N]; citations are checked against what the model saw.",
    )
