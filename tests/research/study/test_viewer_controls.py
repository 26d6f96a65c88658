"""A viewer of a shared project (a read-only member, research/access.py) reads and exports
every study material but is offered no control they cannot use: no generate, add, edit,
delete, grade, compare, fill again, summarize, regenerate, retry or discard. The pages read
one flag, `can_edit`, and the views refuse the same things (403)."""

from __future__ import annotations

from typing import Any

import pytest

from research.models import ProjectShare, StudyJob
from research.study.views.common import can_edit
from tests.research.study.test_generation import answer_citing
from tests.research.study.test_views import changes_of, forms_of, reading_pages_of

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}

# What each page offers a person who may change the project, by data-testid.
CONTROLS = {
    "flashcards/": ["card-add", "card-edit", "card-delete", "generate-form", "answer-form"],
    "review/": ["grade-3"],
    "timeline/": ["event-add", "event-edit", "event-delete", "timeline-generate-form"],
    "comparisons/": ["comparison-form"],
    "comparison": ["comparison-regenerate", "cell-edit"],
    "digests/": ["digest-form"],
    "digest": ["digest-edit", "digest-regenerate"],
}


def controls_for(url: str) -> list[str]:
    if "/comparisons/" in url and not url.endswith("/comparisons/"):
        return CONTROLS["comparison"]
    if "/digests/" in url and not url.endswith("/digests/"):
        return CONTROLS["digest"]
    return next((ids for tail, ids in CONTROLS.items() if url.split("?")[0].endswith(tail)), [])


def failed(job: StudyJob) -> None:
    StudyJob.objects.filter(pk=job.pk).update(
        status=StudyJob.Status.FAILED, error="The model crashed (signal 11)."
    )


@pytest.fixture
def with_answer(materials: dict[str, Any], project, user) -> dict[str, Any]:
    """A Q&A answer to make cards from, so the flashcards page has that form too."""
    answer_citing(project, user, [(materials["document"], 1)])
    return materials


def test_the_owner_is_offered_every_control_on_every_study_page(
    signed_in_client,
    project,
    with_answer,
) -> None:
    failed(with_answer["job"])
    for url in reading_pages_of(project, with_answer):
        page = signed_in_client.get(url).content.decode()
        for control in controls_for(url):
            assert f'data-testid="{control}"' in page, (url, control)
        assert 'data-testid="read-only"' not in page, url
    page = signed_in_client.get(f"/research/{project.pk}/flashcards/").content.decode()
    assert 'data-testid="job-retry"' in page and 'data-testid="job-discard"' in page


def test_a_viewer_sees_the_materials_but_no_control_that_would_change_them(
    client,
    project,
    with_answer,
    other_user,
) -> None:
    ProjectShare.objects.create(project=project, user=other_user, role=ProjectShare.Role.VIEWER)
    failed(with_answer["job"])
    client.force_login(other_user)
    refused = [url for url, _ in changes_of(project, with_answer)] + forms_of(project, with_answer)
    for url in reading_pages_of(project, with_answer):
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        for control in controls_for(url):
            assert f'data-testid="{control}"' not in page, (url, control)
        for target in refused:
            assert f'"{target}"' not in page, (url, target)  # no form or link to it
        assert 'data-testid="job-retry"' not in page and 'data-testid="job-discard"' not in page
    flashcards = client.get(f"/research/{project.pk}/flashcards/").content.decode()
    assert "What carves valleys?" in flashcards and 'data-testid="read-only"' in flashcards
    assert "The model crashed (signal 11)." in flashcards  # the job's outcome still shows
    review = client.get(f"/research/{project.pk}/review/").content.decode()
    assert 'data-testid="review-front"' in review and 'data-testid="review-read-only"' in review
    partial = client.get(f"/research/study/jobs/{with_answer['job'].pk}/", **HX).content.decode()
    assert "signal 11" in partial and 'data-testid="job-retry"' not in partial


def test_a_viewers_change_is_refused_with_carrels_own_403_page(
    client,
    project,
    materials,
    other_user,
) -> None:
    ProjectShare.objects.create(project=project, user=other_user, role=ProjectShare.Role.VIEWER)
    client.force_login(other_user)
    for url, data in changes_of(project, materials):
        response = client.post(url, data)
        assert response.status_code == 403, url
        assert b"You can read this project but not change it." in response.content, url
    for url in forms_of(project, materials):
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"<html" in response.content, url  # a styled page with a way back


def test_an_editor_is_offered_the_controls_and_a_viewer_through_a_group_is_not(
    client,
    project,
    other_user,
    django_user_model,
    rf,
) -> None:
    from django.contrib.auth.models import Group

    ProjectShare.objects.create(project=project, user=other_user, role=ProjectShare.Role.EDITOR)
    lab = Group.objects.create(name="Lab")
    student = django_user_model.objects.create_user(username="student", password="x" * 12)
    student.groups.add(lab)
    ProjectShare.objects.create(project=project, group=lab, role=ProjectShare.Role.VIEWER)
    for person, allowed in ((project.owner, True), (other_user, True), (student, False)):
        request = rf.get("/")
        request.user = person
        assert can_edit(request, project) is allowed, person
