"""Checks asked for by the model in a turn's check step (before the narration): rolled by
code with the campaign's seeded generator, recorded as events, the same on replay and in a
branch."""

from __future__ import annotations

import pytest

from stories.exchange import campaign_export_json
from stories.history import campaign_branch
from stories.models import Event
from stories.projection import load_state
from stories.replay import state_at
from stories.selectors import story_view, timeline_view
from stories.table.checks import roll_replayed
from stories.turns import turn_play

pytestmark = pytest.mark.django_db

LOCK = {
    "who": "Ada",
    "what": "pick the lock",
    "dice": "10d1000",  # many sides and dice: two unrelated rolls never match by chance
    "target": 5000,
    "why": "The tower door is locked.",
}


def _play(campaign, member, script, check, *changes):
    script.add("Ada kneels at the door and works the lock.", list(changes), check=check)
    return turn_play(campaign=campaign, member=member, action="I pick the lock.")


def test_a_check_in_a_turn_is_rolled_by_code_and_recorded_as_an_event(
    campaign, owner_member, script
):
    turn = _play(campaign, owner_member, script, LOCK)
    event = turn.events.get()
    assert event.kind == "check" and event.applied
    p = event.payload
    assert p["entity"] == campaign.numbers["Ada"] and p["dice"] == "10d1000"
    assert 10 <= p["total"] <= 10_000 and p["success"] == (p["total"] >= 5000)
    assert p["sequence"] == event.sequence
    assert p["detail"].endswith(f"= {p['total']}")
    # The world is unchanged by a roll, and the turn shows the result.
    assert load_state(campaign).as_dict() == state_at(campaign, 0).as_dict()
    shown = story_view(campaign=campaign, member=owner_member).turns[-1]
    assert shown.changes == [] and shown.check is not None
    assert "Ada checks pick the lock" in shown.check.text and str(p["total"]) in shown.check.text
    assert ("success" if p["success"] else "failure") in shown.check.text
    assert shown.check_success is p["success"]


def test_every_recorded_roll_is_what_the_campaign_seed_rolls_again(campaign, owner_member, script):
    _play(campaign, owner_member, script, LOCK)
    _play(campaign, owner_member, script, {**LOCK, "dice": "2d20kh1+3", "target": 12})
    _play(campaign, owner_member, script, LOCK)
    checks = list(Event.objects.filter(campaign=campaign, kind="check").order_by("sequence"))
    assert len(checks) == 3
    campaign.refresh_from_db()
    for event in checks:
        assert (
            roll_replayed(campaign_seed=campaign.dice_seed, payload=event.payload)
            == (event.payload["total"])
        )
    assert len({e.payload["detail"] for e in checks}) == 3  # each its own roll


def test_a_branch_replays_the_same_rolls_and_rolls_the_same_next(
    campaign, owner_member, script, other_user
):
    first = _play(campaign, owner_member, script, LOCK).events.get().payload
    second = _play(campaign, owner_member, script, LOCK).events.get().payload
    assert first["detail"] != second["detail"]
    campaign.members.create(user=other_user, role="editor")
    campaign.refresh_from_db()
    # Branched after turn 1: turn 1's roll is carried over as it was...
    branch = campaign_branch(campaign=campaign, user=other_user, at_turn=1)
    assert branch.dice_seed == campaign.dice_seed
    carried = Event.objects.get(campaign=branch, kind="check").payload
    assert carried == first
    # ...and the branch's own turn 2 rolls exactly what the original's turn 2 rolled.
    member = branch.members.select_related("user", "campaign").get(user=other_user)
    again = _play(branch, member, script, LOCK).events.get().payload
    assert again["total"] == second["total"] and again["detail"] == second["detail"]
    # An exported file keeps the rolls (the payloads) byte for byte.
    assert second["detail"] in campaign_export_json(campaign)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({**LOCK, "who": "Zed"}, "No character named 'Zed'"),
        ({**LOCK, "who": "Sword"}, "Sword is a item; only characters make checks"),
        ({**LOCK, "dice": "1000000d1000000"}, "At most 100 dice"),
        ({**LOCK, "dice": "99999d20"}, "At most 100 dice"),
        ({**LOCK, "dice": "1d0"}, "Dice have 1 to 1000 sides (0 asked)"),
        ({**LOCK, "dice": "pick it"}, "is not dice notation"),
    ],
)
def test_a_check_against_an_unknown_character_or_with_nonsense_dice_is_rejected(
    campaign, owner_member, script, change, reason
):
    turn = _play(campaign, owner_member, script, change, {"kind": "clock", "minutes": 5})
    assert turn.status == turn.Status.DONE and turn.narration  # the turn still narrates
    assert turn.check_step["verdict"]["reason"] == turn.events.order_by("sequence")[0].reason
    check, clock = turn.events.order_by("sequence")
    assert check.kind == "check" and not check.applied and reason in check.reason
    assert "total" not in check.payload
    assert clock.applied  # the rest of the turn's changes still apply
    [row] = [r for r in timeline_view(campaign=campaign, before_turn=None).rows if r.turn]
    assert any(reason in line.reason for line in row.changes)


def test_a_dead_character_makes_no_check(campaign, owner_member, script):
    died = _play(
        campaign, owner_member, script, None, {"kind": "death", "entity": "Ada", "cause": "a trap"}
    )
    assert died.events.get().applied
    turn = _play(campaign, owner_member, script, LOCK)
    check = turn.events.get()
    assert not check.applied and "dead" in check.reason
