"""State as of any turn, undo and branch: all must reproduce the world exactly."""

from __future__ import annotations

import pytest

from stories import services
from stories.history import HistoryProblem, campaign_branch, campaign_undo
from stories.models import Event, Snapshot, Turn
from stories.projection import load_state
from stories.replay import state_at
from stories.turns import turn_play

pytestmark = pytest.mark.django_db

SCRIPT = [
    ("Ada walks to the market.", [{"kind": "move", "entity": "Ada", "to": "Market"}]),
    (
        "Bram sells Ada his sword.",
        [
            {"kind": "transfer", "item": "Sword", "from_holder": "Bram", "to_holder": "Ada"},
            {
                "kind": "transfer",
                "item": "Gold coin",
                "quantity": 2,
                "from_holder": "Ada",
                "to_holder": "Bram",
            },
        ],
    ),
    (
        "They become friends.",
        [
            {
                "kind": "relationship",
                "source": "Bram",
                "target": "Ada",
                "relation": "trusts",
                "delta": 30,
            }
        ],
    ),
    (
        "A stranger arrives.",
        [{"kind": "create", "entity_kind": "character", "name": "Cora", "location": "Market"}],
    ),
    (
        "Ada climbs the tower.",
        [{"kind": "move", "entity": "Ada", "to": "Tower"}, {"kind": "clock", "minutes": 90}],
    ),
    (
        "Ada is hurt.",
        [
            {"kind": "stat", "entity": "Ada", "stat": "hp", "delta": -4},
            {"kind": "status", "entity": "Ada", "status": "wounded"},
        ],
    ),
    (
        "The crown is found.",
        [
            {
                "kind": "arc",
                "arc": "Find the crown",
                "status": "resolved",
                "note": "Found in the tower.",
            }
        ],
    ),
    ("Cora falls.", [{"kind": "death", "entity": "Cora", "cause": "a fall"}]),
]


@pytest.fixture
def played(campaign, owner_member, script, monkeypatch):
    """Eight turns played; the projected world recorded after each (index = turn)."""
    monkeypatch.setattr("stories.turns.SNAPSHOT_EVERY", 3)
    monkeypatch.setattr("stories.replay.SNAPSHOT_EVERY", 3)
    expected = [load_state(campaign).as_dict()]
    for narration, changes in SCRIPT:
        script.add(narration, changes)
        turn = turn_play(campaign=campaign, member=owner_member, action="I go on.")
        assert turn.status == Turn.Status.DONE, turn.error
        assert all(e.applied for e in turn.events.all())
        expected.append(load_state(campaign).as_dict())
    campaign.refresh_from_db()
    return expected


def test_the_state_as_of_every_turn_is_the_world_as_it_was_then(campaign, played):
    assert Snapshot.objects.filter(campaign=campaign).count() == 2  # turns 3 and 6
    for turn, world in enumerate(played):
        assert state_at(campaign, turn).as_dict() == world, turn
        assert state_at(campaign, turn, use_snapshots=False).as_dict() == world, turn


def test_undo_returns_the_world_to_an_earlier_turn_and_play_continues_from_there(
    campaign, owner_member, played, script
):
    undone = campaign_undo(campaign=campaign, member=owner_member, to_turn=5)
    assert undone == 3
    assert campaign.head_turn == 5
    assert load_state(campaign).as_dict() == played[5]
    assert Turn.objects.filter(campaign=campaign, undone=True).count() == 3
    assert not Event.objects.filter(campaign=campaign, undone=False, turn_number__gt=5).exists()
    assert not Snapshot.objects.filter(campaign=campaign, turn_number__gt=5).exists()

    script.add("Ada rests.", [{"kind": "clock", "minutes": 60}])
    turn = turn_play(campaign=campaign, member=owner_member, action="I rest.")
    assert turn.number == 6
    assert load_state(campaign).as_dict() == state_at(campaign, use_snapshots=False).as_dict()
    assert state_at(campaign, 5).as_dict() == played[5]


def test_undo_is_for_editors_and_needs_a_turn_in_range(campaign, owner_member, played, other_user):
    member = campaign.members.create(user=other_user, role="player")
    with pytest.raises(HistoryProblem):
        campaign_undo(campaign=campaign, member=member, to_turn=2)
    with pytest.raises(HistoryProblem):
        campaign_undo(campaign=campaign, member=owner_member, to_turn=8)


def test_a_branch_starts_with_the_world_exactly_as_it_was_at_that_turn(
    campaign, owner_member, played, other_user, script
):
    campaign.members.create(user=other_user, role="editor")  # branching needs edit rights
    branch = campaign_branch(campaign=campaign, user=other_user, at_turn=4)
    assert branch.owner == other_user and branch.head_turn == 4
    assert branch.branched_from == campaign and branch.branched_at_turn == 4
    assert load_state(branch).as_dict() == played[4]
    assert Turn.objects.filter(campaign=branch).count() == 4
    assert Snapshot.objects.filter(campaign=branch).count() == 1  # rebuilt at turn 3 (K=3)
    assert state_at(branch, 3).as_dict() == played[3]
    # The original is untouched, and the branch plays on by itself.
    assert load_state(campaign).as_dict() == played[8]
    script.add("In this telling Cora leaves.", [{"kind": "move", "entity": "Cora", "to": "Harbor"}])
    member = branch.members.select_related("user", "campaign").get(user=other_user)
    turn = turn_play(campaign=branch, member=member, action="Cora leaves.")
    assert turn.number == 5 and turn.events.get().applied


def test_hand_edits_belong_to_the_turn_they_follow(campaign, user, played):
    ada = campaign.numbers["Ada"]
    services.entity_edit(
        campaign=campaign, user=user, number=ada, values={"description": "Scarred."}
    )
    assert state_at(campaign, 8).entities[ada].description == "Scarred."
    assert state_at(campaign, 7).entities[ada].description == ""
