"""Encounters: participants in initiative order, whose turn it is, the round, conditions.

The encounter is part of the world state (`WorldState.encounter`, projected to
`Campaign.encounter`), so it replays, branches and is shown "as of" any turn like the rest.
Each `encounter` or `condition` event's payload carries the whole encounter after it
(`after`: None once it has ended), so applying one is a plain assignment. Initiative is
rolled by code at the start (1d20 plus the participant's `initiative` stat), each
participant's roll seeded from the start event's seed and their place in the list;
ties go to the higher bonus, then the earlier entity. Hit points are the `hp` stat
(stories.table.checks.hit_points_resolve); a dead participant's turn is skipped.
"""

from __future__ import annotations

import copy
from typing import Any

from stories import world
from stories.state import WorldState, name_key
from stories.table.checks import WHO_KINDS, CheckRejected, DiceSource
from stories.table.dice import dice_roll

INITIATIVE_STAT = "initiative"


def _participant(state: WorldState, name: str) -> int:
    number = state.find(name)
    if number is None:
        raise CheckRejected(f"No character named {name!r} exists to fight.")
    entity = state.entities[number]
    if entity.kind not in WHO_KINDS:
        raise CheckRejected(f"{entity.name} is a {entity.kind}; only characters fight.")
    if entity.status == "dead":
        raise CheckRejected(f"{entity.name} is dead and cannot fight.")
    return number


def _start(
    state: WorldState, change: world.Encounter, dice: DiceSource | None, position: int
) -> dict[str, Any]:
    if state.encounter is not None:
        raise CheckRejected("An encounter is already under way; end it first.")
    if dice is None:
        raise CheckRejected("Initiative is rolled only during a turn.")
    numbers = [_participant(state, name) for name in change.participants]
    if len(set(numbers)) != len(numbers):
        raise CheckRejected("Each participant is listed once.")
    if len(numbers) < 2:
        raise CheckRejected("An encounter needs at least two participants.")
    _sequence, seed = dice.seed_for(position)
    order: list[dict[str, Any]] = []
    for index, number in enumerate(numbers):
        bonus = int(state.entities[number].stats.get(INITIATIVE_STAT, 0))
        roll = dice_roll(f"1d20{bonus:+d}", seed=seed + index)
        order.append(
            {
                "entity": number,
                "initiative": roll.total,
                "bonus": bonus,
                "roll": roll.detail,
                "conditions": [],
            }
        )
    order.sort(key=lambda p: (-int(p["initiative"]), -int(p["bonus"]), int(p["entity"])))
    return {"round": 1, "turn": 0, "order": order}


def _next(state: WorldState, encounter: dict[str, Any]) -> dict[str, Any]:
    after = copy.deepcopy(encounter)
    order = after["order"]
    for _step in range(len(order)):
        after["turn"] += 1
        if after["turn"] >= len(order):
            after["turn"] = 0
            after["round"] += 1
        entity = state.entities.get(order[after["turn"]]["entity"])
        if entity is not None and entity.status != "dead":
            return after
    raise CheckRejected("Every participant is dead; end the encounter.")


def encounter_resolve(
    state: WorldState, change: world.Encounter, *, dice: DiceSource | None, position: int
) -> dict[str, Any]:
    """The event payload: the action, and the encounter before and after it."""
    before = state.encounter
    if change.action == "start":
        after: dict[str, Any] | None = _start(state, change, dice, position)
    elif before is None:
        raise CheckRejected(f"There is no encounter under way to {change.action}.")
    elif change.action == "next":
        after = _next(state, before)
    else:
        after = None
    return {
        "action": change.action,
        "round": (after or before or {}).get("round", 0),
        "after": after,
        "note": change.note.strip(),
    }


def condition_resolve(state: WorldState, change: world.Condition) -> dict[str, Any]:
    encounter = state.encounter
    if encounter is None:
        raise CheckRejected("Conditions are tracked during an encounter; none is under way.")
    number = state.find(change.entity)
    after = copy.deepcopy(encounter)
    rows = [p for p in after["order"] if p["entity"] == number]
    if number is None or not rows:
        raise CheckRejected(f"{change.entity} is not in the encounter.")
    if not change.add and not change.remove:
        raise CheckRejected("Nothing to add or remove.")
    conditions: list[str] = rows[0]["conditions"]
    present = {name_key(c) for c in conditions}
    missing = [c for c in change.remove if name_key(c) not in present]
    if missing:
        raise CheckRejected(f"{state.entities[number].name} is not {missing[0]}.")
    removed = {name_key(c) for c in change.remove}
    kept = [c for c in conditions if name_key(c) not in removed]
    for condition in change.add:
        if name_key(condition) not in {name_key(c) for c in kept}:
            kept.append(condition.strip())
    rows[0]["conditions"] = kept
    return {
        "entity": number,
        "add": list(change.add),
        "remove": list(change.remove),
        "after": after,
    }


def encounter_line(state: WorldState) -> str:
    """The fight under way, for the dungeon master's prompt ("" when there is none)."""
    encounter = state.encounter
    if encounter is None:
        return ""
    parts = []
    for p in encounter["order"]:
        entity = state.entities.get(p["entity"])
        if entity is None:
            continue
        notes = [f"hp {entity.stats['hp']}"] if "hp" in entity.stats else []
        if entity.status not in ("", "alive", "active"):
            notes.append(entity.status)
        notes += p["conditions"]
        parts.append(f"{entity.name} ({'; '.join(notes)})" if notes else entity.name)
    current = state.entities.get(encounter["order"][encounter["turn"]]["entity"])
    whose = f" It is {current.name}'s turn." if current else ""
    return (
        f"A fight is under way, round {encounter['round']}. "
        f"Initiative order: {', '.join(parts)}.{whose}"
    )
