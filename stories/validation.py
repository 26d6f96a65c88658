"""Checking proposed changes against the world, one at a time, in story order.

`validate_change` resolves names to entity numbers and returns either an accepted change
(with the resolved payload that becomes the Event, including before/after values so the
event log reads on its own) or a rejection with a reason a person can read. Changes in a
set are validated against the state left by the earlier ones (`validate_and_apply`), so
"a new sword appears, then Ada takes it" works and "Ada gives the sword twice" does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stories import world
from stories.state import (
    EDITABLE_FIELDS,
    HOLDER_KINDS,
    MOVABLE_KINDS,
    STRENGTH_MAX,
    STRENGTH_MIN,
    WorldState,
    apply_event,
    name_key,
)
from stories.table.checks import CheckRejected, DiceSource, check_resolve, hit_points_resolve
from stories.table.combat import condition_resolve, encounter_resolve


@dataclass(frozen=True)
class Verdict:
    kind: str
    payload: dict[str, Any]  # resolved when accepted, as proposed when rejected
    accepted: bool
    reason: str = ""
    proposed: dict[str, Any] = field(default_factory=dict)


class Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _entity(state: WorldState, name: str, *, role: str = "") -> int:
    number = state.find(name)
    if number is None:
        where = f" ({role})" if role else ""
        raise Rejected(f"No entity named {name!r} exists{where}.")
    return number


def _kind_in(state: WorldState, number: int, kinds: frozenset[str] | set[str], what: str) -> None:
    entity = state.entities[number]
    if entity.kind not in kinds:
        raise Rejected(f"{entity.name} is a {entity.kind}, not {what}.")


def _label(state: WorldState, number: int | None) -> str:
    return "nowhere" if number is None else state.entities[number].name


def _resolve(state: WorldState, change: Any) -> dict[str, Any]:
    if isinstance(change, world.Move):
        number = _entity(state, change.entity)
        _kind_in(state, number, MOVABLE_KINDS, "something that can move")
        target = _entity(state, change.to, role="destination")
        _kind_in(state, target, {"location"}, "a place")
        entity = state.entities[number]
        if entity.status == "dead" and entity.kind == "character":
            raise Rejected(f"{entity.name} is dead and cannot move.")
        if entity.location == target:
            raise Rejected(f"{entity.name} is already at {_label(state, target)}.")
        return {"entity": number, "from": entity.location, "to": target}

    if isinstance(change, world.Transfer):
        item = _entity(state, change.item, role="item")
        _kind_in(state, item, {"item"}, "an item")
        source: int | None = None
        receiver: int | None = None
        if change.from_holder is not None:
            source = _entity(state, change.from_holder, role="giver")
            _kind_in(state, source, HOLDER_KINDS, "something that can hold items")
            held = state.holdings.get((source, item), 0)
            if held < change.quantity:
                raise Rejected(
                    f"{_label(state, source)} holds {held} {_label(state, item)}, "
                    f"so cannot give {change.quantity}."
                )
        if change.to_holder is not None:
            receiver = _entity(state, change.to_holder, role="receiver")
            _kind_in(state, receiver, HOLDER_KINDS, "something that can hold items")
        if source is None and receiver is None:
            raise Rejected("A transfer needs a giver, a receiver, or both.")
        if source == receiver:
            raise Rejected(f"{_label(state, source)} cannot give items to themselves.")
        return {"item": item, "quantity": change.quantity, "from": source, "to": receiver}

    if isinstance(change, world.RelationshipChange):
        source = _entity(state, change.source, role="source")
        target = _entity(state, change.target, role="target")
        if source == target:
            raise Rejected("A relationship needs two different entities.")
        relation = change.relation.strip().lower()
        current = state.relationships.get((source, target, relation))
        before = current.strength if current else 0
        after = max(STRENGTH_MIN, min(STRENGTH_MAX, before + change.delta))
        return {
            "source": source,
            "target": target,
            "relation": relation,
            "delta": change.delta,
            "strength": after,
            "note": change.note,
        }

    if isinstance(change, world.StatChange):
        number = _entity(state, change.entity)
        stat = change.stat.strip().lower()
        before = state.entities[number].stats.get(stat, 0)
        return {
            "entity": number,
            "stat": stat,
            "delta": change.delta,
            "value": before + change.delta,
        }

    if isinstance(change, world.StatusChange):
        number = _entity(state, change.entity)
        entity = state.entities[number]
        status = change.status.strip().lower()
        if status == "dead":
            raise Rejected("Use a death change for deaths.")
        if entity.status == "dead" and entity.kind == "character":
            raise Rejected(f"{entity.name} is dead.")
        if entity.status == status:
            raise Rejected(f"{entity.name} is already {status}.")
        return {"entity": number, "status": status, "previous": entity.status}

    if isinstance(change, world.Death):
        number = _entity(state, change.entity)
        _kind_in(state, number, {"character", "faction"}, "a character or faction")
        entity = state.entities[number]
        if entity.status == "dead":
            raise Rejected(f"{entity.name} is already dead.")
        return {"entity": number, "cause": change.cause, "previous": entity.status}

    if isinstance(change, world.TraitsChange | world.GoalsChange):
        number = _entity(state, change.entity)
        present = {name_key(v) for v in getattr(state.entities[number], change.kind)}
        missing = [v for v in change.remove if name_key(v) not in present]
        if missing:
            raise Rejected(
                f"{state.entities[number].name} has no {change.kind[:-1]} {missing[0]!r} to remove."
            )
        if not change.add and not change.remove:
            raise Rejected("Nothing to add or remove.")
        return {"entity": number, "add": list(change.add), "remove": list(change.remove)}

    if isinstance(change, world.NewEntity):
        return _resolve_create(state, change, aliases=[], pinned=False)

    if isinstance(change, world.Connect):
        a = _entity(state, change.a, role="place")
        b = _entity(state, change.b, role="place")
        _kind_in(state, a, {"location"}, "a place")
        _kind_in(state, b, {"location"}, "a place")
        if a == b:
            raise Rejected("A place cannot be connected to itself.")
        if (min(a, b), max(a, b)) in state.links:
            raise Rejected(f"{_label(state, a)} and {_label(state, b)} are already connected.")
        return {"a": a, "b": b}

    if isinstance(change, world.ClockAdvance):
        if change.minutes == 0:
            raise Rejected("The clock advance is zero minutes.")
        return {"minutes": change.minutes, "before": state.clock}

    if isinstance(change, world.ArcProgress):
        number = _entity(state, change.arc, role="arc or quest")
        _kind_in(state, number, {"arc", "quest"}, "an arc or quest")
        arc = state.entities[number]
        if change.status is None and not change.note:
            raise Rejected("Arc progress needs a status or a note.")
        if change.status and arc.status == change.status:
            raise Rejected(f"{arc.name} is already {change.status}.")
        return {"arc": number, "status": change.status, "previous": arc.status, "note": change.note}

    raise Rejected(f"Unknown change {change!r}.")


def _resolve_create(
    state: WorldState, change: world.NewEntity, *, aliases: list[str], pinned: bool
) -> dict[str, Any]:
    name = " ".join(change.name.split())
    if name_key(name) in state.names():
        raise Rejected(f"An entity named {name!r} already exists.")
    location = None
    if change.location:
        location = _entity(state, change.location, role="location")
        _kind_in(state, location, {"location"}, "a place")
    return {
        "number": state.next_number,
        "entity_kind": change.entity_kind,
        "name": name,
        "description": change.description,
        "location": location,
        "stats": {k.strip().lower(): v for k, v in change.stats.items() if k.strip()},
        "traits": list(change.traits),
        "goals": list(change.goals),
        "aliases": aliases,
        "pinned": pinned,
    }


def validate_change(
    state: WorldState, change: Any, *, dice: DiceSource | None = None, position: int = 0
) -> Verdict:
    """`dice` rolls checks (none: a check is rejected); `position` is the change's place in
    its set, which fixes the event sequence its roll is seeded with."""
    proposed = change.model_dump(mode="json")
    try:
        if isinstance(change, world.Check):
            payload = check_resolve(state, change, dice=dice, position=position)
        elif isinstance(change, world.Encounter):
            payload = encounter_resolve(state, change, dice=dice, position=position)
        elif isinstance(change, world.Condition):
            payload = condition_resolve(state, change)
        elif isinstance(change, world.Damage | world.Heal):
            rule = dice.zero_hp if dice is not None else "unconscious"
            payload = hit_points_resolve(state, change, zero_hp=rule)
        else:
            payload = _resolve(state, change)
    except (Rejected, CheckRejected) as exc:
        return Verdict(change.kind, proposed, accepted=False, reason=exc.reason, proposed=proposed)
    return Verdict(change.kind, payload, accepted=True, proposed=proposed)


def validate_and_apply(
    state: WorldState, changes: list[Any], *, turn: int, dice: DiceSource | None = None
) -> list[Verdict]:
    """Validate each change against the state left by the previous ones, applying the valid.
    Every verdict becomes one event, in order (checks are seeded by that order)."""
    verdicts = []
    for position, change in enumerate(changes):
        verdict = validate_change(state, change, dice=dice, position=position)
        if verdict.accepted:
            apply_event(state, verdict.kind, verdict.payload, turn)
        verdicts.append(verdict)
    return verdicts


# -- hand edits and imports ------------------------------------------------------------


def validate_create(
    state: WorldState,
    change: world.NewEntity,
    *,
    aliases: list[str] | None = None,
    pinned: bool = False,
) -> Verdict:
    proposed = change.model_dump(mode="json")
    try:
        payload = _resolve_create(state, change, aliases=aliases or [], pinned=pinned)
    except Rejected as exc:
        return Verdict("create", proposed, accepted=False, reason=exc.reason, proposed=proposed)
    return Verdict("create", payload, accepted=True, proposed=proposed)


def validate_edit(state: WorldState, number: int, values: dict[str, Any]) -> Verdict:
    """A hand edit: only the fields that differ are recorded."""
    proposed = {"entity": number, "set": values}
    try:
        if number not in state.entities:
            raise Rejected("That entity does not exist.")
        entity = state.entities[number]
        unknown = set(values) - set(EDITABLE_FIELDS)
        if unknown:
            raise Rejected(f"Unknown fields: {', '.join(sorted(unknown))}.")
        if "name" in values:
            values = {**values, "name": " ".join(str(values["name"]).split())}
            other = state.names().get(name_key(values["name"]))
            if not values["name"]:
                raise Rejected("A name is required.")
            if other is not None and other != number:
                raise Rejected(f"Another entity is already named {values['name']!r}.")
        if values.get("location") is not None:
            location = values["location"]
            if location not in state.entities or state.entities[location].kind != "location":
                raise Rejected("The location must be a known place.")
            if location == number:
                raise Rejected("A place cannot be inside itself.")
        changed = {k: v for k, v in values.items() if getattr(entity, k) != v}
        if not changed:
            raise Rejected("Nothing changed.")
    except Rejected as exc:
        return Verdict("edit", proposed, accepted=False, reason=exc.reason, proposed=proposed)
    return Verdict("edit", {"entity": number, "set": changed}, accepted=True, proposed=proposed)


def validate_disconnect(state: WorldState, a: int, b: int) -> Verdict:
    proposed = {"a": a, "b": b}
    if (min(a, b), max(a, b)) not in state.links:
        return Verdict("disconnect", proposed, False, "Those places are not connected.", proposed)
    return Verdict("disconnect", proposed, True, proposed=proposed)
