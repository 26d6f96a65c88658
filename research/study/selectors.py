"""Reads for the study tools. Every selector that takes a user filters by access
(research/access.py), so a card, event, comparison, summary or job of a project the
user may not read is simply not found."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from research import access
from research.cloze import cloze_replace
from research.models import (
    Answer,
    Comparison,
    ComparisonCell,
    Digest,
    Document,
    EventSource,
    Flashcard,
    Project,
    StudyJob,
    StudyTag,
    TimelineEvent,
)
from research.study.generators.timelines import event_end, event_label, event_start
from research.study.review import RATINGS, due_count, interval_labels
from workspace.heartbeat import beat_is_alive, worker_heartbeats

Viewer = User | AnonymousUser


# Access (research/access.py): None when the user may not read the project (the views
# answer 404); with `write=True`, PermissionDenied (403) when they may only read it.


def tag_list_for_project(*, project: Project) -> QuerySet[StudyTag]:
    return StudyTag.objects.filter(project=project).order_by("name")


# -- flashcards ------------------------------------------------------------------------------


def flashcard_list_for_project(
    *,
    project: Project,
    tag: str = "",
    document_id: int | None = None,
) -> QuerySet[Flashcard]:
    cards = (
        Flashcard.objects.filter(project=project, dismissed=False)
        .select_related("document")
        .prefetch_related("tags")
        .order_by("created_at", "id")
    )
    if tag:
        cards = cards.filter(tags__name=tag)
    if document_id:
        cards = cards.filter(document_id=document_id)
    return cards


def flashcard_get_for_user(*, user: Viewer, card_id: int, write: bool = False) -> Flashcard | None:
    cards = (
        Flashcard.objects.select_related("project", "document")
        .prefetch_related("tags")
        .filter(dismissed=False)
    )
    return access.object_for_user(cards, user=user, pk=card_id, through="project", write=write)


def answer_list_for_project(*, project: Project, limit: int = 20) -> list[Answer]:
    """Recent answers with at least one citation, to make cards from."""
    answers = (
        Answer.objects.filter(question__thread__project=project)
        .exclude(citations=[])
        .select_related("question")
        .order_by("-created_at")[:limit]
    )
    return list(answers)


@dataclass(frozen=True)
class ReviewView:
    """The review page: the card due now (or None), whether its answer shows, the
    intervals each grade would give, and how many are due."""

    card: Flashcard | None
    due: int
    show: bool
    intervals: dict[int, str] = field(default_factory=dict)
    next_due: datetime | None = None

    @property
    def grades(self) -> list[tuple[int, str, str]]:
        """(rating, name, what it does) for the four grade buttons."""
        return [
            (int(rating), name, self.intervals.get(int(rating), ""))
            for rating, name in RATINGS.items()
        ]

    @property
    def cloze_front(self) -> str:
        return cloze_hidden(self.card.front) if self.card else ""

    @property
    def cloze_back(self) -> str:
        return cloze_shown(self.card.front) if self.card else ""


def review_view(*, project: Project, show: bool = False, now: datetime | None = None) -> ReviewView:
    moment = now or timezone.now()
    cards = Flashcard.objects.filter(project=project, dismissed=False, due__lte=moment)
    card = cards.select_related("document").order_by("due", "id").first()
    due = due_count(project=project, now=moment)
    intervals = interval_labels(card=card, now=moment) if card else {}
    upcoming = None
    if card is None:
        upcoming = (
            Flashcard.objects.filter(project=project, dismissed=False)
            .order_by("due")
            .values_list("due", flat=True)
            .first()
        )
    return ReviewView(card=card, due=due, show=show, intervals=intervals, next_due=upcoming)


def cloze_hidden(text: str) -> str:
    """The cloze text with every deletion shown as [...] (or its hint: {{c1::term::hint}})."""

    return cloze_replace(text, lambda deletion: f"[{deletion.hint}]" if deletion.hint else "[…]")


def cloze_shown(text: str) -> str:
    return cloze_replace(text, lambda deletion: deletion.answer)


@dataclass(frozen=True)
class StudyOverview:
    due: int
    cards: int
    events: int
    comparisons: int
    digests: int
    active_jobs: int


def study_overview(*, project: Project) -> StudyOverview:
    return StudyOverview(
        due=due_count(project=project),
        cards=Flashcard.objects.filter(project=project, dismissed=False).count(),
        events=TimelineEvent.objects.filter(project=project, dismissed=False).count(),
        comparisons=Comparison.objects.filter(project=project).count(),
        digests=Digest.objects.filter(project=project).count(),
        active_jobs=StudyJob.objects.filter(project=project, status__in=StudyJob.ACTIVE).count(),
    )


# -- jobs -----------------------------------------------------------------------------------


def job_get_for_user(*, user: Viewer, job_id: int, write: bool = False) -> StudyJob | None:
    jobs = StudyJob.objects.select_related("project")
    return access.object_for_user(jobs, user=user, pk=job_id, through="project", write=write)


def workers_alive() -> set[str] | None:
    """The Celery workers whose heartbeat says they are alive (workspace/heartbeat.py), or
    None when Redis cannot be asked: then no job may be called stuck for want of one."""
    try:
        beats = worker_heartbeats()
    except Exception:  # redis-py raises many transport errors; unknown is not dead
        return None
    return {name for name, beat in beats.items() if beat_is_alive(beat)}


def job_is_stuck(job: StudyJob, *, alive: set[str] | None) -> bool:
    """Active with no sign of life for STALE_AFTER, or running on a worker that has no live
    heartbeat (it died mid-run: its model call will never return). `alive`: workers_alive()."""
    if job.is_stale:
        return True
    return (
        job.status == StudyJob.Status.RUNNING
        and bool(job.worker)
        and alive is not None
        and job.worker not in alive
    )


def _needs_heartbeats(jobs: Sequence[StudyJob]) -> bool:
    return any(job.status == StudyJob.Status.RUNNING and job.worker for job in jobs)


@dataclass(frozen=True)
class JobView:
    """A job as its partial shows it: `stuck` offers Retry and Discard while it is active."""

    job: StudyJob
    stuck: bool


def job_views(jobs: Sequence[StudyJob]) -> list[JobView]:
    """Jobs with whether each is stuck (Redis is asked once, and only about running jobs)."""
    alive = workers_alive() if _needs_heartbeats(jobs) else None
    return [JobView(job, job_is_stuck(job, alive=alive)) for job in jobs]


def job_view(job: StudyJob) -> JobView:
    return job_views([job])[0]


def job_list_for_project(*, project: Project, kind: str, limit: int = 5) -> list[JobView]:
    return job_views(
        list(StudyJob.objects.filter(project=project, kind=kind).order_by("-id")[:limit])
    )


def job_list_for_comparison(*, comparison: Comparison, limit: int = 3) -> list[JobView]:
    return job_views(list(comparison.jobs.order_by("-id")[:limit]))


def job_list_for_digest(*, digest: Digest, limit: int = 3) -> list[JobView]:
    return job_views(list(digest.jobs.order_by("-id")[:limit]))


def jobs_in_flight_for_user(*, user: User) -> int:
    """The user's study jobs queued or running (one stale for STALE_AFTER is not counted:
    it is stuck, and its Retry is checked against the cap again)."""
    fresh = timezone.now() - StudyJob.STALE_AFTER
    return StudyJob.objects.filter(
        created_by=user, status__in=StudyJob.ACTIVE, updated_at__gte=fresh
    ).count()


# -- timelines ---------------------------------------------------------------------------------


def event_list_for_project(
    *, project: Project, document_id: int | None = None, tag: str = ""
) -> QuerySet[TimelineEvent]:
    events = (
        TimelineEvent.objects.filter(project=project, dismissed=False)
        .prefetch_related(
            Prefetch("sources", queryset=EventSource.objects.select_related("document")),
            "tags",
        )
        .order_by("sort_key", "id")
    )
    if document_id:
        events = events.filter(sources__document_id=document_id).distinct()
    if tag:
        events = events.filter(tags__name=tag).distinct()
    return events


def event_get_for_user(*, user: Viewer, event_id: int, write: bool = False) -> TimelineEvent | None:
    events = (
        TimelineEvent.objects.select_related("project")
        .prefetch_related("tags", "sources__document")
        .filter(dismissed=False)
    )
    return access.object_for_user(events, user=user, pk=event_id, through="project", write=write)


@dataclass(frozen=True)
class Mark:
    """One event drawn on the timeline (SVG user units)."""

    event: TimelineEvent
    x: float
    x2: float  # == x for a point in time
    y: float
    label: str
    date: str
    flipped: bool = False  # the label sits left of the mark (it would pass the right edge)

    @property
    def is_range(self) -> bool:
        return self.x2 - self.x >= 1

    @property
    def width(self) -> float:
        return max(0.0, self.x2 - self.x)

    @property
    def top(self) -> float:
        return self.y - 5

    @property
    def text_x(self) -> float:
        return self.x - 8 if self.flipped else self.x2 + 8

    @property
    def anchor(self) -> str:
        return "end" if self.flipped else "start"

    @property
    def text_y(self) -> float:
        return self.y + 4


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class TimelineLayout:
    width: int
    height: int
    axis_y: float
    marks: list[Mark]
    ticks: list[Tick]


WIDTH = 1000
MARGIN = 40
LANE = 26
TOP = 40
CHAR = 6.6  # average width of a label character at the SVG's font size
LABEL_CHARS = 36
_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000]


def _year_label(year: int) -> str:
    return f"{-year} BCE" if year < 0 else str(year)


def timeline_layout(events: Sequence[TimelineEvent]) -> TimelineLayout:
    """Events on a horizontal axis, spread over lanes so that no two labels overlap.
    Drawn server-side as SVG, so the timeline needs no JavaScript."""
    if not events:
        return TimelineLayout(WIDTH, TOP + LANE, TOP, [], [])
    starts = [event_start(event).sort_key for event in events]
    ends = [
        (event_end(event) or event_start(event)).sort_key + _span(event.precision)
        for event in events
    ]
    low = math.floor(min(starts))
    high = max(math.ceil(max(ends)), low + 1)
    inner = WIDTH - 2 * MARGIN - LABEL_CHARS * CHAR * 0.5

    def x_of(key: float) -> float:
        return MARGIN + (key - low) / (high - low) * inner

    lanes: list[float] = []  # where each lane is free again
    placed: list[tuple[TimelineEvent, float, float, int, str, bool]] = []
    for event, start in zip(events, starts, strict=True):
        end = event_end(event)
        x = x_of(start)
        x2 = x_of(end.sort_key) if end else x
        label = event.title if len(event.title) <= LABEL_CHARS else event.title[:35] + "…"
        text = 8 + len(label) * CHAR
        # A label that would run past the right edge goes to the left of its mark.
        flipped = x2 + text > WIDTH - 4 and x - text >= 4
        left, right = (x - text - 12, x2 + 12) if flipped else (x, x2 + text + 12)
        lane = next((i for i, free in enumerate(lanes) if free <= left), None)
        if lane is None:
            lanes.append(right)
            lane = len(lanes) - 1
        else:
            lanes[lane] = right
        placed.append((event, x, x2, lane, label, flipped))
    axis_y = TOP - 14
    marks = [
        Mark(event, x, x2, TOP + lane * LANE + LANE / 2, label, event_label(event), flipped)
        for event, x, x2, lane, label, flipped in placed
    ]
    span = high - low
    step = next((s for s in _STEPS if span / s <= 10), _STEPS[-1])
    first = math.ceil(low / step) * step
    ticks = [Tick(x_of(year), _year_label(year)) for year in range(first, high + 1, step)]
    return TimelineLayout(WIDTH, int(TOP + len(lanes) * LANE + 10), axis_y, marks, ticks)


def _span(precision: str) -> float:
    """How much of the axis an event dated at this precision covers."""
    return {"day": 1 / 372, "month": 1 / 12, "year": 0.0, "decade": 0.0, "century": 0.0}.get(
        precision, 0.0
    )


@dataclass(frozen=True)
class SourceLink:
    document_id: int
    title: str
    page: int


@dataclass(frozen=True)
class EventView:
    event: TimelineEvent
    date: str
    links: list[SourceLink]


def event_views(events: Sequence[TimelineEvent]) -> list[EventView]:
    """Events with their date label and the pages they cite, for the list under the axis."""
    return [
        EventView(
            event,
            event_label(event),
            [
                SourceLink(source.document_id, source.document.title, source.page)
                for source in event.sources.all()
            ],
        )
        for event in events
    ]


# -- comparisons -----------------------------------------------------------------------------


def comparison_list_for_project(*, project: Project) -> QuerySet[Comparison]:
    return Comparison.objects.filter(project=project).order_by("-updated_at", "-id")


def comparison_get_for_user(
    *, user: Viewer, comparison_id: int, write: bool = False
) -> Comparison | None:
    comparisons = Comparison.objects.select_related("project")
    return access.object_for_user(
        comparisons, user=user, pk=comparison_id, through="project", write=write
    )


def cell_get_for_user(*, user: Viewer, cell_id: int, write: bool = False) -> ComparisonCell | None:
    cells = ComparisonCell.objects.select_related("comparison__project", "document")
    return access.object_for_user(
        cells, user=user, pk=cell_id, through="comparison__project", write=write
    )


def _documents_in_order(project: Project, document_ids: Sequence[int]) -> list[Document]:
    """The chosen documents of a project in the chosen order (deleted ones drop out)."""
    found = Document.objects.filter(project=project, pk__in=document_ids).in_bulk()
    return [found[pk] for pk in document_ids if pk in found]


def comparison_documents(*, comparison: Comparison) -> list[Document]:
    """The compared papers, as the table's columns."""
    return _documents_in_order(comparison.project, comparison.document_ids)


@dataclass(frozen=True)
class ComparisonRow:
    aspect: str
    cells: list[ComparisonCell | None]


def comparison_table(*, comparison: Comparison) -> tuple[list[Document], list[ComparisonRow]]:
    documents = comparison_documents(comparison=comparison)
    cells = {
        (cell.document_id, cell.aspect): cell
        for cell in ComparisonCell.objects.filter(comparison=comparison)
    }
    rows = [
        ComparisonRow(aspect, [cells.get((document.pk, aspect)) for document in documents])
        for aspect in comparison.aspects
    ]
    return documents, rows


def comparison_cells(*, comparison: Comparison) -> QuerySet[ComparisonCell]:
    return ComparisonCell.objects.filter(comparison=comparison)


# -- digests (summaries across documents) ------------------------------------------------------


def digest_list_for_project(*, project: Project) -> QuerySet[Digest]:
    return Digest.objects.filter(project=project).order_by("-updated_at", "-id")


def digest_get_for_user(*, user: Viewer, digest_id: int, write: bool = False) -> Digest | None:
    digests = Digest.objects.select_related("project")
    return access.object_for_user(digests, user=user, pk=digest_id, through="project", write=write)


def digest_documents(*, digest: Digest) -> list[Document]:
    return _documents_in_order(digest.project, digest.document_ids)
