"""Spaced repetition with FSRS (the `fsrs` package, the scheduler Anki ships): grading a
card moves its due date, and every grading is logged.

The card's FSRS state lives on the Flashcard row; `fsrs.Card` is built from it for each
review and written back, so the scheduler itself stays stateless.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from fsrs import Card, Rating, Scheduler, State

from research.models import Flashcard, Project, ReviewLog

RATINGS = {
    Rating.Again: "Again",
    Rating.Hard: "Hard",
    Rating.Good: "Good",
    Rating.Easy: "Easy",
}
SCHEDULER = Scheduler(desired_retention=0.9, enable_fuzzing=True)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def fsrs_card(card: Flashcard) -> Card:
    return Card(
        card_id=card.pk,
        state=State(card.state),
        step=card.step,
        stability=card.stability,
        difficulty=card.difficulty,
        due=_utc(card.due),
        last_review=_utc(card.last_review) if card.last_review else None,
    )


def due_cards(*, project: Project, now: datetime | None = None) -> QuerySet[Flashcard]:
    """Cards to review now, the most overdue first."""
    return Flashcard.objects.filter(
        project=project, dismissed=False, due__lte=now or timezone.now()
    ).order_by("due", "id")


def due_count(*, project: Project, now: datetime | None = None) -> int:
    return due_cards(project=project, now=now).count()


def card_review(
    *,
    card: Flashcard,
    rating: int,
    now: datetime | None = None,
    duration_ms: int | None = None,
    scheduler: Scheduler = SCHEDULER,
) -> Flashcard:
    """Grade a card (1 again, 2 hard, 3 good, 4 easy): schedule it and log the review.

    The row is locked while it is rescheduled, so two tabs grading the same card do not
    both apply their grade to the same old state.
    """
    grade = Rating(rating)
    moment = _utc(now or timezone.now())
    with transaction.atomic():
        card = Flashcard.objects.select_for_update().get(pk=card.pk)
        before_state, before_due = card.state, card.due
        reviewed, _log = scheduler.review_card(fsrs_card(card), grade, review_datetime=moment)
        card.state = int(reviewed.state)
        card.step = reviewed.step
        card.stability = reviewed.stability
        card.difficulty = reviewed.difficulty
        card.due = reviewed.due
        card.last_review = reviewed.last_review
        card.reps += 1
        if grade == Rating.Again and before_state == State.Review:
            card.lapses += 1
        card.save(
            update_fields=[
                "state",
                "step",
                "stability",
                "difficulty",
                "due",
                "last_review",
                "reps",
                "lapses",
                "updated_at",
            ]
        )
        ReviewLog.objects.create(
            card=card,
            rating=int(grade),
            reviewed_at=moment,
            state_before=before_state,
            due_before=before_due,
            due_after=card.due,
            duration_ms=duration_ms,
        )
    return card


def interval_labels(*, card: Flashcard, now: datetime | None = None) -> dict[int, str]:
    """What each grade would do, e.g. {1: "10 min", 3: "3 days"}, for the buttons."""
    moment = _utc(now or timezone.now())
    quiet = Scheduler(desired_retention=SCHEDULER.desired_retention, enable_fuzzing=False)
    labels = {}
    for grade in RATINGS:
        reviewed, _ = quiet.review_card(fsrs_card(card), grade, review_datetime=moment)
        labels[int(grade)] = _span(reviewed.due - moment)
    return labels


def _span(delta: object) -> str:
    seconds = max(0, int(getattr(delta, "total_seconds", lambda: 0)()))
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 86400:
        return f"{round(seconds / 3600)} h"
    days = round(seconds / 86400)
    if days < 60:
        return f"{days} day{'s' if days != 1 else ''}"
    if days < 730:
        return f"{round(days / 30)} months"
    return f"{days / 365:.1f} years"
