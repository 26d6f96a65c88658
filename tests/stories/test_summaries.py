"""Long campaigns: older turns folded into summaries, the prompt always within the window."""

from __future__ import annotations

import time

import pytest

from stories.context import count_piece
from stories.history import campaign_undo
from stories.models import Campaign, Summary, Turn
from stories.scripting import StoryScript
from stories.summaries import TRIGGER_SHARE, prompt_budget, summaries_refresh, unsummarized_tokens
from stories.tasks import summarize_campaign
from stories.turns import turn_play
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime

WINDOW = 6000
LONG = "The tide rolls in and the gulls wheel over the quay while Ada keeps watch. " * 10


@pytest.fixture
def long_story(campaign, owner_member):
    story = StoryScript()
    story.other_reply = "SUMMARY: Ada kept watch at the harbor for many nights."
    runtime = ScriptedRuntime(story, context_window=WINDOW)
    with use_runtime(runtime):
        for n in range(1, 26):
            story.add(f"Night {n}. {LONG}", [{"kind": "clock", "minutes": 60}])
            turn = turn_play(
                campaign=campaign, member=owner_member, action=f"I keep watch, night {n}."
            )
            assert turn.status == Turn.Status.DONE, turn.error
            assert turn.prompt_tokens + turn.context_map["reserve"] <= WINDOW
        campaign.refresh_from_db()
        yield story


@pytest.mark.django_db
def test_old_turns_are_summarized_and_the_next_prompt_uses_the_summary(
    campaign, owner_member, long_story
):
    budget = prompt_budget(WINDOW)
    assert unsummarized_tokens(campaign) > budget * TRIGGER_SHARE
    made = summaries_refresh(campaign_id=campaign.pk)
    assert made >= 1
    campaign.refresh_from_db()
    summaries = list(
        Summary.objects.filter(campaign=campaign, superseded_by=None).order_by("first_turn")
    )
    assert summaries[0].first_turn == 1
    assert summaries[-1].last_turn == campaign.summarized_through > 0
    assert unsummarized_tokens(campaign) <= budget * TRIGGER_SHARE
    assert (
        Turn.objects.filter(campaign=campaign, status="done").count() == 25
    )  # verbatim turns stay
    # The scribe saw the turns it summarized.
    assert "Night 1." in long_story.other_calls[0][-1].content

    long_story.add("Dawn.", [])
    turn = turn_play(campaign=campaign, member=owner_member, action="I go home.")
    sections = {s["name"]: s for s in turn.context_map["sections"]}
    assert sections["summaries"]["included"]
    assert sections["turns"]["summarized"][0][0] == 1
    from workspace.runtime import get_runtime

    world = get_runtime().calls[-2][1].content  # type: ignore[attr-defined]
    assert "SUMMARY: Ada kept watch" in world


@pytest.mark.django_db
def test_without_summaries_old_turns_are_dropped_and_the_map_says_so(
    campaign, owner_member, long_story
):
    long_story.add("Dawn.", [])
    turn = turn_play(campaign=campaign, member=owner_member, action="I go home.")
    turns = {s["name"]: s for s in turn.context_map["sections"]}["turns"]
    assert turns["dropped"] and turns["dropped"][0][0] == 1
    assert turns["verbatim"][-1][1] == 25
    assert turn.prompt_tokens + turn.context_map["reserve"] <= WINDOW


@pytest.mark.django_db
def test_a_turn_near_the_edge_queues_the_summarizer_once(
    campaign, owner_member, long_story, django_capture_on_commit_callbacks
):
    Campaign.objects.filter(pk=campaign.pk).update(summarizing_since=None)
    long_story.add("Dawn.", [])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        turn_play(campaign=campaign, member=owner_member, action="I go home.")
    assert len(callbacks) == 1
    campaign.refresh_from_db()
    assert campaign.summarizing_since is not None
    long_story.add("Noon.", [])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        turn_play(campaign=campaign, member=owner_member, action="I eat.")
    assert callbacks == []  # already queued


@pytest.mark.django_db
def test_undo_forgets_summaries_that_reach_past_the_turn(campaign, owner_member, long_story):
    summaries_refresh(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    through = campaign.summarized_through
    campaign_undo(campaign=campaign, member=owner_member, to_turn=through - 1)
    campaign.refresh_from_db()
    assert not Summary.objects.filter(campaign=campaign, last_turn__gt=through - 1).exists()
    assert campaign.summarized_through < through


@pytest.mark.django_db
def test_summaries_are_merged_into_an_arc_summary_when_they_grow(
    campaign, owner_member, long_story, monkeypatch
):
    summaries_refresh(campaign_id=campaign.pk)
    for n in range(26, 41):
        long_story.add(f"Night {n}. {LONG}", [])
        turn_play(campaign=campaign, member=owner_member, action=f"I keep watch, night {n}.")
    monkeypatch.setattr("stories.summaries.MERGE_SHARE", 0.0)
    summaries_refresh(campaign_id=campaign.pk)
    sessions = list(
        Summary.objects.filter(campaign=campaign, kind="session").order_by("first_turn")
    )
    arc = Summary.objects.get(campaign=campaign, kind="arc", superseded_by=None)
    assert len(sessions) >= 2
    assert all(s.superseded_by_id == arc.pk for s in sessions)
    assert (arc.first_turn, arc.last_turn) == (1, sessions[-1].last_turn)
    assert "consecutive session summaries" in long_story.other_calls[-1][0].content


@pytest.mark.django_db
def test_the_task_retries_a_server_error_and_always_releases_the_campaign(
    campaign, long_story, ollama
):
    ollama.error = (500, "out of memory")
    summarize_campaign.apply(args=(campaign.pk,))
    assert len(ollama.chat_requests()) == 1 + summarize_campaign.model_max_retries
    campaign.refresh_from_db()
    assert campaign.summarizing_since is None and not campaign.summaries.exists()


@pytest.mark.django_db
def test_the_task_does_not_retry_an_error_retrying_cannot_fix(campaign, long_story, ollama):
    ollama.error = (400, "invalid option: num_ctx")
    summarize_campaign.apply(args=(campaign.pk,))
    assert len(ollama.chat_requests()) == 1
    campaign.refresh_from_db()
    assert campaign.summarizing_since is None and not campaign.summaries.exists()


@pytest.mark.slow
@pytest.mark.worker
def test_a_real_worker_summarizes_a_long_campaign(celery_worker_factory, user):
    """The Celery task in a real worker process (its scripted model has a 128k window)."""
    from stories import services
    from stories.tasks import summarize_campaign

    campaign = services.campaign_create(owner=user, title="Long watch")
    narration = "word " * 400
    action_tokens = count_piece("user", "ada: I watch.")
    narration_tokens = count_piece("assistant", narration)
    Turn.objects.bulk_create(
        Turn(
            campaign=campaign,
            number=n,
            status="done",
            actor_label="ada",
            action="I watch.",
            narration=narration,
            action_tokens=action_tokens,
            narration_tokens=narration_tokens,
        )
        for n in range(1, 201)
    )
    Campaign.objects.filter(pk=campaign.pk).update(head_turn=200)
    celery_worker_factory()
    summarize_campaign.delay(campaign.pk)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not Summary.objects.filter(campaign=campaign).exists():
        time.sleep(0.5)
    summary = Summary.objects.filter(campaign=campaign).first()
    assert summary is not None and summary.first_turn == 1
    assert summary.text.startswith("Scripted answer to:")
    campaign.refresh_from_db()
    assert campaign.summarized_through == summary.last_turn
