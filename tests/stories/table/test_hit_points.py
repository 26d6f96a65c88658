"""Damage and healing as validated changes on the `hp` stat; a character brought to 0
follows the campaign's rule (unconscious or dead)."""

from __future__ import annotations

import pytest

from stories.projection import load_state
from stories.replay import state_at
from stories.turns import turn_play

pytestmark = pytest.mark.django_db


def _play(campaign, member, script, *changes):
    script.add("Steel rings in the harbor.", list(changes))
    return turn_play(campaign=campaign, member=member, action="I fight.")


def test_damage_lowers_hit_points_and_healing_raises_them(campaign, owner_member, script):
    ada = campaign.numbers["Ada"]
    turn = _play(
        campaign,
        owner_member,
        script,
        {"kind": "damage", "entity": "Ada", "amount": 4, "cause": "a cutlass"},
        {"kind": "heal", "entity": "Ada", "amount": 1},
    )
    damage, heal = turn.events.order_by("sequence")
    assert damage.applied and damage.payload["hp_before"] == 10 and damage.payload["hp"] == 6
    assert heal.applied and heal.payload["hp"] == 7
    assert load_state(campaign).entities[ada].stats["hp"] == 7
    assert load_state(campaign).entities[ada].status == "alive"


def test_at_zero_hit_points_a_character_falls_unconscious_by_default_and_healing_wakes_them(
    campaign, owner_member, script
):
    ada = campaign.numbers["Ada"]
    _play(campaign, owner_member, script, {"kind": "damage", "entity": "Ada", "amount": 25})
    after = load_state(campaign).entities[ada]
    assert after.stats["hp"] == 0 and after.status == "unconscious"  # never below 0
    _play(campaign, owner_member, script, {"kind": "heal", "entity": "Ada", "amount": 3})
    assert load_state(campaign).entities[ada].status == "alive"
    assert state_at(campaign, 1).entities[ada].status == "unconscious"  # replay agrees


def test_under_the_deadly_rule_a_character_at_zero_dies(campaign, owner_member, script):
    campaign.zero_hp = "dead"
    campaign.save(update_fields=["zero_hp"])
    ada = campaign.numbers["Ada"]
    _play(campaign, owner_member, script, {"kind": "damage", "entity": "Ada", "amount": 10})
    assert load_state(campaign).entities[ada].status == "dead"
    turn = _play(campaign, owner_member, script, {"kind": "heal", "entity": "Ada", "amount": 5})
    assert not turn.events.get().applied and "dead" in turn.events.get().reason


@pytest.mark.parametrize(
    ("entity", "reason"),
    [("Zed", "No entity named 'Zed'"), ("Bram", "Bram has no hit points")],
)
def test_damage_to_an_unknown_entity_or_one_without_hit_points_is_rejected(
    campaign, owner_member, script, entity, reason
):
    turn = _play(campaign, owner_member, script, {"kind": "damage", "entity": entity, "amount": 2})
    event = turn.events.get()
    assert not event.applied and reason in event.reason
