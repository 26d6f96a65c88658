"""Study generators with the scripted backend: flashcards, timelines, comparisons and
summaries made by a StudyJob, run as the Celery task (inline) or by job_run. The model's
words come from ScriptedRuntime; packing, schemas, validation, retries and saving are real.

The helpers here (projects, JSON replies, run) are shared by the other test_study_* files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from research.citations import Citation
from research.models import (
    Answer,
    ComparisonCell,
    Digest,
    Document,
    EventSource,
    Flashcard,
    Project,
    Question,
    StudyJob,
    Thread,
    TimelineEvent,
)
from research.study import review
from research.study import services as study_services
from research.study.generators import comparisons, digests, flashcards, timelines
from research.study.generators.base import MAX_TRIES
from research.study.tasks import StudyTask
from tests.research.qa.test_views import add_document, make_project
from workspace.runtime import Message, ModelUnavailable, use_runtime
from workspace.runtime.scripted import ScriptedRuntime

MAX_RETRIES = StudyTask.model_max_retries
pytest_plugins = ["tests.research.ingest_fixtures"]  # eager_celery
pytestmark = pytest.mark.django_db

Status = StudyJob.Status

OBSERVATORY_PAGES = [
    "The hill observatory was founded in 1998 by the city council.\n\n"
    "Its first telescope arrived in March 2001.",
    "A storm damaged the dome on 14 June 2005.\n\nA sky survey ran from 1990 to 1995.",
]
ARCHIVE_PAGES = [
    "The town archive notes that the observatory was founded in 1998.\n\n"
    "The archive itself opened in the 1960s.",
]


# -- helpers shared by the study tests --------------------------------------------------------


def study_project(owner: Any) -> Project:
    """Two papers on glaciers and bees (tests/research/qa/test_views.py), and a dated one."""
    project = make_project(owner)
    add_document(project, "Observatory history", OBSERVATORY_PAGES)
    return project


def document(project: Project, title: str) -> Document:
    return project.documents.get(title=title)


def card(
    question: str, answer: str, source: str, pages: Sequence[int], kind: str = "basic"
) -> dict[str, Any]:
    return {"kind": kind, "question": question, "answer": answer, "source": source, "pages": pages}


def cards_reply(*cards: dict[str, Any]) -> str:
    return json.dumps({"cards": list(cards)})


def event(
    title: str, start: str, source: str, pages: Sequence[int], *, end: str = "", precision: str
) -> dict[str, Any]:
    return {
        "title": title,
        "description": f"{title}.",
        "start": start,
        "end": end,
        "precision": precision,
        "source": source,
        "pages": pages,
    }


def events_reply(*events: dict[str, Any]) -> str:
    return json.dumps({"events": list(events)})


def cells_reply(cells: dict[str, tuple[str, Sequence[int]]]) -> str:
    return json.dumps(
        {
            "cells": [
                {"aspect": aspect, "text": text, "pages": list(pages)}
                for aspect, (text, pages) in cells.items()
            ]
        }
    )


GLACIER_CARDS = [
    card("What carves U-shaped valleys?", "Glaciers.", "Glacial erosion", [1]),
    card("What are moraines?", "Ridges of till at a glacier's edges.", "Glacial erosion", [1]),
    card("What feeds braided rivers?", "Meltwater from the snout.", "Glacial erosion", [2]),
    card("Where do crevasses open?", "Where ice flows over a step.", "Glacial erosion", [2]),
]


def run(job: StudyJob, runtime: ScriptedRuntime) -> StudyJob:
    """Run the job's task body in this process and return the job as saved."""
    study_services.job_run(job_id=job.pk, attempt=job.attempt, runtime=runtime)
    job.refresh_from_db()
    return job


def generate_cards(
    project: Project, user: Any, replies: list[str] | Callable[..., str], **options: Any
) -> StudyJob:
    documents = options.pop("documents", None) or [document(project, "Glacial erosion")]
    job = study_services.flashcards_generate(
        project=project, user=user, documents=documents, **options
    )
    return run(job, ScriptedRuntime(replies))


def answer_citing(project: Project, user: Any, cited: list[tuple[Document, int]]) -> Answer:
    """A saved Q&A answer whose citations point at these (document, page) pairs."""
    thread = Thread.objects.create(owner=user, project=project, title="Ice and bees")
    question = Question.objects.create(
        thread=thread, text="What do glaciers and bees do?", status=Question.Status.DONE
    )
    text = "Glaciers carve valleys and bees dance."
    citations = []
    for doc, page in cited:
        raw = f"{doc.title}, p. {page}"
        start = len(text) + 1
        text += f" [{raw}]"
        citations.append(
            Citation(
                start=start,
                end=len(text),
                raw=raw,
                title=doc.title,
                page_start=page,
                page_end=page,
                source_id=doc.pk,
            ).to_dict()
        )
    return Answer.objects.create(question=question, text=text, citations=citations)


@pytest.fixture
def project(user) -> Project:
    return study_project(user)


# -- flashcards -------------------------------------------------------------------------------


def test_a_generate_job_runs_as_a_celery_task_and_every_card_cites_its_page(
    project, user, eager_celery, django_capture_on_commit_callbacks
) -> None:
    glacier = document(project, "Glacial erosion")
    runtime = ScriptedRuntime([cards_reply(*GLACIER_CARDS[:2])])
    with use_runtime(runtime), django_capture_on_commit_callbacks(execute=True):
        job = study_services.flashcards_generate(
            project=project, user=user, documents=[glacier], tags=["ice"]
        )
    job.refresh_from_db()
    assert job.status == Status.DONE, job.error
    assert job.message == "Done: 2 new cards."
    assert job.finished_at is not None
    made = list(Flashcard.objects.order_by("id"))
    assert [(c.front, c.back, c.document_id, c.pages) for c in made] == [
        ("What carves U-shaped valleys?", "Glaciers.", glacier.pk, [1]),
        ("What are moraines?", "Ridges of till at a glacier's edges.", glacier.pk, [1]),
    ]
    assert all(c.generated and c.job_id == job.pk and c.due <= timezone.now() for c in made)
    assert [tag.name for tag in made[0].tags.all()] == ["ice"]
    # The model saw the document's page markers and was asked for cited JSON.
    prompt = runtime.calls[0][-1].content
    assert "[Glacial erosion, p. 1]" in prompt and "[Glacial erosion, p. 2]" in prompt


def test_cards_from_some_pages_see_only_those_pages(project, user) -> None:
    glacier = document(project, "Glacial erosion")
    runtime = ScriptedRuntime([cards_reply(GLACIER_CARDS[2])])
    job = study_services.flashcards_generate(
        project=project, user=user, documents=[glacier], pages=(2, 2)
    )
    job = run(job, runtime)
    assert job.status == Status.DONE, job.error
    assert job.label == "Glacial erosion, pp. 2-2"
    prompt = runtime.calls[0][-1].content
    assert "[Glacial erosion, p. 2]" in prompt
    assert "[Glacial erosion, p. 1]" not in prompt and "U-shaped" not in prompt
    assert Flashcard.objects.get().scope == f"document:{glacier.pk}:pages:2-2"


def test_a_card_citing_a_page_the_model_was_not_shown_is_rejected_by_the_schema(
    project, user
) -> None:
    # Only page 2 is in the prompt, so page 1 is not in the schema's enum: the answer is
    # invalid and asked for again.
    glacier = document(project, "Glacial erosion")
    replies = [cards_reply(GLACIER_CARDS[0]), cards_reply(GLACIER_CARDS[2])]
    job = study_services.flashcards_generate(
        project=project, user=user, documents=[glacier], pages=(2, 2)
    )
    job = run(job, ScriptedRuntime(replies))
    assert job.status == Status.DONE
    assert job.invalid_outputs == 1
    assert list(Flashcard.objects.values_list("pages", flat=True)) == [[2]]


def test_cards_from_a_qa_answer_read_only_the_pages_it_cites(project, user) -> None:
    glacier, bees = document(project, "Glacial erosion"), document(project, "Bee behaviour")
    answer = answer_citing(project, user, [(glacier, 1), (bees, 2)])
    runtime = ScriptedRuntime(
        [
            cards_reply(
                card("What do glaciers carve?", "U-shaped valleys.", "Glacial erosion", [1]),
                card("How warm is the brood kept?", "35 degrees.", "Bee behaviour", [2]),
                # Page 2 was in the prompt, but of the bee paper, not of this one.
                card("What feeds braided rivers?", "Meltwater.", "Glacial erosion", [2]),
            )
        ]
    )
    job = study_services.flashcards_generate_from_answer(answer=answer, user=user)
    job = run(job, runtime)
    assert job.status == Status.DONE, job.error
    prompt = runtime.calls[0][-1].content
    assert answer.text in prompt
    assert "[Glacial erosion, p. 1]" in prompt and "[Bee behaviour, p. 2]" in prompt
    assert "[Glacial erosion, p. 2]" not in prompt and "[Bee behaviour, p. 1]" not in prompt
    made = {c.front: (c.document_id, c.pages, c.scope) for c in Flashcard.objects.all()}
    assert made == {
        "What do glaciers carve?": (glacier.pk, [1], f"answer:{answer.pk}"),
        "How warm is the brood kept?": (bees.pk, [2], f"answer:{answer.pk}"),
    }
    assert job.dropped_count == 1
    assert "1 dropped" in job.message


def test_cloze_cards_hide_a_term_and_one_written_plainly_gets_its_deletion(project, user) -> None:
    replies = [
        cards_reply(
            card("Glaciers carve {{c1::U-shaped}} valleys.", "", "Glacial erosion", [1], "cloze"),
            card("Moraines are ridges of till.", "till", "Glacial erosion", [1], "cloze"),
            card("Meltwater feeds rivers.", "nothing here", "Glacial erosion", [2], "cloze"),
        )
    ]
    job = generate_cards(project, user, replies, kinds="cloze")
    assert job.status == Status.DONE
    fronts = list(Flashcard.objects.order_by("id").values_list("kind", "front"))
    assert fronts == [
        ("cloze", "Glaciers carve {{c1::U-shaped}} valleys."),
        ("cloze", "Moraines are ridges of {{c1::till}}."),
    ]
    assert job.dropped_count == 1  # no term to hide


def test_a_whole_project_is_read_document_by_document_with_visible_progress(project, user) -> None:
    progress: list[tuple[str, int, str]] = []

    def reply(messages: Sequence[Message]) -> str:
        job = StudyJob.objects.get()
        progress.append((job.status, job.units_done, job.message))
        title = re.search(r"^## (.+)$", messages[-1].content, re.MULTILINE)
        assert title is not None
        return cards_reply(
            card(f"What is {title.group(1)} about?", "Its topic.", title.group(1), [1])
        )

    documents = list(project.documents.order_by("created_at", "id"))
    job = study_services.flashcards_generate(project=project, user=user, documents=documents)
    assert job.status == Status.QUEUED and job.progress == 0
    job = run(job, ScriptedRuntime(reply))
    assert job.status == Status.DONE
    assert [(status, done) for status, done, _ in progress] == [
        (Status.RUNNING, 0),
        (Status.RUNNING, 1),
        (Status.RUNNING, 2),
    ]
    assert progress[0][2] == "Asking the model about “Glacial erosion” (1 of 3)…"
    assert progress[2][2] == "Asking the model about “Observatory history” (3 of 3)…"
    assert job.units_done == 3 and job.progress == 1
    assert Flashcard.objects.count() == 3
    assert job.label == "3 documents"


def test_a_document_past_the_window_is_read_in_parts_each_citing_its_own_pages(user) -> None:
    project = Project.objects.create(owner=user, title="Long read")
    pages = [
        f"Page {n} is about topic {n}. " + " ".join(f"Fact {n}.{i} holds." for i in range(60))
        for n in range(1, 5)
    ]
    long_doc = add_document(project, "Long paper", pages, target=120)
    seen_pages: list[list[int]] = []

    def reply(messages: Sequence[Message]) -> str:
        shown = sorted(
            {int(p) for p in re.findall(r"\[Long paper, p\. (\d+)\]", messages[-1].content)}
        )
        seen_pages.append(shown)
        return cards_reply(
            card(f"What is page {shown[0]} about?", "A topic.", "Long paper", shown[:1])
        )

    job = study_services.flashcards_generate(
        project=project, user=user, documents=[long_doc], count=8
    )
    job = run(job, ScriptedRuntime(reply, context_window=2600))
    assert job.status == Status.DONE, job.error
    assert len(seen_pages) >= 2  # more than one window-sized part
    assert sorted({p for shown in seen_pages for p in shown}) == [1, 2, 3, 4]  # every page read
    assert sorted(c.pages[0] for c in Flashcard.objects.all()) == [s[0] for s in seen_pages]


def test_regenerating_replaces_untouched_cards_and_never_overwrites_edited_reviewed_or_deleted(
    project, user
) -> None:
    generate_cards(project, user, [cards_reply(*GLACIER_CARDS)])
    edited, reviewed, deleted, untouched = Flashcard.objects.order_by("id")
    flashcards.flashcard_update(
        card=edited,
        kind="basic",
        front="What shape of valley do glaciers carve?",
        back="A U shape (my words).",
        document=edited.document,
        pages=[1],
        tags=["mine"],
    )
    review.card_review(card=reviewed, rating=3)
    flashcards.flashcard_delete(card=deleted)
    by_hand = flashcards.flashcard_create(
        project=project, kind="basic", front="Why study ice?", back="Because.", tags=[]
    )

    regenerated = [
        card(c["question"], c["answer"] + " (regenerated)", c["source"], c["pages"])
        for c in GLACIER_CARDS
    ] + [
        card("What is rock flour?", "Bedrock ground fine by ice.", "Glacial erosion", [1]),
        card("Why study ice?", "Regenerated.", "Glacial erosion", [1]),
    ]
    job = generate_cards(project, user, [cards_reply(*regenerated)])
    assert job.status == Status.DONE

    edited.refresh_from_db()
    assert (edited.front, edited.back) == (
        "What shape of valley do glaciers carve?",
        "A U shape (my words).",
    )
    reviewed.refresh_from_db()
    assert reviewed.back == GLACIER_CARDS[1]["answer"] and reviewed.reps == 1
    assert Flashcard.objects.filter(front=GLACIER_CARDS[2]["question"]).count() == 1
    assert Flashcard.objects.get(pk=deleted.pk).dismissed  # not brought back
    untouched.refresh_from_db()
    assert untouched.back == GLACIER_CARDS[3]["answer"] + " (regenerated)"  # same card, updated
    by_hand.refresh_from_db()
    assert by_hand.back == "Because."
    # The question the edited card was generated with is not added again beside it.
    assert not Flashcard.objects.filter(front=GLACIER_CARDS[0]["question"]).exists()
    assert job.kept_count == 4  # edited, reviewed, deleted, by hand
    assert job.updated_count == 1
    assert job.created_count == 1
    assert Flashcard.objects.filter(dismissed=False).count() == 5


def test_an_untouched_card_the_model_no_longer_writes_is_removed_on_regeneration(
    project, user
) -> None:
    generate_cards(project, user, [cards_reply(*GLACIER_CARDS[:2])])
    generate_cards(project, user, [cards_reply(GLACIER_CARDS[1])])
    assert list(Flashcard.objects.values_list("front", flat=True)) == [GLACIER_CARDS[1]["question"]]


# -- invalid output, failures and retries -------------------------------------------------------


def test_invalid_json_is_asked_for_a_bounded_number_of_times_then_the_job_fails_clearly(
    project, user
) -> None:
    replies = ["Sure! Here are your cards:", '{"cards": []}', '{"cards": [{"kind": "basic"}]}']
    runtime = ScriptedRuntime(replies)
    job = study_services.flashcards_generate(
        project=project, user=user, documents=[document(project, "Glacial erosion")]
    )
    job = run(job, runtime)
    assert len(runtime.calls) == MAX_TRIES == 3
    assert job.status == Status.FAILED
    assert job.error_code == StudyJob.ErrorCode.INVALID_OUTPUT
    assert job.invalid_outputs == 3
    assert job.error.startswith("“Glacial erosion”: The model's answer did not match")
    assert "after 3 tries" in job.error
    assert job.error_detail == '{"cards": [{"kind": "basic"}]}'  # the model's last answer
    assert job.finished_at is not None
    assert not Flashcard.objects.exists()


def test_an_invalid_answer_then_a_valid_one_succeeds_and_says_it_asked_again(project, user) -> None:
    job = generate_cards(project, user, ["{not json", cards_reply(GLACIER_CARDS[0])])
    assert job.status == Status.DONE
    assert job.invalid_outputs == 1
    assert Flashcard.objects.count() == 1


def test_a_retry_continues_after_the_last_saved_document(project, user) -> None:
    glacier, bees = document(project, "Glacial erosion"), document(project, "Bee behaviour")
    bee_card = card("Why do bees dance?", "To point at nectar.", "Bee behaviour", [1])
    job = study_services.flashcards_generate(project=project, user=user, documents=[glacier, bees])
    job = run(job, ScriptedRuntime([cards_reply(GLACIER_CARDS[0]), "no", "no", "no"]))
    assert job.status == Status.FAILED and job.units_done == 1
    assert job.error.startswith("“Bee behaviour” (2 of 2):")

    assert study_services.job_retry(job=job)
    job.refresh_from_db()
    assert (job.status, job.attempt, job.error) == (Status.QUEUED, 2, "")
    runtime = ScriptedRuntime([cards_reply(bee_card)])
    job = run(job, runtime)
    assert job.status == Status.DONE
    assert len(runtime.calls) == 1  # the glacier paper was not asked again
    assert "Bee behaviour" in runtime.calls[0][-1].content
    assert sorted(Flashcard.objects.values_list("front", flat=True)) == sorted(
        [GLACIER_CARDS[0]["question"], bee_card["question"]]
    )
    assert not study_services.job_retry(job=job)  # a finished job has nothing to retry


def test_a_task_for_an_earlier_attempt_or_a_second_delivery_changes_nothing(project, user) -> None:
    job = study_services.flashcards_generate(
        project=project, user=user, documents=[document(project, "Glacial erosion")]
    )
    untouchable = ScriptedRuntime([])  # would fail the test if it were asked anything
    study_services.job_run(job_id=job.pk, attempt=job.attempt + 1, runtime=untouchable)
    job = run(job, ScriptedRuntime([cards_reply(GLACIER_CARDS[0])]))
    assert job.status == Status.DONE
    study_services.job_run(job_id=job.pk, attempt=job.attempt, runtime=untouchable)  # redelivery
    assert untouchable.calls == []
    assert Flashcard.objects.count() == 1


def test_a_job_whose_worker_died_is_resumed_by_a_redelivered_task_once_it_is_stale(
    project, user
) -> None:
    glacier, bees = document(project, "Glacial erosion"), document(project, "Bee behaviour")
    bee_card = card("Why do bees dance?", "To point at nectar.", "Bee behaviour", [1])
    job = study_services.flashcards_generate(project=project, user=user, documents=[glacier, bees])

    def crash_on_second(messages: Sequence[Message]) -> str:
        if "Bee behaviour" in messages[-1].content:
            raise KeyboardInterrupt  # the worker dies mid-unit: nothing catches this
        return cards_reply(GLACIER_CARDS[0])

    with pytest.raises(KeyboardInterrupt):
        study_services.job_run(
            job_id=job.pk, attempt=job.attempt, runtime=ScriptedRuntime(crash_on_second)
        )
    job.refresh_from_db()
    assert (job.status, job.units_done) == (Status.RUNNING, 1)
    assert not job.is_stale  # its last write was just now

    untouchable = ScriptedRuntime([])
    study_services.job_run(job_id=job.pk, attempt=job.attempt, runtime=untouchable)
    assert untouchable.calls == []  # a live run is never taken over

    StudyJob.objects.filter(pk=job.pk).update(
        updated_at=timezone.now() - StudyJob.STALE_AFTER - timedelta(seconds=1)
    )
    job.refresh_from_db()
    assert job.is_stale
    runtime = ScriptedRuntime([cards_reply(bee_card)])
    job = run(job, runtime)  # the unacknowledged message, delivered again
    assert job.status == Status.DONE and len(runtime.calls) == 1
    assert Flashcard.objects.count() == 2


def test_a_model_server_that_stays_down_is_retried_by_celery_then_fails_with_its_words(
    project, user, eager_celery, django_capture_on_commit_callbacks
) -> None:
    def down(messages: Sequence[Message]) -> str:
        raise ModelUnavailable("Ollama at http://127.0.0.1:9 is not answering.")

    runtime = ScriptedRuntime(down)
    with use_runtime(runtime), django_capture_on_commit_callbacks(execute=True):
        job = study_services.flashcards_generate(
            project=project, user=user, documents=[document(project, "Glacial erosion")]
        )
    job.refresh_from_db()
    assert len(runtime.calls) == 1 + MAX_RETRIES  # the first try, then Celery's retries
    assert job.status == Status.FAILED
    assert job.error_code == StudyJob.ErrorCode.UNAVAILABLE
    assert job.error == "Ollama at http://127.0.0.1:9 is not answering."


def test_a_job_over_documents_with_no_text_skips_them_and_says_so(project, user) -> None:
    empty = Document.objects.create(
        project=project,
        title="Scanned pages",
        original_name="scan.pdf",
        file_type=Document.FileType.PDF,
        content_hash="0" * 64,
        stage=Document.Stage.READY,
        indexed_at=timezone.now(),
    )
    job = study_services.flashcards_generate(
        project=project, user=user, documents=[empty, document(project, "Glacial erosion")]
    )
    progress: list[str] = []

    def reply(messages: Sequence[Message]) -> str:
        progress.append(StudyJob.objects.get().message)
        return cards_reply(GLACIER_CARDS[0])

    job = run(job, ScriptedRuntime(reply))
    assert job.status == Status.DONE
    assert Flashcard.objects.count() == 1
    alone = study_services.flashcards_generate(project=project, user=user, documents=[empty])
    alone = run(alone, ScriptedRuntime([]))
    assert alone.status == Status.FAILED
    assert alone.error_code == StudyJob.ErrorCode.NO_SOURCES
    assert alone.error == "“Scanned pages”: There is no text to generate from."


# -- timelines ---------------------------------------------------------------------------------


def generate_timeline(
    project: Project, user: Any, documents: list[Document], replies: list[str]
) -> StudyJob:
    job = study_services.timeline_generate(project=project, user=user, documents=documents)
    return run(job, ScriptedRuntime(replies))


def test_timeline_events_keep_their_date_precision_and_cite_their_pages(project, user) -> None:
    history = document(project, "Observatory history")
    reply = events_reply(
        event("Observatory founded", "1998", "Observatory history", [1], precision="year"),
        event("First telescope", "2001-03", "Observatory history", [1], precision="month"),
        event("Storm damage", "2005-06-14", "Observatory history", [2], precision="day"),
        event("Sky survey", "1995", "Observatory history", [2], end="1990", precision="year"),
        event("Impossible day", "2005-02-30", "Observatory history", [2], precision="day"),
        # A day the source gives only as a year is kept at the coarser precision claimed.
        event("Dome repaired", "2006-01-01", "Observatory history", [2], precision="year"),
    )
    job = generate_timeline(project, user, [history], [reply])
    assert job.status == Status.DONE, job.error
    assert job.dropped_count == 1  # the impossible date
    made = [
        (e.title, timelines.event_label(e), e.precision, [s.page for s in e.sources.all()])
        for e in TimelineEvent.objects.order_by("sort_key", "id")
    ]
    assert made == [
        ("Sky survey", "1990 \u2013 1995", "year", [2]),
        ("Observatory founded", "1998", "year", [1]),
        ("First telescope", "Mar 2001", "month", [1]),
        ("Storm damage", "14 Jun 2005", "day", [2]),
        ("Dome repaired", "2006", "year", [2]),
    ]
    repaired = TimelineEvent.objects.get(title="Dome repaired")
    assert (repaired.start_month, repaired.start_day) == (None, None)


def test_the_same_event_in_two_papers_is_merged_and_cites_both(project, user) -> None:
    history = document(project, "Observatory history")
    archive = add_document(project, "Town archive", ARCHIVE_PAGES)
    replies = [
        events_reply(
            event("Observatory founded", "1998", "Observatory history", [1], precision="year")
        ),
        events_reply(
            event("The observatory is founded", "1998", "Town archive", [1], precision="year"),
            event("Archive opens", "1960", "Town archive", [1], precision="decade"),
        ),
    ]
    job = generate_timeline(project, user, [history, archive], replies)
    assert job.status == Status.DONE
    assert job.message == "Done: 2 new events, 1 updated or merged."
    founded = TimelineEvent.objects.get(start_year=1998)
    assert founded.title == "Observatory founded"
    assert sorted((s.document_id, s.page) for s in founded.sources.all()) == [
        (history.pk, 1),
        (archive.pk, 1),
    ]
    assert timelines.event_label(TimelineEvent.objects.get(title="Archive opens")) == "1960s"


def test_regenerating_a_timeline_keeps_edited_and_deleted_events(project, user) -> None:
    history = document(project, "Observatory history")
    first = events_reply(
        event("Observatory founded", "1998", "Observatory history", [1], precision="year"),
        event("First telescope", "2001-03", "Observatory history", [1], precision="month"),
        event("Storm damage", "2005-06-14", "Observatory history", [2], precision="day"),
    )
    generate_timeline(project, user, [history], [first])
    founded = TimelineEvent.objects.get(title="Observatory founded")
    timelines.event_save(
        project=project,
        event=founded,
        title="Founding of the observatory",
        description="My note.",
        start=timelines.When(1998),
        end=None,
        precision="year",
        tags=["history"],
    )
    timelines.event_delete(event=TimelineEvent.objects.get(title="Storm damage"))

    generate_timeline(project, user, [history], [first])
    founded.refresh_from_db()
    assert (founded.title, founded.description, founded.edited_by_user) == (
        "Founding of the observatory",
        "My note.",
        True,
    )
    assert TimelineEvent.objects.filter(title="Storm damage", dismissed=False).count() == 0
    assert TimelineEvent.objects.filter(title="First telescope").count() == 1
    assert TimelineEvent.objects.filter(dismissed=False).count() == 2
    assert EventSource.objects.filter(event=founded).count() == 1


# -- comparisons ----------------------------------------------------------------------------------


def test_a_comparison_fills_one_cited_cell_per_paper_and_aspect(project, user) -> None:
    glacier, bees = document(project, "Glacial erosion"), document(project, "Bee behaviour")
    replies = [
        cells_reply({"Method": ("Field observation of ice.", [1]), "Data": ("Not stated.", [])}),
        cells_reply({"Method": ("Watching the hive.", [1, 2]), "Data": ("Hive temperature.", [2])}),
    ]
    job = study_services.comparison_start(
        project=project,
        user=user,
        title="",
        documents=[glacier, bees],
        aspects=["Method", "Data"],
    )
    runtime = ScriptedRuntime(replies)
    job = run(job, runtime)
    assert job.status == Status.DONE, job.error
    assert "Method; Data" in runtime.calls[0][-1].content
    comparison = job.comparison
    assert comparison is not None and comparison.title == "Glacial erosion vs Bee behaviour"
    cells = {(c.document_id, c.aspect): (c.text, c.pages) for c in ComparisonCell.objects.all()}
    assert cells == {
        (glacier.pk, "Method"): ("Field observation of ice.", [1]),
        (glacier.pk, "Data"): ("Not stated.", []),
        (bees.pk, "Method"): ("Watching the hive.", [1, 2]),
        (bees.pk, "Data"): ("Hive temperature.", [2]),
    }
    assert all(comparisons.cell_is_cited(c) for c in ComparisonCell.objects.all())


def test_refilling_a_comparison_keeps_the_cells_the_user_edited(project, user) -> None:
    glacier, bees = document(project, "Glacial erosion"), document(project, "Bee behaviour")
    job = study_services.comparison_start(
        project=project, user=user, title="Two", documents=[glacier, bees], aspects=["Method"]
    )
    run(job, ScriptedRuntime([cells_reply({"Method": ("Old.", [1])})] * 2))
    mine = ComparisonCell.objects.get(document=glacier)
    comparisons.cell_update(cell=mine, text="My reading of the method.", pages=[2])
    assert job.comparison is not None
    again = study_services.comparison_fill(comparison=job.comparison, user=user)
    again = run(again, ScriptedRuntime([cells_reply({"Method": ("New.", [1])})] * 2))
    assert again.kept_count == 1 and again.updated_count == 1
    mine.refresh_from_db()
    assert (mine.text, mine.pages) == ("My reading of the method.", [2])
    assert ComparisonCell.objects.get(document=bees).text == "New."


# -- summaries -----------------------------------------------------------------------------------


def digest_reply(points: list[tuple[str, str, list[int]]]) -> str:
    return json.dumps(
        {
            "overview": "Two papers on nature.",
            "points": [
                {"text": text, "source": source, "pages": pages} for text, source, pages in points
            ],
        }
    )


def test_a_summary_across_documents_cites_the_pages_it_draws_on(project, user) -> None:
    glacier = document(project, "Glacial erosion")
    archive = add_document(project, "Town archive", ARCHIVE_PAGES)
    job = study_services.digest_start(
        project=project, user=user, title="", documents=[glacier, archive]
    )
    reply = digest_reply(
        [
            ("Glaciers carve valleys.", "Glacial erosion", [1, 2]),
            ("The observatory dates from 1998.", "Town archive", [1]),
            ("The archive opened later.", "Town archive", [2]),  # the archive has one page
        ]
    )
    runtime = ScriptedRuntime([reply])
    job = run(job, runtime)
    assert job.status == Status.DONE, job.error
    assert "[Town archive, p. 1]" in runtime.calls[0][-1].content
    digest = Digest.objects.get()
    assert digest.title == "Summary of Glacial erosion, Town archive"
    assert digest.body == (
        "Two papers on nature.\n\n"
        "- Glaciers carve valleys. [Glacial erosion, p. 1; Glacial erosion, p. 2]\n"
        "- The observatory dates from 1998. [Town archive, p. 1]"
    )
    assert [(c["source_id"], c["page_start"], c["flagged"]) for c in digest.citations] == [
        (glacier.pk, 1, False),
        (glacier.pk, 2, False),
        (archive.pk, 1, False),
    ]
    assert job.dropped_count == 1


def test_an_edited_summary_is_never_regenerated_over(project, user) -> None:
    glacier = document(project, "Glacial erosion")
    job = study_services.digest_start(project=project, user=user, title="Ice", documents=[glacier])
    reply = digest_reply([("Glaciers carve valleys.", "Glacial erosion", [1])])
    run(job, ScriptedRuntime([reply]))
    digest = Digest.objects.get()
    pending = study_services.digest_regenerate(digest=digest, user=user)
    digests.digest_update(
        digest=digest,
        title="Ice",
        body="My summary [Glacial erosion, p. 9] and [Glacial erosion, p. 2].",
    )
    pending = run(pending, ScriptedRuntime([reply]))  # was already queued: finishes, keeps it
    assert pending.status == Status.DONE and pending.kept_count == 1
    digest.refresh_from_db()
    assert digest.body.startswith("My summary")
    assert [c["flagged"] for c in digest.citations] == [True, False]  # p. 9 was never shown
    with pytest.raises(study_services.EditedByUser):
        study_services.digest_regenerate(digest=digest, user=user)
