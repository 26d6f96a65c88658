"""Timelines: dated events extracted from documents, merged across papers, edited by hand.

A date is a year, a month or a day (or a range of them) with its precision, so "1998"
never turns into 1 January 1998. Each document is a unit: saving it first withdraws that
document's sources from untouched generated events (deleting the events left without
any), then merges each new event into an existing one with the same date and a similar
title, or adds it. Events the user wrote, edited or deleted are never changed; a new event
that duplicates one of them (or, for an edited one, comes from the same page and date) is
skipped.
"""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from pydantic import BaseModel, Field, create_model

from research.models import EventSource, Project, StudyJob, TimelineEvent
from research.study.generators.base import (
    DATE_PATTERN,
    Part,
    Tally,
    ask,
    clip,
    enum_of,
    list_of,
    normalise_text,
    plan_parts,
    resolve_citation,
    sources_for_documents,
)
from research.study.generators.flashcards import SaveCounts, tags_for
from workspace.runtime.errors import InvalidModelOutput
from workspace.runtime.types import ModelRuntime

EVENT_OUTPUT_TOKENS = 2048
DEFAULT_COUNT = 12
MAX_COUNT = 40
TITLE_CHARS = 200
DESCRIPTION_CHARS = 600
PRECISIONS = ["day", "month", "year", "decade", "century"]  # finest first
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

SYSTEM = (
    "You extract dated events from the user's sources for a timeline. Use only dates the "
    "sources state; never guess one. Each event names the source title and the page numbers "
    "it comes from, read from the page markers like [Title, p. 7] above the text. Reply with "
    "JSON only."
)
_DATE = re.compile(r"^(-?)(\d{1,4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True)
class When:
    """A date with its precision: month and day are None when not known."""

    year: int
    month: int | None = None
    day: int | None = None

    @property
    def finest(self) -> str:
        return "day" if self.day else "month" if self.month else "year"

    def at(self, precision: str) -> When:
        """The same date, no finer than `precision`."""
        if precision == "day":
            return self
        if precision == "month":
            return When(self.year, self.month)
        return When(self.year)

    @property
    def sort_key(self) -> float:
        return self.year + ((self.month or 1) - 1) / 12 + ((self.day or 1) - 1) / 372

    def iso(self) -> str:
        text = f"{'-' if self.year < 0 else ''}{abs(self.year):04d}"
        if self.month:
            text += f"-{self.month:02d}"
            if self.day:
                text += f"-{self.day:02d}"
        return text


def parse_when(text: str) -> When | None:
    """ "1998", "1998-03", "1998-03-14" or "-44" (44 BCE); None when not a real date."""
    match = _DATE.match(text.strip())
    if not match:
        return None
    sign, year_text, month_text, day_text = match.groups()
    year = int(year_text) * (-1 if sign else 1)
    if year == 0 and sign:
        return None
    month = int(month_text) if month_text else None
    day = int(day_text) if day_text else None
    if month is not None and not 1 <= month <= 12:
        return None
    if day is not None:
        assert month is not None
        leap_proxy = year if year >= 1 else (4 if year % 4 == 0 else 1)
        if not 1 <= day <= calendar.monthrange(leap_proxy, month)[1]:
            return None
    return When(year, month, day)


def coarser(first: str, second: str) -> str:
    return max(first, second, key=PRECISIONS.index)


def label_for(when: When, precision: str) -> str:
    year = f"{-when.year} BCE" if when.year < 0 else str(when.year)
    if precision == "century":
        century = (abs(when.year) - 1) // 100 + 1
        suffix = (
            "th"
            if 10 <= century % 100 <= 20
            else {1: "st", 2: "nd", 3: "rd"}.get(century % 10, "th")
        )
        return f"{century}{suffix} century{' BCE' if when.year < 0 else ''}"
    if precision == "decade":
        return f"{when.year - when.year % 10}s" if when.year >= 0 else f"{year} (decade)"
    if precision == "day" and when.month and when.day:
        return f"{when.day} {MONTHS[when.month - 1]} {year}"
    if precision in ("day", "month") and when.month:
        return f"{MONTHS[when.month - 1]} {year}"
    return year


def event_start(event: TimelineEvent) -> When:
    return When(event.start_year, event.start_month, event.start_day)


def event_end(event: TimelineEvent) -> When | None:
    if event.end_year is None:
        return None
    return When(event.end_year, event.end_month, event.end_day)


def event_label(event: TimelineEvent) -> str:
    start = label_for(event_start(event), event.precision)
    end = event_end(event)
    return f"{start} \u2013 {label_for(end, event.precision)}" if end else start


@dataclass
class EventDraft:
    title: str
    description: str
    start: When
    end: When | None
    precision: str
    document_id: int
    pages: list[int]


# -- generation ----------------------------------------------------------------------------


def _instruction(count: int) -> str:
    return (
        f"List up to {count} dated events from these sources, in the order they happened. "
        "For each give: title (a few words), description (one or two sentences), start and "
        'end dates written as YYYY, YYYY-MM or YYYY-MM-DD (end is "" unless the event spans '
        "a period; years before the common era are negative), precision (day, month, year, "
        "decade or century: how exactly the source dates it), source (the title) and pages "
        "(the page numbers of the marker above the text it comes from). If the sources give "
        "no dates, return an empty list."
    )


def event_schema(*, part: Part, count: int) -> type[BaseModel]:
    event: Any = create_model(
        "Event",
        title=(str, Field(min_length=2, max_length=TITLE_CHARS)),
        description=(str, Field(max_length=DESCRIPTION_CHARS)),
        start=(str, Field(pattern=DATE_PATTERN)),
        end=(str, Field(pattern=r"^(-?[0-9]{1,4}(-[0-9]{2}){0,2})?$")),
        precision=(enum_of(PRECISIONS), ...),
        source=(enum_of(list(part.titles.values())), ...),
        pages=(list_of(part.pages), Field(min_length=1, max_length=3)),
    )
    schema: type[BaseModel] = create_model("Events", events=(list[event], Field(max_length=count)))
    return schema


def drafts_from(data: BaseModel, part: Part) -> tuple[list[EventDraft], int]:
    drafts: list[EventDraft] = []
    dropped = 0
    for item in getattr(data, "events", []):
        cited = resolve_citation(part=part, source=item.source, pages=item.pages)
        start = parse_when(item.start)
        end = parse_when(item.end) if item.end.strip() else None
        if cited is None or start is None or (item.end.strip() and end is None):
            dropped += 1
            continue
        precision = coarser(item.precision, start.finest)
        if end is not None:
            precision = coarser(precision, end.finest)
            if end.sort_key < start.sort_key:
                start, end = end, start
            end = end.at(precision)
        start = start.at(precision)
        drafts.append(
            EventDraft(
                title=clip(item.title, TITLE_CHARS),
                description=item.description.strip()[:DESCRIPTION_CHARS],
                start=start,
                end=end if end != start else None,
                precision=precision,
                document_id=cited[0],
                pages=cited[1],
            )
        )
    return drafts, dropped


def generate_unit(
    *,
    job: StudyJob,
    unit: dict[str, Any],
    runtime: ModelRuntime,
    on_part: Callable[[int, int], None],
    on_invalid: Callable[[int, InvalidModelOutput], None],
) -> tuple[list[EventDraft], Tally]:
    count = int(job.params.get("count", DEFAULT_COUNT))
    sources = sources_for_documents(document_ids=[unit["document_id"]])
    parts = plan_parts(
        sources=sources,
        runtime=runtime,
        system=SYSTEM,
        instruction=_instruction(count),
        output_tokens=EVENT_OUTPUT_TOKENS,
        whole=True,
    )
    drafts: list[EventDraft] = []
    tally = Tally()
    for part in parts:
        on_part(part.index, part.total)
        if not part.pages:
            continue
        data = ask(
            runtime=runtime,
            part=part,
            schema=event_schema(part=part, count=count),
            max_tokens=EVENT_OUTPUT_TOKENS,
            on_invalid=on_invalid,
        )
        found, dropped = drafts_from(data, part)
        drafts.extend(found)
        tally.dropped += dropped
    return drafts, tally


# -- merging and saving ----------------------------------------------------------------------


def same_date(first: TimelineEvent | EventDraft, second: TimelineEvent | EventDraft) -> bool:
    """Equal at the coarser of the two precisions."""
    precision = coarser(first.precision, second.precision)
    a, b = _start(first), _start(second)
    if precision == "century":
        return a.year // 100 == b.year // 100
    if precision == "decade":
        return a.year // 10 == b.year // 10
    return a.at(precision) == b.at(precision)


def similar_title(first: str, second: str) -> bool:
    a, b = normalise_text(first), normalise_text(second)
    if not a or not b:
        return False
    if a == b or (min(len(a), len(b)) >= 8 and (a in b or b in a)):
        return True
    words_a, words_b = set(a.split()), set(b.split())
    overlap = len(words_a & words_b) / len(words_a | words_b)
    return overlap >= 0.6 or difflib.SequenceMatcher(None, a, b).ratio() >= 0.8


def _start(item: TimelineEvent | EventDraft) -> When:
    return item.start if isinstance(item, EventDraft) else event_start(item)


def is_duplicate(event: TimelineEvent, draft: EventDraft) -> bool:
    return same_date(event, draft) and similar_title(event.title, draft.title)


def is_rewritten(event: TimelineEvent, draft: EventDraft) -> bool:
    """An edited event still cites the pages it was generated from: a draft of the same
    date from one of those pages is the event the user rewrote, whatever its new title."""
    return (
        event.edited_by_user
        and same_date(event, draft)
        and any(
            source.generated
            and source.document_id == draft.document_id
            and source.page in draft.pages
            for source in event.sources.all()
        )
    )


def save_unit(*, job: StudyJob, unit: dict[str, Any], drafts: Sequence[EventDraft]) -> SaveCounts:
    """Withdraw this document's earlier generated sources from untouched events, then
    merge the drafts in; call in a transaction."""
    project = job.project
    document_id = unit["document_id"]
    counts = SaveCounts()
    untouched = TimelineEvent.objects.filter(
        project=project, generated=True, edited_by_user=False, dismissed=False
    )
    EventSource.objects.filter(
        event__in=untouched, document_id=document_id, generated=True
    ).delete()
    untouched.filter(sources__isnull=True).delete()
    events = list(TimelineEvent.objects.filter(project=project).prefetch_related("sources"))
    tags = tags_for(project=project, names=job.params.get("tags", []))
    for draft in drafts:
        match = next((event for event in events if is_duplicate(event, draft)), None)
        if match is None:
            match = next((event for event in events if is_rewritten(event, draft)), None)
        if match is not None and match.touched:
            counts.kept += 1  # the user's own, edited or deleted event: left as it is
            continue
        if match is None:
            match = event_create_from(project=project, draft=draft, job=job)
            events.append(match)
            counts.created += 1
            if tags:
                match.tags.add(*tags)
        else:
            counts.updated += 1
        for page in draft.pages:
            EventSource.objects.get_or_create(event=match, document_id=draft.document_id, page=page)
    return counts


def event_create_from(
    *, project: Project, draft: EventDraft, job: StudyJob | None
) -> TimelineEvent:
    return TimelineEvent.objects.create(
        project=project,
        title=draft.title,
        description=draft.description,
        start_year=draft.start.year,
        start_month=draft.start.month,
        start_day=draft.start.day,
        end_year=draft.end.year if draft.end else None,
        end_month=draft.end.month if draft.end else None,
        end_day=draft.end.day if draft.end else None,
        precision=draft.precision,
        sort_key=draft.start.sort_key,
        job=job,
        generated=job is not None,
    )


# -- by hand -------------------------------------------------------------------------------


def event_save(
    *,
    project: Project,
    event: TimelineEvent | None,
    title: str,
    description: str,
    start: When,
    end: When | None,
    precision: str,
    tags: Iterable[str],
    document_id: int | None = None,
    pages: Sequence[int] = (),
) -> TimelineEvent:
    """Create an event by hand (event=None) or save the user's edit of one; an edit of its
    words or dates marks it as edited by hand, so no regeneration changes it."""
    start, end = start.at(precision), end.at(precision) if end else None
    fields = {
        "title": title.strip(),
        "description": description.strip(),
        "start_year": start.year,
        "start_month": start.month,
        "start_day": start.day,
        "end_year": end.year if end else None,
        "end_month": end.month if end else None,
        "end_day": end.day if end else None,
        "precision": precision,
    }
    with transaction.atomic():
        if event is None:
            event = TimelineEvent.objects.create(
                project=project, sort_key=start.sort_key, generated=False, **fields
            )
        elif any(getattr(event, name) != value for name, value in fields.items()):
            for name, value in fields.items():
                setattr(event, name, value)
            event.sort_key = start.sort_key
            event.edited_by_user = True
            event.save()
        for page in pages:
            if document_id is not None:
                EventSource.objects.get_or_create(
                    event=event, document_id=document_id, page=page, defaults={"generated": False}
                )
        event.tags.set(tags_for(project=project, names=tags))
    return event


def event_delete(*, event: TimelineEvent) -> None:
    """A generated event stays as a hidden tombstone, so regenerating does not bring it back."""
    if event.generated:
        TimelineEvent.objects.filter(pk=event.pk).update(dismissed=True)
    else:
        event.delete()
