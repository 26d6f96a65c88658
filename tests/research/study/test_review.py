"""Spaced repetition: the FSRS scheduler moves due dates and logs every grading, and the
review page shows due cards one by one with keyboard shortcuts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from fsrs import Rating, State

from research.models import Flashcard, Project, ReviewLog
from research.study import review
from research.study.generators import flashcards
from research.study.selectors import review_view
from tests.research.study.test_generation import document, study_project

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def project(user) -> Project:
    return study_project(user)


def new_card(project: Project, front: str = "What carves valleys?", **extra) -> Flashcard:
    options = {"kind": "basic", "back": "Glaciers.", **extra}
    return flashcards.flashcard_create(project=project, front=front, **options)


# -- the scheduler ----------------------------------------------------------------------------


def test_a_new_card_is_due_at_once_and_grading_it_moves_its_due_date_and_logs_it(
    project,
) -> None:
    card = new_card(project)
    now = timezone.now()
    assert review.due_count(project=project, now=now) == 1
    assert card.state == State.Learning and card.reps == 0

    graded = review.card_review(card=card, rating=Rating.Good, now=now, duration_ms=4200)
    assert graded.due > now
    assert graded.reps == 1 and graded.last_review == now
    assert graded.stability and graded.difficulty
    assert review.due_count(project=project, now=now) == 0
    assert review.due_count(project=project, now=graded.due) == 1
    log = ReviewLog.objects.get()
    assert (log.card_id, log.rating, log.state_before, log.duration_ms) == (
        card.pk,
        Rating.Good,
        State.Learning,
        4200,
    )
    assert log.due_before == card.due and log.due_after == graded.due
    assert log.reviewed_at == now


def test_easier_grades_push_a_card_further_out(project) -> None:
    now = timezone.now()
    dues = {}
    for rating in (Rating.Again, Rating.Hard, Rating.Good, Rating.Easy):
        card = new_card(project, front=f"Card graded {rating.name}?")
        dues[rating] = review.card_review(card=card, rating=rating, now=now).due
    assert dues[Rating.Again] < dues[Rating.Hard] <= dues[Rating.Good] < dues[Rating.Easy]
    assert dues[Rating.Again] - now < timedelta(hours=1)  # relearned within minutes
    assert dues[Rating.Easy] - now >= timedelta(days=1)  # graduates to review


def test_a_remembered_card_comes_back_later_each_time_and_a_lapse_is_counted(project) -> None:
    card = new_card(project)
    moment = timezone.now()
    intervals = []
    for _ in range(4):
        card = review.card_review(card=card, rating=Rating.Good, now=moment)
        intervals.append(card.due - moment)
        moment = card.due
    assert card.state == State.Review
    assert intervals[-1] > intervals[-2] > timedelta(days=1)
    card = review.card_review(card=card, rating=Rating.Again, now=moment)
    assert card.lapses == 1 and card.state == State.Relearning
    assert card.due - moment < timedelta(hours=1)
    assert ReviewLog.objects.filter(card=card).count() == 5
    assert card.reps == 5


def test_the_grade_buttons_say_what_each_grade_would_do(project) -> None:
    card = new_card(project)
    labels = review.interval_labels(card=card, now=timezone.now())
    assert set(labels) == {1, 2, 3, 4}
    assert labels[1].endswith("min")
    assert labels[4].endswith(("day", "days"))
    card.refresh_from_db()
    assert card.reps == 0  # asking changes nothing
    assert not ReviewLog.objects.exists()


def test_deleted_cards_and_other_projects_cards_are_not_due(project, other_user) -> None:
    card = new_card(project)
    flashcards.flashcard_delete(card=card)  # by hand: removed
    generated = Flashcard.objects.create(
        project=project, front="Generated?", back="Yes.", generated=True, due=timezone.now()
    )
    flashcards.flashcard_delete(card=generated)  # generated: a hidden tombstone
    new_card(study_project(other_user))
    assert review.due_count(project=project) == 0
    assert review_view(project=project).card is None


# -- the review page ----------------------------------------------------------------------------


def test_the_review_page_has_keyboard_shortcuts_for_showing_and_grading(
    signed_in_client, project
) -> None:
    new_card(project, document=document(project, "Glacial erosion"), pages=[1])
    page = signed_in_client.get(f"/research/{project.pk}/review/").content.decode()
    assert 'src="/static/js/review.js"' in page  # Space shows the answer in place
    assert 'src="/static/js/carrel.js"' in page  # aria-keyshortcuts presses the buttons
    assert "<kbd>Space</kbd>" in page
    for rating, name in ((1, "Again"), (2, "Hard"), (3, "Good"), (4, "Easy")):
        assert f'aria-keyshortcuts="{rating}"' in page
        assert f"{name} <kbd>{rating}</kbd>" in page
    assert "data-review" in page and "data-show-answer" in page
    # Without JavaScript the answer is hidden, and the link shows it.
    assert "data-answer hidden" in page
    assert f'href="/research/{project.pk}/review/?show=1"' in page
    shown = signed_in_client.get(f"/research/{project.pk}/review/?show=1").content.decode()
    assert "data-answer hidden" not in shown and "Glaciers." in shown
    assert 'data-testid="show-answer"' not in shown
    glacier = document(project, "Glacial erosion")
    assert f'class="cite" href="/research/documents/{glacier.pk}/pages/1/"' in shown


def test_grading_on_the_review_page_schedules_the_card_and_shows_the_next(
    signed_in_client, project
) -> None:
    first = new_card(project, front="First question?")
    second = new_card(project, front="Second question?")
    earlier = timezone.now() - timedelta(minutes=2)
    Flashcard.objects.filter(pk=first.pk).update(due=earlier)  # the most overdue comes first
    Flashcard.objects.filter(pk=second.pk).update(due=earlier + timedelta(minutes=1))
    page = signed_in_client.get(f"/research/{project.pk}/review/").content.decode()
    assert "First question?" in page and "2 cards due" in page

    response = signed_in_client.post(
        f"/research/flashcards/{first.pk}/grade/", {"rating": "3", "duration_ms": "1500"}, **HX
    )
    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<section id="review"')  # the block htmx swaps
    assert "Second question?" in fragment and "1 card due" in fragment
    # The Review tab's count is refreshed out of band, outside the swapped block.
    assert (
        '<span class="count" id="tab-due" data-testid="tab-due" hx-swap-oob="true">1</span>'
        in (fragment.split("</section>")[-1])
    )
    first.refresh_from_db()
    assert first.reps == 1 and first.due > timezone.now()
    assert ReviewLog.objects.get().duration_ms == 1500

    # Without htmx, grading redirects back to the review page.
    response = signed_in_client.post(f"/research/flashcards/{second.pk}/grade/", {"rating": "1"})
    assert response.status_code == 302
    assert response["Location"] == f"/research/{project.pk}/review/"
    page = signed_in_client.get(response["Location"]).content.decode()
    assert "Nothing to review now" in page and "The next card is due in" in page


def test_an_invalid_grade_changes_nothing(signed_in_client, project) -> None:
    card = new_card(project)
    response = signed_in_client.post(f"/research/flashcards/{card.pk}/grade/", {"rating": "7"})
    assert response.status_code == 302
    card.refresh_from_db()
    assert card.reps == 0 and not ReviewLog.objects.exists()


def test_a_cloze_card_hides_its_deletion_until_the_answer_is_shown(
    signed_in_client, project
) -> None:
    new_card(project, kind="cloze", front="Moraines are ridges of {{c1::till}}.", back="")
    page = signed_in_client.get(f"/research/{project.pk}/review/").content.decode()
    front = page.split('data-testid="review-front">', 1)[1].split("</p>", 1)[0]
    assert front == "Moraines are ridges of [\u2026]."
    shown = signed_in_client.get(f"/research/{project.pk}/review/?show=1").content.decode()
    assert '<mark class="cloze">till</mark>' in shown


def test_the_project_page_shows_how_many_cards_are_due(signed_in_client, project) -> None:
    new_card(project, front="One?")
    new_card(project, front="Two?")
    page = signed_in_client.get(f"/research/{project.pk}/").content.decode()
    assert "2 due" in page
    assert f'href="/research/{project.pk}/review/"' in page
