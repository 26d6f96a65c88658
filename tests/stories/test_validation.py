"""Validation of proposed changes against a world held in memory (no database)."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from stories.state import WorldState, apply_event
from stories.validation import validate_and_apply, validate_change
from stories.world import Change, ChangeSet

CHANGE = TypeAdapter(Change)


def change(**fields):
    return CHANGE.validate_python(fields)


@pytest.fixture
def state() -> WorldState:
    s = WorldState()
    for number, (kind, name) in enumerate(
        [
            ("location", "Harbor"),
            ("location", "Market"),
            ("character", "Ada"),
            ("character", "Bram"),
            ("item", "Gold coin"),
            ("quest", "Find the crown"),
        ],
        start=1,
    ):
        apply_event(s, "create", {"number": number, "entity_kind": kind, "name": name}, 0)
    apply_event(s, "move", {"entity": 3, "from": None, "to": 1}, 0)
    apply_event(s, "transfer", {"item": 5, "quantity": 3, "from": None, "to": 3}, 0)
    return s


def test_giving_more_than_the_holder_has_is_rejected_with_the_amount_held(state):
    verdict = validate_change(
        state,
        change(kind="transfer", item="Gold coin", quantity=4, from_holder="Ada", to_holder="Bram"),
    )
    assert not verdict.accepted
    assert "Ada holds 3 Gold coin" in verdict.reason
    assert state.holdings[(3, 5)] == 3


def test_a_move_to_an_unknown_place_is_rejected(state):
    verdict = validate_change(state, change(kind="move", entity="Ada", to="Atlantis"))
    assert not verdict.accepted
    assert "Atlantis" in verdict.reason


def test_changes_to_entities_that_do_not_exist_are_rejected(state):
    for proposed in (
        change(kind="stat", entity="Zed", stat="hp", delta=-2),
        change(kind="death", entity="Zed"),
        change(kind="relationship", source="Ada", target="Zed", relation="trusts", delta=5),
        change(kind="arc", arc="Nonexistent quest", status="resolved"),
    ):
        verdict = validate_change(state, proposed)
        assert not verdict.accepted, proposed
        assert "Zed" in verdict.reason or "Nonexistent" in verdict.reason


def test_a_move_must_go_to_a_place_and_the_dead_do_not_walk(state):
    assert not validate_change(state, change(kind="move", entity="Ada", to="Bram")).accepted
    validate_and_apply(state, [change(kind="death", entity="Bram", cause="a fall")], turn=1)
    verdict = validate_change(state, change(kind="move", entity="Bram", to="Market"))
    assert not verdict.accepted and "dead" in verdict.reason
    assert not validate_change(state, change(kind="death", entity="Bram")).accepted


def test_changes_in_a_set_see_the_earlier_ones(state):
    verdicts = validate_and_apply(
        state,
        [
            change(kind="create", entity_kind="item", name="Lantern"),
            change(kind="transfer", item="Lantern", to_holder="Ada"),
            change(
                kind="transfer", item="Gold coin", quantity=3, from_holder="Ada", to_holder="Bram"
            ),
            change(
                kind="transfer", item="Gold coin", quantity=1, from_holder="Ada", to_holder="Bram"
            ),
        ],
        turn=1,
    )
    assert [v.accepted for v in verdicts] == [True, True, True, False]
    lantern = state.find("lantern")
    assert lantern is not None
    assert state.holdings == {(3, lantern): 1, (4, 5): 3}


def test_relationship_strength_is_resolved_and_clamped(state):
    verdicts = validate_and_apply(
        state,
        [
            change(kind="relationship", source="Ada", target="Bram", relation="Trusts", delta=80),
            change(kind="relationship", source="Ada", target="Bram", relation="trusts", delta=60),
        ],
        turn=2,
    )
    assert [v.payload["strength"] for v in verdicts] == [80, 100]
    assert state.relationships[(3, 4, "trusts")].strength == 100


def test_a_new_entity_may_not_take_an_existing_name_and_names_ignore_case(state):
    verdict = validate_change(state, change(kind="create", entity_kind="character", name="  ada "))
    assert not verdict.accepted and "already exists" in verdict.reason
    assert validate_change(state, change(kind="move", entity="ADA", to="market")).accepted


def test_the_change_schema_refuses_unknown_kinds_and_bad_quantities():
    with pytest.raises(ValidationError):
        ChangeSet.model_validate({"changes": [{"kind": "teleport", "entity": "Ada"}]})
    with pytest.raises(ValidationError):
        ChangeSet.model_validate(
            {
                "changes": [
                    {"kind": "transfer", "item": "Gold coin", "quantity": 0, "to_holder": "Ada"}
                ]
            }
        )
    schema = ChangeSet.model_json_schema()
    assert "discriminator" in str(schema)


def test_the_canonical_form_survives_a_round_trip(state):
    validate_and_apply(
        state,
        [
            change(
                kind="relationship",
                source="Ada",
                target="Bram",
                relation="owes",
                delta=-20,
                note="debt",
            ),
            change(kind="connect", a="Harbor", b="Market"),
            change(kind="clock", minutes=95),
            change(kind="arc", arc="Find the crown", note="A map surfaced."),
        ],
        turn=3,
    )
    assert WorldState.from_dict(state.as_dict()).as_dict() == state.as_dict()
