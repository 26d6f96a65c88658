"""Encounters as validated changes: initiative rolled by code, whose turn it is, rounds,
conditions; shown beside the story while the fight lasts, replayed and branched exactly."""

from __future__ import annotations

import pytest
from django.urls import reverse

from stories import services
from stories.cards import world_heading
from stories.context import pack_turn
from stories.history import campaign_branch
from stories.models import Campaign, Turn
from stories.projection import load_state
from stories.replay import state_at
from stories.turns import turn_play, turn_request

pytestmark = pytest.mark.django_db

START = {"kind": "encounter", "action": "start", "participants": ["Ada", "Bram", "Cutthroat"]}
NEXT = {"kind": "encounter", "action": "next"}


def _encounter(campaign) -> dict:
    encounter = load_state(campaign).encounter
    assert encounter is not None, "no encounter under way"
    return encounter


def _play(campaign, member, script, *changes):
    script.add("Blades are drawn.", list(changes))
    return turn_play(campaign=campaign, member=member, action="I fight.")


def test_an_encounter_rolls_initiative_and_keeps_whose_turn_and_the_round(
    campaign, owner_member, script, cutthroat
):
    turn = _play(campaign, owner_member, script, START)
    event = turn.events.get()
    assert event.applied, event.reason
    encounter = load_state(campaign).encounter
    assert encounter is not None and encounter["round"] == 1 and encounter["turn"] == 0
    order = encounter["order"]
    assert sorted(p["entity"] for p in order) == sorted(
        [campaign.numbers["Ada"], campaign.numbers["Bram"], cutthroat]
    )
    totals = [p["initiative"] for p in order]
    assert totals == sorted(totals, reverse=True)
    cut = next(p for p in order if p["entity"] == cutthroat)
    assert 5 <= cut["initiative"] <= 24 and cut["roll"].endswith(f"+ 4 = {cut['initiative']}")
    # Three turns pass: round 2, the first in the order acts again.
    _play(campaign, owner_member, script, NEXT, NEXT, NEXT)
    encounter = _encounter(campaign)
    assert encounter["round"] == 2 and encounter["turn"] == 0
    _play(campaign, owner_member, script, NEXT)
    assert _encounter(campaign)["turn"] == 1


def test_the_dungeon_master_is_told_the_fight_order_and_whose_turn_it_is(
    campaign, owner_member, script, cutthroat
):
    _play(
        campaign,
        owner_member,
        script,
        START,
        {"kind": "condition", "entity": "Cutthroat", "add": ["prone"]},
        NEXT,
    )
    encounter = _encounter(campaign)
    state = load_state(campaign)
    second = state.entities[encounter["order"][1]["entity"]].name
    heading = world_heading(state)
    assert "A fight is under way, round 1." in heading
    assert f"It is {second}'s turn." in heading
    assert "Cutthroat (hp 3; prone)" in heading
    # The next turn's prompt carries it.
    campaign.refresh_from_db()
    turn = Turn.objects.create(campaign=campaign, actor_label="Ada", action="I strike.")
    packed = pack_turn(
        turn_request(
            campaign=campaign, state=state, turn=turn, number=campaign.head_turn + 1, window=8192
        )
    )
    assert any(f"It is {second}'s turn." in m.content for m in packed.messages)


def test_the_fight_is_shown_beside_the_story_while_it_lasts(
    client, user, campaign, owner_member, script, cutthroat
):
    _play(
        campaign,
        owner_member,
        script,
        START,
        {"kind": "condition", "entity": "Cutthroat", "add": ["prone"]},
    )
    client.force_login(user)
    page = client.get(reverse("stories:campaign_detail", args=[campaign.pk])).content.decode()
    assert "Encounter: round 1" in page and "prone" in page and 'aria-current="true"' in page
    _play(campaign, owner_member, script, {"kind": "encounter", "action": "end"})
    page = client.get(reverse("stories:campaign_detail", args=[campaign.pk])).content.decode()
    assert "Encounter: round" not in page
    assert "The encounter ended after 1 rounds" in page  # in the event log after
    assert Campaign.objects.get(pk=campaign.pk).encounter is None
    # As of turn 1 the fight was on.
    state_page = client.get(reverse("stories:state_as_of", args=[campaign.pk]) + "?turn=1")
    assert "Encounter: round 1" in state_page.content.decode()


def test_a_knocked_out_or_dead_combatant_follows_the_rule_and_a_dead_one_is_skipped(
    campaign, owner_member, script, cutthroat
):
    campaign.zero_hp = "dead"
    campaign.save(update_fields=["zero_hp"])
    _play(campaign, owner_member, script, START)
    order = [p["entity"] for p in _encounter(campaign)["order"]]
    # Whoever acts second dies before their turn comes; their turn is skipped.
    second = order[1]
    victim = load_state(campaign).entities[second]
    if "hp" not in victim.stats:
        services.entity_edit(
            campaign=campaign, user=owner_member.user, number=second, values={"stats": {"hp": 5}}
        )
        victim = load_state(campaign).entities[second]
    _play(
        campaign,
        owner_member,
        script,
        {"kind": "damage", "entity": victim.name, "amount": 50},
        NEXT,
    )
    state = load_state(campaign)
    assert state.entities[second].status == "dead"
    assert _encounter(campaign)["turn"] == 2


def test_an_encounter_replays_and_branches_exactly(
    campaign, owner_member, script, cutthroat, other_user
):
    _play(campaign, owner_member, script, START)
    _play(campaign, owner_member, script, NEXT)
    after_two = load_state(campaign).as_dict()
    assert state_at(campaign).as_dict() == after_two
    assert state_at(campaign, use_snapshots=False).as_dict() == after_two
    campaign.members.create(user=other_user, role="editor")
    campaign.refresh_from_db()
    branch = campaign_branch(campaign=campaign, user=other_user, at_turn=1)
    assert load_state(branch).encounter == state_at(campaign, 1).encounter
    # The branch re-fights turn 1 from the start: the same initiative rolls.
    again = campaign_branch(campaign=campaign, user=other_user, at_turn=0)
    member = again.members.select_related("user", "campaign").get(user=other_user)
    _play(again, member, script, START)
    assert load_state(again).encounter == state_at(campaign, 1).encounter


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (NEXT, "no encounter under way"),
        ({**START, "participants": ["Ada", "Zed"]}, "No character named 'Zed'"),
        ({**START, "participants": ["Ada", "Sword"]}, "only characters fight"),
        ({**START, "participants": ["Ada"]}, "at least two participants"),
        ({"kind": "condition", "entity": "Ada", "add": ["prone"]}, "none is under way"),
    ],
)
def test_impossible_encounter_changes_are_rejected_with_a_reason(
    campaign, owner_member, script, change, reason
):
    turn = _play(campaign, owner_member, script, change)
    event = turn.events.get()
    assert not event.applied and reason in event.reason
    assert load_state(campaign).encounter is None
