"""Study pages: every page renders, forms validate and start jobs that run as Celery tasks
(inline here, so the scripted model applies), hand edits are kept, progress is polled, and
another person's project is a 404 (a viewer may read but not change: 403)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from research.models import (
    Comparison,
    ComparisonCell,
    Digest,
    Flashcard,
    Project,
    ProjectShare,
    StudyJob,
    TimelineEvent,
)
from research.study import selectors
from research.study.generators import timelines
from tests.research.study.test_generation import (
    GLACIER_CARDS,
    answer_citing,
    cards_reply,
    cells_reply,
    document,
    event,
    events_reply,
)
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime

pytest_plugins = ["tests.research.ingest_fixtures"]  # eager_celery
pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def reading_pages_of(project: Project, m: dict[str, Any]) -> list[str]:
    """Pages that show study materials: every reader of the project may open them."""
    p = project.pk
    return [
        f"/research/{p}/study/",
        f"/research/{p}/flashcards/",
        f"/research/{p}/flashcards/?tag=ice&document={m['document'].pk}",
        f"/research/{p}/review/",
        f"/research/{p}/timeline/",
        f"/research/{p}/timeline/?tag=history",
        f"/research/{p}/comparisons/",
        f"/research/comparisons/{m['comparison'].pk}/",
        f"/research/{p}/digests/",
        f"/research/digests/{m['digest'].pk}/",
    ]


def forms_of(project: Project, m: dict[str, Any]) -> list[str]:
    """Pages that are only a form to change something: the owner's and editors' alone."""
    p = project.pk
    return [
        f"/research/{p}/flashcards/new/",
        f"/research/flashcards/{m['card'].pk}/edit/",
        f"/research/{p}/timeline/new/",
        f"/research/timeline/events/{m['event'].pk}/edit/",
        f"/research/comparisons/cells/{m['cell'].pk}/edit/",
        f"/research/digests/{m['digest'].pk}/edit/",
    ]


def pages_of(project: Project, m: dict[str, Any]) -> list[str]:
    return reading_pages_of(project, m) + forms_of(project, m)


def downloads_of(project: Project, m: dict[str, Any]) -> list[str]:
    p = project.pk
    return [
        f"/research/{p}/flashcards/export/apkg/",
        f"/research/{p}/flashcards/export/csv/",
        f"/research/{p}/timeline/export/json/",
        f"/research/comparisons/{m['comparison'].pk}/export/md/",
        f"/research/digests/{m['digest'].pk}/export/",
        f"/research/documents/{m['document'].pk}/summary/export/",
    ]


def changes_of(project: Project, m: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    p = project.pk
    return [
        (
            f"/research/{p}/flashcards/generate/",
            {"scope": "project", "count": "3", "kinds": "basic"},
        ),
        (f"/research/{p}/flashcards/new/", {"kind": "basic", "front": "Q?", "back": "A."}),
        (
            f"/research/flashcards/{m['card'].pk}/edit/",
            {"kind": "basic", "front": "Q?", "back": "A"},
        ),
        (f"/research/flashcards/{m['card'].pk}/delete/", {}),
        (f"/research/flashcards/{m['card'].pk}/grade/", {"rating": "3"}),
        (f"/research/{p}/timeline/generate/", {"count": "5"}),
        (f"/research/timeline/events/{m['event'].pk}/edit/", {"title": "X", "start": "1999"}),
        (f"/research/timeline/events/{m['event'].pk}/delete/", {}),
        (f"/research/comparisons/{m['comparison'].pk}/regenerate/", {}),
        (f"/research/comparisons/cells/{m['cell'].pk}/edit/", {"text": "Mine."}),
        (f"/research/digests/{m['digest'].pk}/edit/", {"title": "T", "body": "B"}),
        (f"/research/digests/{m['digest'].pk}/regenerate/", {}),
        (f"/research/study/jobs/{m['job'].pk}/retry/", {}),
        (f"/research/study/jobs/{m['job'].pk}/discard/", {}),
    ]


# -- pages ---------------------------------------------------------------------------------------


def test_every_study_page_renders_for_the_owner(signed_in_client, project, materials) -> None:
    for url in pages_of(project, materials):
        response = signed_in_client.get(url)
        assert response.status_code == 200, url
        assert b"Field notes" in response.content, url
    for url in downloads_of(project, materials):
        response = signed_in_client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Disposition"].startswith("attachment;"), url


def test_study_pages_render_for_an_empty_project(signed_in_client, user) -> None:
    empty = Project.objects.create(owner=user, title="Empty")
    for tool in ("study", "flashcards", "review", "timeline", "comparisons", "digests"):
        response = signed_in_client.get(f"/research/{empty.pk}/{tool}/")
        assert response.status_code == 200, tool
    page = signed_in_client.get(f"/research/{empty.pk}/flashcards/").content.decode()
    assert "No cards yet" in page and "once a document has been read" in page


def test_another_users_study_materials_are_not_found(
    client, project, materials, other_user
) -> None:
    client.force_login(other_user)
    for url in pages_of(project, materials) + downloads_of(project, materials):
        assert client.get(url).status_code == 404, url
    assert client.get(f"/research/study/jobs/{materials['job'].pk}/", **HX).status_code == 404
    for url, data in changes_of(project, materials):
        assert client.post(url, data).status_code == 404, url
    materials["card"].refresh_from_db()
    assert materials["card"].front == "What carves valleys?" and not materials["card"].dismissed
    assert not StudyJob.objects.exclude(pk=materials["job"].pk).exists()


def test_a_viewer_reads_and_exports_but_cannot_change_anything(
    client, project, materials, other_user
) -> None:
    ProjectShare.objects.create(project=project, user=other_user, role=ProjectShare.Role.VIEWER)
    client.force_login(other_user)
    for url in reading_pages_of(project, materials) + downloads_of(project, materials):
        assert client.get(url).status_code == 200, url
    for url in forms_of(project, materials):
        assert client.get(url).status_code == 403, url  # not even the empty form
    for url, data in changes_of(project, materials):
        assert client.post(url, data).status_code == 403, url
    assert Flashcard.objects.get().reps == 0
    assert StudyJob.objects.count() == 1


def test_signed_out_visitors_are_sent_to_sign_in(client, project, materials) -> None:
    response = client.get(f"/research/{project.pk}/flashcards/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# -- flashcard forms -------------------------------------------------------------------------------


def test_generating_cards_from_the_form_runs_the_job_and_lists_the_cards(
    signed_in_client, project, eager_celery, django_capture_on_commit_callbacks
) -> None:
    glacier = document(project, "Glacial erosion")
    runtime = ScriptedRuntime([cards_reply(*GLACIER_CARDS[:2])])
    with use_runtime(runtime), django_capture_on_commit_callbacks(execute=True):
        response = signed_in_client.post(
            f"/research/{project.pk}/flashcards/generate/",
            {
                "scope": "pages",
                "document": glacier.pk,
                "first_page": "1",
                "last_page": "1",
                "count": "2",
                "kinds": "basic",
                "tags": "ice, exam",
            },
        )
    assert response.status_code == 302
    assert response["Location"] == f"/research/{project.pk}/flashcards/"
    job = StudyJob.objects.get()
    assert job.status == StudyJob.Status.DONE, job.error
    assert job.params == {"count": 2, "kinds": "basic", "tags": ["ice", "exam"], "method": "model"}
    page = signed_in_client.get(response["Location"]).content.decode()
    assert "Generating flashcards from Glacial erosion, pp. 1-1." in page
    assert "What carves U-shaped valleys?" in page
    assert f'href="/research/documents/{glacier.pk}/pages/1/"' in page
    assert 'data-status="done"' in page and "Done: 2 new cards." in page
    assert "Review 2 due" in page


def test_the_generate_form_explains_what_is_missing(signed_in_client, project) -> None:
    glacier = document(project, "Glacial erosion")
    url = f"/research/{project.pk}/flashcards/generate/"
    response = signed_in_client.post(url, {"scope": "document", "count": "5", "kinds": "basic"})
    assert response.status_code == 400
    assert "Choose the document." in response.content.decode()
    response = signed_in_client.post(
        url,
        {
            "scope": "pages",
            "document": glacier.pk,
            "first_page": "1",
            "last_page": "9",
            "count": "5",
            "kinds": "basic",
        },
    )
    assert response.status_code == 400
    assert "“Glacial erosion” has 2 pages." in response.content.decode()
    assert not StudyJob.objects.exists()


def test_a_generate_request_queues_one_task_after_the_job_is_saved(
    signed_in_client, project, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        signed_in_client.post(
            f"/research/{project.pk}/flashcards/generate/",
            {"scope": "project", "count": "4", "kinds": "both"},
        )
    job = StudyJob.objects.get()
    assert job.status == StudyJob.Status.QUEUED
    assert [unit["document_id"] for unit in job.units] == list(
        project.documents.order_by("created_at", "id").values_list("pk", flat=True)
    )
    assert len(callbacks) == 1


def test_cards_can_be_made_from_a_qa_answer_on_the_flashcards_page(
    signed_in_client, project, user, eager_celery, django_capture_on_commit_callbacks
) -> None:
    glacier = document(project, "Glacial erosion")
    answer = answer_citing(project, user, [(glacier, 1)])
    page = signed_in_client.get(f"/research/{project.pk}/flashcards/").content.decode()
    assert "What do glaciers and bees do?" in page  # the answer, named by its question
    runtime = ScriptedRuntime([cards_reply(GLACIER_CARDS[0])])
    with use_runtime(runtime), django_capture_on_commit_callbacks(execute=True):
        response = signed_in_client.post(
            f"/research/{project.pk}/flashcards/from-answer/",
            {"answer": answer.pk, "count": "3", "kinds": "basic"},
        )
    assert response.status_code == 302
    made = Flashcard.objects.get()
    assert made.scope == f"answer:{answer.pk}" and made.pages == [1]


def test_adding_editing_and_deleting_cards_by_hand(signed_in_client, project) -> None:
    glacier = document(project, "Glacial erosion")
    response = signed_in_client.post(
        f"/research/{project.pk}/flashcards/new/",
        {"kind": "cloze", "front": "No deletion here.", "back": ""},
    )
    assert "A cloze card needs at least one {{c1::hidden words}}." in response.content.decode()
    response = signed_in_client.post(
        f"/research/{project.pk}/flashcards/new/",
        {"kind": "basic", "front": "What is till?", "back": "", "pages": "3-x"},
    )
    content = response.content.decode()
    assert "Write the answer." in content and "“3-x” is not a page or a range of pages." in content
    response = signed_in_client.post(
        f"/research/{project.pk}/flashcards/new/",
        {
            "kind": "basic",
            "front": "What is till?",
            "back": "Unsorted glacial sediment.",
            "document": glacier.pk,
            "pages": "1-2",
            "tags": "ice, terms",
        },
    )
    assert response.status_code == 302
    card = Flashcard.objects.get()
    assert (card.pages, card.generated, sorted(t.name for t in card.tags.all())) == (
        [1, 2],
        False,
        ["ice", "terms"],
    )

    Flashcard.objects.filter(pk=card.pk).update(generated=True)  # as if a job had made it
    edit = f"/research/flashcards/{card.pk}/edit/"
    assert "What is till?" in signed_in_client.get(edit).content.decode()
    response = signed_in_client.post(
        edit,
        {
            "kind": "basic",
            "front": "What is till?",
            "back": "My answer.",
            "document": glacier.pk,
            "pages": "1",
        },
    )
    assert response["Location"] == f"/research/{project.pk}/flashcards/#card-{card.pk}"
    card.refresh_from_db()
    assert (card.back, card.pages, card.edited_by_user) == ("My answer.", [1], True)

    response = signed_in_client.post(f"/research/flashcards/{card.pk}/delete/", **HX)
    assert response.status_code == 200 and response.content == b""
    card.refresh_from_db()
    assert card.dismissed  # a generated card stays as a tombstone
    page = signed_in_client.get(f"/research/{project.pk}/flashcards/").content.decode()
    assert "What is till?" not in page


# -- jobs ------------------------------------------------------------------------------------------


def test_a_running_job_is_polled_and_the_page_reloads_when_it_stops(
    signed_in_client, project, materials
) -> None:
    job = materials["job"]
    StudyJob.objects.filter(pk=job.pk).update(
        status=StudyJob.Status.RUNNING, message="Asking the model about “Glacial erosion”…"
    )
    page = signed_in_client.get(f"/research/{project.pk}/flashcards/").content.decode()
    assert f'hx-get="/research/study/jobs/{job.pk}/?polling=1"' in page
    assert 'hx-trigger="every 2s"' in page
    assert "Asking the model about “Glacial erosion”…" in page

    url = f"/research/study/jobs/{job.pk}/?polling=1"
    response = signed_in_client.get(url, **HX)
    assert response.status_code == 200 and "HX-Refresh" not in response
    StudyJob.objects.filter(pk=job.pk).update(
        status=StudyJob.Status.DONE, message="Done: 3 new cards."
    )
    response = signed_in_client.get(url, **HX)
    assert response["HX-Refresh"] == "true"
    assert "Done: 3 new cards." in response.content.decode()
    # Without htmx the job's link leads back to its tool's page.
    response = signed_in_client.get(f"/research/study/jobs/{job.pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"/research/{project.pk}/flashcards/"


def test_a_failed_job_shows_the_models_answer_and_retries(
    signed_in_client, project, materials, django_capture_on_commit_callbacks
) -> None:
    job = materials["job"]
    StudyJob.objects.filter(pk=job.pk).update(
        status=StudyJob.Status.FAILED,
        error_code=StudyJob.ErrorCode.INVALID_OUTPUT,
        error="The model's answer did not match the expected JSON after 3 tries.",
        error_detail='{"cards": [{"kind"',
        invalid_outputs=3,
        finished_at=timezone.now(),
    )
    page = signed_in_client.get(f"/research/{project.pk}/flashcards/").content.decode()
    assert "The model&#x27;s answer did not match the schema" in page
    assert "after 3 tries" in page
    assert "{&quot;cards&quot;: [{&quot;kind&quot;" in page
    assert 'data-testid="job-retry"' in page
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = signed_in_client.post(f"/research/study/jobs/{job.pk}/retry/", **HX)
    assert response.status_code == 200
    assert 'data-status="queued"' in response.content.decode()
    job.refresh_from_db()
    assert (job.status, job.attempt, job.error_detail) == (StudyJob.Status.QUEUED, 2, "")
    assert len(callbacks) == 1


def test_a_job_with_no_sign_of_life_offers_a_retry(signed_in_client, project, materials) -> None:
    job = materials["job"]
    long_ago = timezone.now() - StudyJob.STALE_AFTER - timedelta(minutes=1)
    StudyJob.objects.filter(pk=job.pk).update(status=StudyJob.Status.RUNNING, updated_at=long_ago)
    page = signed_in_client.get(f"/research/{project.pk}/flashcards/").content.decode()
    assert "No sign of progress" in page and 'data-testid="job-retry"' in page
    signed_in_client.post(f"/research/study/jobs/{job.pk}/retry/")
    job.refresh_from_db()
    assert (job.status, job.attempt) == (StudyJob.Status.QUEUED, 2)
    assert not job.is_stale
    page = signed_in_client.get(f"/research/{project.pk}/flashcards/").content.decode()
    assert "No sign of progress" not in page and 'data-testid="job-retry"' not in page


# -- timeline --------------------------------------------------------------------------------------


def test_the_timeline_is_drawn_as_svg_and_filters_by_document_and_tag(
    signed_in_client, project, user, eager_celery, django_capture_on_commit_callbacks
) -> None:
    history = document(project, "Observatory history")
    reply = events_reply(
        event("Observatory founded", "1998", "Observatory history", [1], precision="year"),
        event("Sky survey", "1990", "Observatory history", [2], end="1995", precision="year"),
    )
    with use_runtime(ScriptedRuntime([reply])), django_capture_on_commit_callbacks(execute=True):
        response = signed_in_client.post(
            f"/research/{project.pk}/timeline/generate/",
            {"documents": [history.pk], "count": "5", "tags": "history"},
        )
    assert response["Location"] == f"/research/{project.pk}/timeline/"
    page = signed_in_client.get(response["Location"]).content.decode()
    assert page.count("<rect") == 1 and page.count("<circle") == 1  # a span and a point
    timelines.event_save(
        project=project,
        event=None,
        title="Ice age ends",
        description="",
        start=timelines.When(-9700),
        end=None,
        precision="century",
        tags=["ice"],
    )
    page = signed_in_client.get(response["Location"]).content.decode()
    assert '<svg class="timeline"' in page
    assert page.count('data-testid="timeline-mark"') == 3
    founded = TimelineEvent.objects.get(title="Observatory founded")
    assert f'href="#event-{founded.pk}"' in page
    assert f'href="/research/documents/{history.pk}/pages/1/"' in page  # each event's source
    assert "97th century BCE" in page
    assert "src=" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]  # nothing external

    by_doc = signed_in_client.get(f"/research/{project.pk}/timeline/?document={history.pk}")
    assert by_doc.content.decode().count('data-testid="event"') == 2
    by_tag = signed_in_client.get(f"/research/{project.pk}/timeline/?tag=ice").content.decode()
    assert by_tag.count('data-testid="event"') == 1 and "Ice age ends" in by_tag
    assert f"/research/{project.pk}/timeline/export/json/?tag=ice" in by_tag


def test_timeline_labels_never_overlap_and_stay_inside_the_drawing(project) -> None:
    titles = ["Founded", "A much longer title for an event of note", "Survey", "Storm"]
    for year in range(1990, 2011):
        timelines.event_save(
            project=project,
            event=None,
            title=f"{titles[year % 4]} {year}",
            description="",
            start=timelines.When(year, 1 + year % 12),
            end=timelines.When(year + 3) if year % 5 == 0 else None,
            precision="month" if year % 5 else "year",
            tags=[],
        )
    timelines.event_save(
        project=project,
        event=None,
        title="The last event, with a long title near the right edge",
        description="",
        start=timelines.When(2013, 12),
        end=None,
        precision="month",
        tags=[],
    )
    events = list(selectors.event_list_for_project(project=project))
    layout = selectors.timeline_layout(events)
    assert len(layout.marks) == 22 and layout.marks[-1].flipped
    boxes = []
    for mark in layout.marks:
        text = len(mark.label) * selectors.CHAR
        left = mark.text_x - text if mark.flipped else mark.x
        right = mark.x2 if mark.flipped else mark.text_x + text
        assert left >= 0 and right <= layout.width, mark.label
        assert mark.y < layout.height
        boxes.append((mark.y, left, right))
    for i, (y, left, right) in enumerate(boxes):
        for y2, left2, right2 in boxes[i + 1 :]:
            assert y != y2 or right <= left2 or right2 <= left, (y, left, right, left2, right2)


def test_events_are_added_edited_and_deleted_by_hand(signed_in_client, project) -> None:
    history = document(project, "Observatory history")
    url = f"/research/{project.pk}/timeline/new/"
    response = signed_in_client.post(
        url, {"title": "Bad", "start": "1998-13", "precision": "month"}
    )
    assert "“1998-13” is not a date like 1998, 1998-03 or 1998-03-14." in response.content.decode()
    response = signed_in_client.post(
        url, {"title": "Backwards", "start": "2000", "end": "1990", "precision": "year"}
    )
    assert "The end comes before the start." in response.content.decode()
    response = signed_in_client.post(
        url,
        {
            "title": "Telescope arrives",
            "start": "2001-03-20",
            "precision": "month",
            "document": history.pk,
            "pages": "1",
            "tags": "kit",
        },
    )
    made = TimelineEvent.objects.get()
    assert response["Location"] == f"/research/{project.pk}/timeline/#event-{made.pk}"
    assert (made.start_year, made.start_month, made.start_day) == (
        2001,
        3,
        None,
    )  # as precise as said
    assert [(s.document_id, s.page, s.generated) for s in made.sources.all()] == [
        (history.pk, 1, False)
    ]
    edit = f"/research/timeline/events/{made.pk}/edit/"
    assert 'value="2001-03"' in signed_in_client.get(edit).content.decode()
    signed_in_client.post(
        edit, {"title": "Telescope arrives", "start": "2001", "precision": "year", "tags": "kit"}
    )
    made.refresh_from_db()
    assert (made.start_month, made.precision, made.edited_by_user) == (None, "year", True)
    signed_in_client.post(f"/research/timeline/events/{made.pk}/delete/")
    assert not TimelineEvent.objects.exists()  # the user's own event is really deleted


# -- comparisons -----------------------------------------------------------------------------------


def test_a_comparison_is_started_from_the_form_and_its_cells_are_edited(
    signed_in_client, project, eager_celery, django_capture_on_commit_callbacks
) -> None:
    glacier, bees = document(project, "Glacial erosion"), document(project, "Bee behaviour")
    url = f"/research/{project.pk}/comparisons/"
    response = signed_in_client.post(url, {"documents": [glacier.pk], "aspects": ["Method"]})
    assert response.status_code == 400
    assert "Tick at least two papers to compare." in response.content.decode()
    response = signed_in_client.post(url, {"documents": [glacier.pk, bees.pk]})
    assert "Choose at least one aspect, or write your own." in response.content.decode()

    replies = [
        cells_reply({"Method": ("Field work.", [1]), "Sample size": ("Not stated.", [])}),
        cells_reply({"Method": ("Hive watching.", [2]), "Sample size": ("One hive.", [1])}),
    ]
    with use_runtime(ScriptedRuntime(replies)), django_capture_on_commit_callbacks(execute=True):
        response = signed_in_client.post(
            url,
            {
                "documents": [glacier.pk, bees.pk],
                "aspects": ["Method"],
                "own_aspects": "Sample size\n\n",
                "title": "Two fields",
            },
        )
    comparison = Comparison.objects.get()
    assert comparison.aspects == ["Method", "Sample size"]
    assert response["Location"] == f"/research/comparisons/{comparison.pk}/"
    page = signed_in_client.get(response["Location"]).content.decode()
    assert page.count('data-testid="comparison-cell"') == 4
    assert "Hive watching." in page and f'href="/research/documents/{bees.pk}/pages/2/"' in page
    assert "Two fields" in signed_in_client.get(url).content.decode()

    cell = ComparisonCell.objects.get(document=bees, aspect="Method")
    edit = f"/research/comparisons/cells/{cell.pk}/edit/"
    assert "Hive watching." in signed_in_client.get(edit).content.decode()
    response = signed_in_client.post(edit, {"text": "Observation of a hive.", "pages": "1, 2"})
    assert response["Location"] == f"/research/comparisons/{comparison.pk}/"
    cell.refresh_from_db()
    assert (cell.text, cell.pages, cell.edited_by_user) == ("Observation of a hive.", [1, 2], True)
    assert "edited" in signed_in_client.get(response["Location"]).content.decode()


# -- summaries -------------------------------------------------------------------------------------


def test_a_summary_is_made_from_the_form_shown_with_linked_citations_and_edited(
    signed_in_client, project, eager_celery, django_capture_on_commit_callbacks
) -> None:
    glacier, bees = document(project, "Glacial erosion"), document(project, "Bee behaviour")
    url = f"/research/{project.pk}/digests/"
    page = signed_in_client.get(url).content.decode()
    assert glacier.summary in page  # per-document summaries from ingestion
    assert f"/research/documents/{glacier.pk}/summary/export/" in page
    response = signed_in_client.post(url, {"title": "Nature"})
    assert "Tick the documents to summarize together." in response.content.decode()

    reply = json.dumps(
        {
            "overview": "Ice and bees.",
            "points": [
                {"text": "Glaciers carve valleys.", "source": "Glacial erosion", "pages": [1]},
                {"text": "Bees dance.", "source": "Bee behaviour", "pages": [1]},
            ],
        }
    )
    with use_runtime(ScriptedRuntime([reply])), django_capture_on_commit_callbacks(execute=True):
        response = signed_in_client.post(
            url, {"title": "Nature", "documents": [glacier.pk, bees.pk]}
        )
    digest = Digest.objects.get()
    assert response["Location"] == f"/research/digests/{digest.pk}/"
    page = signed_in_client.get(response["Location"]).content.decode()
    assert f'<a class="cite" href="/research/documents/{glacier.pk}/pages/1/' in page
    assert "[Bee behaviour, p. 1]</a>" in page
    assert 'data-testid="digest-regenerate"' in page

    edit = f"/research/digests/{digest.pk}/edit/"
    response = signed_in_client.post(
        edit, {"title": "Nature", "body": "Mine. [Glacial erosion, p. 1] [Glacial erosion, p. 7]"}
    )
    assert response["Location"] == f"/research/digests/{digest.pk}/"
    page = signed_in_client.get(response["Location"]).content.decode()
    assert "not in the context" in page  # p. 7 was never shown to the model
    assert 'data-testid="digest-regenerate"' not in page
    response = signed_in_client.post(f"/research/digests/{digest.pk}/regenerate/", follow=True)
    assert "You edited this summary" in response.content.decode()
    assert StudyJob.objects.count() == 1
