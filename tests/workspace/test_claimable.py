"""The claimable row: claim, release, fail and restart as fenced conditional UPDATEs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection, models
from django.db.models import Q

from workspace.models import Claimable, Generated


class Chore(Claimable, Generated):
    """A job row for these tests only (its table lives as long as a test)."""

    status = models.CharField(max_length=16, default="queued")
    note = models.CharField(max_length=40, blank=True)
    message = models.CharField(max_length=40, blank=True)  # a row's own progress line

    class Meta:
        app_label = "workspace"
        managed = False


@pytest.fixture
def chores(transactional_db) -> Iterator[type[Chore]]:
    with connection.schema_editor() as editor:
        editor.create_model(Chore)
    try:
        yield Chore
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(Chore)


def test_a_new_row_is_attempt_one_not_generated_and_without_an_error(chores) -> None:
    chore = chores.objects.create()
    assert (chore.attempt, chore.error_code, chore.error) == (1, "", "")
    assert (chore.generated, chore.edited_by_user) == (False, False)
    assert Chore.ErrorCode.TRUNCATED == "truncated"


def test_only_one_claim_wins_and_only_for_the_current_attempt(chores) -> None:
    chore = chores.objects.create()
    assert not chores.claim(chore.pk, 2)  # a message from another attempt
    assert chores.claim(chore.pk, 1, note="mine")
    assert not chores.claim(chore.pk, 1)  # already claimed
    chore.refresh_from_db()
    assert (chore.status, chore.note) == ("running", "mine")


def test_a_released_row_can_be_claimed_again(chores) -> None:
    chore = chores.objects.create()
    assert not chores.release(chore.pk, 1)  # nothing to give back
    assert chores.claim(chore.pk, 1)
    assert chores.release(chore.pk, 1, note="given back")
    assert chores.claim(chore.pk, 1)


def test_a_failure_is_recorded_once_and_only_on_an_active_row_of_its_attempt(chores) -> None:
    chore = chores.objects.create()
    assert chores.claim(chore.pk, 1)
    assert not chores.fail(chore.pk, 2, code="timeout", error="late")
    assert chores.fail(chore.pk, 1, code="timeout", error="The model server timed out.", message="")
    assert not chores.fail(chore.pk, 1, code="model", error="again")
    chore.refresh_from_db()
    assert (chore.status, chore.error_code, chore.error) == (
        "failed",
        "timeout",
        "The model server timed out.",
    )


def test_a_restart_is_a_new_attempt_that_fences_off_the_old_one(chores) -> None:
    chore = chores.objects.create()
    chores.claim(chore.pk, 1)
    chores.fail(chore.pk, 1, code="timeout", error="slow")
    assert not chores.restart(chore.pk, 1, where=Q(status="running"))
    assert chores.restart(chore.pk, 1, where=Q(status="failed"), note="again")
    assert not chores.restart(chore.pk, 1, where=Q(status="queued"))  # attempt 1 is gone
    chore.refresh_from_db()
    assert (chore.status, chore.attempt, chore.error_code, chore.error, chore.note) == (
        "queued",
        2,
        "",
        "",
        "again",
    )
    assert not chores.claim(chore.pk, 1) and chores.claim(chore.pk, 2)
