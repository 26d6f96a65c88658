"""A turn's check step: before the narration the model is asked whether the action needs a
check; code validates and rolls it, the narrator is told the result as a fixed fact, the roll
is the turn's first event, and replay, branches and a retried turn all keep that roll."""

from __future__ import annotations

import pytest

from stories import prompts
from stories.history import campaign_branch
from stories.models import Campaign, Event, Turn
from stories.replay import state_at
from stories.table.checks import CHECK_AFTER_NARRATION, roll_replayed
from stories.table.dice import dice_roll, roll_seed
from stories.turns import turn_complete, turn_retry, turn_run, turn_submit
from tests.stories.table.test_checks import LOCK  # 10d1000: two rolls never match by chance
from tests.stories.views.pages import url
from workspace.runtime import get_runtime
from workspace.runtime.tokenizer import get_tokenizer

pytestmark = pytest.mark.django_db

ACTION = "I pick the lock."


def _play(campaign, member, script, check=LOCK, changes=None, narration="Ada works the lock."):
    script.add(narration, changes or [], check=check)
    turn = turn_submit(campaign=campaign, member=member, action=ACTION)
    kinds = [update.kind for update in turn_run(turn_id=turn.pk)]
    turn.refresh_from_db()
    return turn, kinds


def _prompts(marker: str) -> list[list]:
    """The calls the scripted model answered whose last message ends with `marker`."""
    calls = get_runtime().calls  # type: ignore[attr-defined]
    return [c for c in calls if c[-1].content.endswith(marker)]


def _fact(payload: dict) -> str:
    verdict = "success" if payload["success"] else "failure"
    return (
        f"The dice have spoken: Ada tried to pick the lock: {payload['dice']} = "
        f"{payload['total']} against {payload['target']}: {verdict}."
    )


def test_the_narrator_is_told_the_rolled_result_before_it_narrates(campaign, owner_member, script):
    turn, kinds = _play(campaign, owner_member, script)
    assert turn.status == Turn.Status.DONE
    payload = turn.events.get(kind="check").payload
    # The check step asked first, with the action; then the narration, told the roll.
    check_call, narration_call, changes_call = get_runtime().calls  # type: ignore[attr-defined]
    assert check_call[-1].content.endswith(prompts.CHECK)
    assert check_call[-1].content.startswith(f"Ada (played by {owner_member.user.username})")
    told = narration_call[-1].content
    assert told.startswith(check_call[-1].content.removesuffix(prompts.CHECK).rstrip())
    assert _fact(payload) in told and "narrate the attempt as the success or failure" in told
    assert changes_call[-1].content == prompts.CHANGES
    assert changes_call[-3].content == told  # the changes are worked out from the same facts
    # The live stream says the roll before the narration starts.
    assert kinds.index("checking") < kinds.index("check") < kinds.index("started")
    assert kinds.index("started") < kinds.index("text")
    # The prompt's count includes the fact, exactly.
    assert turn.prompt_tokens == get_tokenizer().count_messages(narration_call)
    assert turn.context_map["prompt_tokens"] == turn.prompt_tokens


def test_the_roll_is_the_turns_first_event_and_comes_from_the_campaigns_seed(
    campaign, owner_member, script
):
    before = Campaign.objects.get(pk=campaign.pk).last_sequence
    turn, _ = _play(campaign, owner_member, script, changes=[{"kind": "clock", "minutes": 5}])
    check, clock = turn.events.order_by("sequence")
    assert check.kind == "check" and check.applied and clock.applied
    assert check.sequence == before + 1 == check.payload["sequence"]
    seed = roll_seed(campaign_seed=campaign.dice_seed, sequence=check.sequence)
    assert dice_roll("10d1000", seed=seed).total == check.payload["total"]
    assert check.payload == turn.check_step["verdict"]["payload"]  # kept on the turn from the roll
    assert check.proposed == {"kind": "check", **LOCK}


def test_replay_and_a_branch_give_the_same_rolls(campaign, owner_member, script, other_user):
    turn_one = _play(campaign, owner_member, script)[0]
    first = turn_one.events.get().payload
    second = _play(campaign, owner_member, script)[0].events.get().payload
    assert first["detail"] != second["detail"]
    campaign.refresh_from_db()
    assert state_at(campaign, use_snapshots=False).as_dict() == state_at(campaign).as_dict()
    for event in Event.objects.filter(campaign=campaign, kind="check"):
        assert (
            roll_replayed(campaign_seed=campaign.dice_seed, payload=event.payload)
            == (event.payload["total"])
        )
    campaign.members.create(user=other_user, role="editor")
    branch = campaign_branch(campaign=campaign, user=other_user, at_turn=1)
    assert Event.objects.get(campaign=branch, kind="check").payload == first
    assert Turn.objects.get(campaign=branch, number=1).check_step == turn_one.check_step
    member = branch.members.select_related("user", "campaign").get(user=other_user)
    again = _play(branch, member, script)[0].events.get().payload
    assert again == second  # the branch's turn 2 rolls what the original's turn 2 rolled


def test_a_retried_narration_keeps_the_roll_and_rolls_nothing_new(campaign, owner_member, script):
    failed, kinds = _play(campaign, owner_member, script, narration="")  # no narration
    assert failed.status == Turn.Status.FAILED and "check" in kinds
    rolled = failed.check_step["verdict"]["payload"]
    assert not failed.events.exists()
    # The retry is told the same roll; the model is not asked again and no dice are rolled.
    script.add("Ada tries the lock once more.", [], check={**LOCK, "dice": "1d4"})
    checks_asked = script.check_calls
    retried = turn_complete(turn=turn_retry(turn=failed))
    assert retried.status == Turn.Status.DONE and retried.number == 1
    assert script.check_calls == checks_asked
    narration_call = _prompts("narrate the attempt as the success or failure it is.")[-1]
    assert _fact(rolled) in narration_call[-1].content
    [check] = Event.objects.filter(campaign=campaign, kind="check")
    assert check.turn_id == retried.pk and check.payload == rolled


def test_a_stuck_turns_retry_keeps_its_roll(campaign, owner_member, script):
    from tests.stories.turns.test_stuck_turns import crashed_turn

    stuck = crashed_turn(campaign, owner_member.user)
    rolled = {  # rolled before its worker died (seeded with the sequence it had then)
        **{"entity": campaign.numbers["Ada"], "what": "pick the lock", "dice": "1d20"},
        **{"target": 15, "why": "", "total": 17, "detail": "1d20 (17) = 17"},
        **{"success": True, "sequence": 99, "public": True},
    }
    verdict = {"kind": "check", "payload": rolled, "accepted": True, "reason": "", "proposed": {}}
    Turn.objects.filter(pk=stuck.pk).update(check_step={"verdict": verdict})
    stuck.refresh_from_db()
    script.add("The lock clicks open.", [])
    retried = turn_complete(turn=turn_retry(turn=stuck))
    assert retried.status == Turn.Status.DONE and script.check_calls == 0
    assert retried.events.get().payload == rolled


@pytest.mark.parametrize(
    ("check", "reason"),
    [
        ({**LOCK, "who": "Zed"}, "No character named 'Zed'"),
        ({**LOCK, "dice": "1d0"}, "Dice have 1 to 1000 sides"),
        ({**LOCK, "dice": "99999d20"}, "At most 100 dice"),
    ],
)
def test_an_invalid_check_is_refused_with_its_reason_and_the_turn_still_narrates(
    campaign, owner_member, script, check, reason
):
    turn, kinds = _play(campaign, owner_member, script, check=check)
    assert turn.status == Turn.Status.DONE and turn.narration == "Ada works the lock."
    assert "check" not in kinds
    event = turn.events.get()
    assert event.kind == "check" and not event.applied and reason in event.reason
    [narration_call] = _prompts(ACTION)
    assert "dice have spoken" not in narration_call[-1].content


def test_a_check_answer_that_is_not_json_gives_no_roll_and_the_turn_goes_on(
    campaign, owner_member, script
):
    script.add("Ada works the lock.", [])
    script.turns[-1].check_raw = "Yes, roll for it!"
    turn = turn_complete(turn=turn_submit(campaign=campaign, member=owner_member, action=ACTION))
    assert turn.status == Turn.Status.DONE and "not a valid check" in turn.check_step["error"]
    assert not turn.events.exists()


def test_a_turn_with_no_check_rolls_nothing(campaign, owner_member, script):
    turn, kinds = _play(campaign, owner_member, script, check=None)
    assert turn.status == Turn.Status.DONE and turn.check_step == {}
    assert "check" not in kinds and script.check_calls == 1
    assert not Event.objects.filter(campaign=campaign, kind__in=["check", "roll"]).exists()
    [narration_call] = _prompts(ACTION)
    assert narration_call[-1].content.endswith(ACTION)  # the action alone, no dice


def test_a_check_listed_with_the_changes_after_the_narration_is_not_rolled(
    campaign, owner_member, script
):
    turn, _ = _play(campaign, owner_member, script, check=None, changes=[{"kind": "check", **LOCK}])
    event = turn.events.get()
    assert not event.applied and event.reason == CHECK_AFTER_NARRATION
    assert "total" not in event.payload


def test_the_story_page_shows_the_check_on_its_turn(
    signed_in_client, campaign, owner_member, script
):
    turn, _ = _play(campaign, owner_member, script)
    payload = turn.events.get().payload
    page = signed_in_client.get(url("campaign_detail", campaign.pk)).content.decode()
    start = page.index('data-testid="turn-check"')
    shown = page[start : page.index("</p>", start)]
    assert "Ada checks pick the lock" in shown and f"against {payload['target']}" in shown
    assert payload["detail"] in shown
    assert ("Success" if payload["success"] else "Failure") in shown
    assert page.index('data-testid="turn-check"') < page.index("Ada works the lock.")


def test_a_failed_turn_shows_the_roll_its_retry_will_keep(
    signed_in_client, campaign, owner_member, script
):
    failed, _ = _play(campaign, owner_member, script, narration="")
    page = signed_in_client.get(url("campaign_detail", campaign.pk)).content.decode()
    assert "This turn failed" in page and 'data-testid="turn-check"' in page
    assert "Trying again keeps this roll." in page
    assert failed.check_step["verdict"]["payload"]["detail"] in page
