"""Flashcards: generated from a document, some of its pages, a Q&A answer or a whole
project, and written, edited, tagged and deleted by hand.

Generation is per unit (one document, or one answer): its sources are packed into
window-sized parts, the model fills a schema per part, and every card keeps the page it
cites. Saving a unit replaces the cards an earlier run made for the same scope, except
cards the user touched (edited, reviewed or deleted): those stay, and a new card with the
same question as one of them is skipped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from pydantic import BaseModel, Field, create_model

from research.citations import citations_from_json
from research.cloze import has_cloze
from research.models import Answer, Document, Flashcard, Project, StudyJob, StudyTag
from research.study.generators.base import (
    GenerationFailed,
    Part,
    Tally,
    ask,
    clip,
    enum_of,
    list_of,
    plan_parts,
    resolve_citation,
    sources_for_documents,
    text_key,
)
from workspace.runtime.errors import InvalidModelOutput
from workspace.runtime.types import ModelRuntime

CARD_OUTPUT_TOKENS = 1536  # reserved for the JSON of one part's cards
DEFAULT_COUNT = 8
MAX_COUNT = 30
QUESTION_CHARS = 300
ANSWER_CHARS = 500

SYSTEM = (
    "You write study flashcards from the user's sources. Use only facts the sources state. "
    "Each card names the source title and the page numbers it comes from, read from the "
    "page markers like [Title, p. 7] above the text. Reply with JSON only."
)
KIND_RULES = {
    "basic": 'Every card has kind "basic": a clear question and its short answer.',
    "cloze": 'Every card has kind "cloze": "question" is one sentence from the sources with '
    'its key term wrapped as {{c1::term}}, and "answer" is a short extra note (may be empty).',
    "both": 'Mix kinds: "basic" cards have a question and a short answer; "cloze" cards have '
    'one sentence with its key term wrapped as {{c1::term}} in "question" and an optional '
    'note in "answer".',
}


@dataclass
class CardDraft:
    kind: str
    front: str
    back: str
    document_id: int
    pages: list[int]

    @property
    def key(self) -> str:
        return text_key(self.front)


@dataclass
class SaveCounts:
    created: int = 0
    updated: int = 0
    kept: int = 0
    dropped: int = 0


# -- scopes and units -----------------------------------------------------------------------


def scope_for(unit: dict[str, Any]) -> str:
    """What a unit generates from, as a key: regenerating the same scope replaces the
    untouched cards of the previous run."""
    if "answer_id" in unit:
        return f"answer:{unit['answer_id']}"
    pages = unit.get("pages")
    if pages:
        return f"document:{unit['document_id']}:pages:{pages[0]}-{pages[1]}"
    return f"document:{unit['document_id']}"


def _instruction(count: int, kinds: str, answer: str = "") -> str:
    rules = KIND_RULES.get(kinds, KIND_RULES["basic"])
    ask_for = (
        f"Write up to {count} flashcards that test the most important facts, definitions and "
        "findings in these sources."
    )
    if answer:
        ask_for = (
            f"Write up to {count} flashcards that test what the answer below says, checking "
            f"every fact against the sources.\n\nAnswer:\n{answer}\n"
        )
    return (
        f"{ask_for} {rules} For each card give kind, question, answer, source (the title) "
        "and pages (the page numbers of the marker above the text it comes from)."
    )


def card_schema(*, part: Part, count: int, kinds: str) -> type[BaseModel]:
    """Cards that can only cite the titles and pages in this part's prompt."""
    kind_values = ["basic", "cloze"] if kinds == "both" else [kinds]
    card: Any = create_model(
        "Card",
        kind=(enum_of(kind_values), ...),
        question=(str, Field(min_length=3, max_length=QUESTION_CHARS)),
        answer=(str, Field(max_length=ANSWER_CHARS)),
        source=(enum_of(list(part.titles.values())), ...),
        pages=(list_of(part.pages), Field(min_length=1, max_length=3)),
    )
    schema: type[BaseModel] = create_model(
        "Cards", cards=(list[card], Field(min_length=1, max_length=count))
    )
    return schema


def _fix_cloze(front: str, back: str) -> tuple[str, str] | None:
    """A cloze card needs a {{c1::...}} deletion; make one from the answer if the model
    wrote the term plainly, else give up on the card."""
    if has_cloze(front):
        return front, back
    term = back.strip().rstrip(".")
    if term:
        found = re.search(re.escape(term), front, re.IGNORECASE)
        if found:
            cloze = "{{c1::" + found.group(0) + "}}"
            return front[: found.start()] + cloze + front[found.end() :], ""
    return None


def drafts_from(data: BaseModel, part: Part) -> tuple[list[CardDraft], int]:
    """Cards whose citations check out, and how many were dropped."""
    drafts: list[CardDraft] = []
    dropped = 0
    for item in getattr(data, "cards", []):
        cited = resolve_citation(part=part, source=item.source, pages=item.pages)
        front, back = clip(item.question, QUESTION_CHARS), item.answer.strip()[:ANSWER_CHARS]
        if item.kind == "cloze":
            fixed = _fix_cloze(front, back)
            if fixed is None:
                dropped += 1
                continue
            front, back = fixed
        if cited is None or not front.strip():
            dropped += 1
            continue
        drafts.append(CardDraft(item.kind, front, back, cited[0], cited[1]))
    return drafts, dropped


def generate_unit(
    *,
    job: StudyJob,
    unit: dict[str, Any],
    runtime: ModelRuntime,
    on_part: Callable[[int, int], None],
    on_invalid: Callable[[int, InvalidModelOutput], None],
) -> tuple[list[CardDraft], Tally]:
    """Ask the model for one unit's cards, part by part."""
    count = int(job.params.get("count", DEFAULT_COUNT))
    kinds = str(job.params.get("kinds", "basic"))
    answer_text = ""
    if "answer_id" in unit:
        answer = Answer.objects.filter(pk=unit["answer_id"]).first()
        if answer is None:
            raise GenerationFailed("no_sources", "The answer was deleted.")
        cited: dict[int, set[int]] = {}
        for citation in citations_from_json(answer.citations):
            if not citation.flagged and citation.source_id is not None:
                cited.setdefault(citation.source_id, set()).update(
                    range(citation.page_start, citation.page_end + 1)
                )
        if not cited:
            raise GenerationFailed(
                "no_sources",
                "This answer cites no page the model saw, so its cards could not cite a "
                "source. Ask again, or make cards from the documents instead.",
            )
        sources = sources_for_documents(document_ids=list(cited), pages=cited)
        answer_text = answer.text
    else:
        pages = unit.get("pages")
        wanted = None
        if pages:
            wanted = {unit["document_id"]: set(range(pages[0], pages[1] + 1))}
        sources = sources_for_documents(document_ids=[unit["document_id"]], pages=wanted)
    parts = plan_parts(
        sources=sources,
        runtime=runtime,
        system=SYSTEM,
        instruction=_instruction(count, kinds, answer_text),
        output_tokens=CARD_OUTPUT_TOKENS,
        whole=True,
    )
    per_part = max(1, math.ceil(count / len(parts)))
    drafts: list[CardDraft] = []
    tally = Tally()
    for part in parts:
        on_part(part.index, part.total)
        if not part.pages:
            continue
        schema = card_schema(part=part, count=per_part, kinds=kinds)
        data = ask(
            runtime=runtime,
            part=part,
            schema=schema,
            max_tokens=CARD_OUTPUT_TOKENS,
            on_invalid=on_invalid,
        )
        found, dropped = drafts_from(data, part)
        drafts.extend(found)
        tally.dropped += dropped
    return drafts[:count], tally


# -- saving ------------------------------------------------------------------------------


def tags_for(*, project: Project, names: Iterable[str]) -> list[StudyTag]:
    tags = []
    for name in dict.fromkeys(n.strip()[:60] for n in names if n.strip()):
        tag, _ = StudyTag.objects.get_or_create(project=project, name=name)
        tags.append(tag)
    return tags


def save_unit(*, job: StudyJob, unit: dict[str, Any], drafts: Sequence[CardDraft]) -> SaveCounts:
    """Replace the scope's untouched generated cards with the drafts; call in a transaction."""
    project = job.project
    scope = scope_for(unit)
    counts = SaveCounts()
    cards = Flashcard.objects.filter(project=project)
    stale = [card for card in cards.filter(scope=scope, generated=True) if not card.touched]
    replaceable: dict[str, Flashcard] = {}
    for card in stale:
        replaceable.setdefault(card.key, card)
    # Questions the user has made their own: a card they touched blocks a new card with its
    # question as it reads now and as it was generated (an edited card's `key` keeps that).
    protected: set[str] = set()
    for key, front in cards.exclude(pk__in=[card.pk for card in stale]).values_list("key", "front"):
        protected.update((key, text_key(front)))
    tags = tags_for(project=project, names=job.params.get("tags", []))
    now = timezone.now()
    seen: set[str] = set()
    reused: set[int] = set()
    for draft in drafts:
        key = draft.key
        if key in seen:
            continue
        seen.add(key)
        if key in protected:
            counts.kept += 1
            continue
        existing = replaceable.pop(key, None)
        if existing is not None:
            card = existing
            card.kind, card.front, card.back = draft.kind, draft.front, draft.back
            card.document_id, card.pages, card.job = draft.document_id, draft.pages, job
            card.save()
            reused.add(card.pk)
            counts.updated += 1
        else:
            card = Flashcard.objects.create(
                project=project,
                kind=draft.kind,
                front=draft.front,
                back=draft.back,
                document_id=draft.document_id,
                pages=draft.pages,
                scope=scope,
                key=key,
                job=job,
                generated=True,
                due=now,
            )
            counts.created += 1
        if tags:
            card.tags.add(*tags)
    Flashcard.objects.filter(pk__in=[card.pk for card in stale if card.pk not in reused]).delete()
    return counts


# -- by hand -------------------------------------------------------------------------------


def flashcard_create(
    *,
    project: Project,
    kind: str,
    front: str,
    back: str,
    document: Document | None = None,
    pages: Sequence[int] = (),
    tags: Iterable[str] = (),
) -> Flashcard:
    with transaction.atomic():
        card = Flashcard.objects.create(
            project=project,
            kind=kind,
            front=front.strip(),
            back=back.strip(),
            document=document,
            pages=sorted(set(pages)),
            key=text_key(front),
            generated=False,
            due=timezone.now(),
        )
        card.tags.set(tags_for(project=project, names=tags))
    return card


def flashcard_update(
    *,
    card: Flashcard,
    kind: str,
    front: str,
    back: str,
    document: Document | None,
    pages: Sequence[int],
    tags: Iterable[str],
) -> Flashcard:
    """Save the user's edit. A change of words or source marks the card as edited by hand,
    so no regeneration will replace it, nor add its generated question again (tags alone
    do not count)."""
    front, back, pages = front.strip(), back.strip(), sorted(set(pages))
    changed = (
        card.kind != kind
        or card.front != front
        or card.back != back
        or card.document_id != (document.pk if document else None)
        or list(card.pages) != pages
    )
    with transaction.atomic():
        if changed:
            card.kind, card.front, card.back = kind, front, back
            card.document, card.pages = document, pages
            if not card.generated:
                card.key = text_key(front)  # a generated card keeps the key it was made with
            card.edited_by_user = True
            card.save()
        card.tags.set(tags_for(project=card.project, names=tags))
    return card


def flashcard_delete(*, card: Flashcard) -> None:
    """A generated card stays as a hidden tombstone, so regenerating does not bring it back."""
    if card.generated:
        Flashcard.objects.filter(pk=card.pk).update(dismissed=True, updated_at=timezone.now())
    else:
        card.delete()
