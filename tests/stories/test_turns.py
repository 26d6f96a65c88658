"""The turn loop with a scripted dungeon master: narration, changes, validation, events."""

from __future__ import annotations

import pytest

from stories.models import Event, Turn
from stories.projection import load_state
from stories.replay import state_at
from stories.scripting import StoryScript
from stories.turns import CHANGE_ATTEMPTS, turn_play, turn_run, turn_submit
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime
from workspace.runtime.tokenizer import get_tokenizer

pytestmark = pytest.mark.django_db


def test_a_turn_narrates_applies_valid_changes_and_records_rejected_ones(
    campaign, owner_member, script
):
    n = campaign.numbers
    script.add(
        "Ada walks up to the market and pays Bram for his sword.",
        [
            {"kind": "move", "entity": "Ada", "to": "Market"},
            {
                "kind": "transfer",
                "item": "Gold coin",
                "quantity": 2,
                "from_holder": "Ada",
                "to_holder": "Bram",
            },
            {
                "kind": "transfer",
                "item": "Sword",
                "quantity": 1,
                "from_holder": "Bram",
                "to_holder": "Ada",
            },
            {
                "kind": "transfer",
                "item": "Gold coin",
                "quantity": 9,
                "from_holder": "Ada",
                "to_holder": "Bram",
            },
            {"kind": "move", "entity": "Bram", "to": "Atlantis"},
            {"kind": "stat", "entity": "Nobody", "stat": "hp", "delta": -1},
            {"kind": "clock", "minutes": 45},
        ],
    )
    turn = turn_play(campaign=campaign, member=owner_member, action="I buy Bram's sword.")

    assert turn.status == Turn.Status.DONE and turn.number == 1
    assert turn.narration.startswith("Ada walks up")
    events = list(turn.events.order_by("sequence"))
    assert [e.applied for e in events] == [True, True, True, False, False, False, True]
    reasons = [e.reason for e in events if not e.applied]
    assert "Ada holds 3 Gold coin" in reasons[0]
    assert "Atlantis" in reasons[1]
    assert "Nobody" in reasons[2]
    state = load_state(campaign)
    assert state.entities[n["Ada"]].location == n["Market"]
    assert state.holdings == {
        (n["Ada"], n["Gold coin"]): 3,
        (n["Bram"], n["Gold coin"]): 2,
        (n["Ada"], n["Sword"]): 1,
    }
    campaign.refresh_from_db()
    assert campaign.head_turn == 1 and campaign.clock_minutes == 45
    assert state.as_dict() == state_at(campaign, use_snapshots=False).as_dict()


def test_the_prompt_puts_rules_first_and_the_action_last_and_its_count_is_exact(
    campaign, owner_member, script
):
    script.add("The gulls cry.", [])
    script.add("Bram waves.", [])
    turn_play(campaign=campaign, member=owner_member, action="I listen to the harbor.")
    second = turn_play(campaign=campaign, member=owner_member, action="I wave at Bram.")
    from workspace.runtime import get_runtime

    # Each turn: the check step, the narration, the state changes.
    narration_prompt = get_runtime().calls[4]  # type: ignore[attr-defined]
    assert narration_prompt[0].role == "system" and "No magic." in narration_prompt[0].content
    assert "[character] Ada" in narration_prompt[1].content
    assert narration_prompt[-1].content.endswith("I wave at Bram.")
    assert narration_prompt[-2].content == "The gulls cry."  # the previous turn, verbatim
    assert second.prompt_tokens == get_tokenizer().count_messages(narration_prompt)
    assert second.context_map["prompt_tokens"] == second.prompt_tokens
    assert second.prompt_tokens + second.context_map["reserve"] <= second.context_window


def test_invalid_change_json_is_retried_then_applied(campaign, owner_member, script):
    script.add(
        "Ada pockets a coin she finds.",
        raw_answers=[
            "Sure! Here are the changes: move Ada",
            '{"changes": [{"kind": "teleport"}]}',
            '{"changes": [{"kind": "transfer", "item": "Gold coin", "to_holder": "Ada"}]}',
        ],
    )
    turn = turn_play(campaign=campaign, member=owner_member, action="I search the docks.")
    assert turn.changes_error == ""
    assert script.change_calls == 3
    assert (
        load_state(campaign).holdings[(campaign.numbers["Ada"], campaign.numbers["Gold coin"])] == 6
    )


def test_invalid_change_json_after_all_attempts_keeps_the_narration_and_says_so(
    campaign, owner_member, script
):
    script.add("Ada dances.", raw_answers=["not json"] * CHANGE_ATTEMPTS)
    before = load_state(campaign).as_dict()
    turn = turn_play(campaign=campaign, member=owner_member, action="I dance.")
    assert turn.status == Turn.Status.DONE and turn.number == 1
    assert turn.narration == "Ada dances."
    assert f"after {CHANGE_ATTEMPTS} attempts" in turn.changes_error
    assert turn.changes_raw == "not json"
    assert load_state(campaign).as_dict() == before


def test_a_failed_narration_loses_its_number_and_the_next_turn_takes_it(
    campaign, owner_member, settings
):
    settings.CARREL_BACKEND = "ollama"  # the test environment's Ollama host is dead
    from workspace.runtime.select import reset_runtime_cache

    reset_runtime_cache()
    try:
        failed = turn_play(campaign=campaign, member=owner_member, action="I shout.")
    finally:
        reset_runtime_cache()
    assert failed.status == Turn.Status.FAILED and failed.number is None
    assert failed.error
    story = StoryScript()
    story.add("Nobody answers.", [])
    with use_runtime(ScriptedRuntime(story, context_window=8192)):
        retried = turn_play(campaign=campaign, member=owner_member, action="I shout again.")
    assert retried.number == 1 and retried.status == Turn.Status.DONE


def test_a_turn_interrupted_mid_stream_is_marked_failed(campaign, owner_member, script):
    script.add("A long story " * 20, [])
    turn = turn_submit(campaign=campaign, member=owner_member, action="I wait.")
    stream = turn_run(turn_id=turn.pk)
    kinds = []
    for update in stream:
        kinds.append(update.kind)
        if update.kind == "text":
            break
    stream.close()  # the page was closed
    turn.refresh_from_db()
    assert turn.status == Turn.Status.FAILED and "interrupted" in turn.error
    campaign.refresh_from_db()
    assert campaign.head_turn == 0 and campaign.lease_token == ""
    assert not Event.objects.filter(turn=turn).exists()


def test_an_action_too_long_for_the_window_fails_clearly(campaign, owner_member):
    story = StoryScript()
    with use_runtime(ScriptedRuntime(story, context_window=3000)):
        turn = turn_play(campaign=campaign, member=owner_member, action="run " * 2000)
    assert turn.status == Turn.Status.FAILED
    assert "window" in turn.error
