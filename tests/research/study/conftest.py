"""Fixtures of the study page tests: a project with one of everything the tools make."""

from __future__ import annotations

from typing import Any

import pytest

from research.models import Comparison, ComparisonCell, Digest, Project, StudyJob
from research.study.generators import flashcards, timelines
from tests.research.study.test_generation import document, study_project


@pytest.fixture
def project(user) -> Project:
    return study_project(user)


@pytest.fixture
def materials(project, user) -> dict[str, Any]:
    """One of everything the study tools make, for the page and access tests."""
    glacier, bees = document(project, "Glacial erosion"), document(project, "Bee behaviour")
    card = flashcards.flashcard_create(
        project=project,
        kind="basic",
        front="What carves valleys?",
        back="Glaciers.",
        document=glacier,
        pages=[1],
        tags=["ice"],
    )
    event = timelines.event_save(
        project=project,
        event=None,
        title="Observatory founded",
        description="By the council.",
        start=timelines.When(1998),
        end=None,
        precision="year",
        tags=["history"],
        document_id=document(project, "Observatory history").pk,
        pages=[1],
    )
    comparison = Comparison.objects.create(
        project=project,
        title="Ice vs bees",
        document_ids=[glacier.pk, bees.pk],
        aspects=["Method"],
    )
    cell = ComparisonCell.objects.create(
        comparison=comparison, document=glacier, aspect="Method", text="Field work.", pages=[1]
    )
    digest = Digest.objects.create(
        project=project,
        title="Nature",
        document_ids=[glacier.pk],
        body="Glaciers carve. [Glacial erosion, p. 1]",
        generated=True,
    )
    job = StudyJob.objects.create(
        project=project, created_by=user, kind=StudyJob.Kind.FLASHCARDS, label="Glacial erosion"
    )
    return {
        "card": card,
        "event": event,
        "comparison": comparison,
        "cell": cell,
        "digest": digest,
        "job": job,
        "document": glacier,
    }
