"""The world state as plain data, and the one function that changes it.

`WorldState` is what the entity tables project and what replaying events rebuilds; both go
through `apply_event`, so "the tables" and "the history" can never disagree about what a
change means. Entities are identified by their per-campaign `number`, which survives
undo, branching and export (database ids do not). Payloads are already validated and
resolved (see stories.validation): applying is deterministic and never fails.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

DEFAULT_STATUS = {
    "character": "alive",
    "faction": "active",
    "arc": "open",
    "quest": "open",
}
STRENGTH_MIN, STRENGTH_MAX = -100, 100
HOLDER_KINDS = frozenset({"character", "faction", "location"})
MOVABLE_KINDS = frozenset({"character", "faction", "item"})
EDITABLE_FIELDS = (
    "kind",
    "name",
    "description",
    "status",
    "location",
    "stats",
    "traits",
    "goals",
    "aliases",
    "pinned",
)


def name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


@dataclass
class EntityState:
    kind: str
    name: str
    description: str = ""
    status: str = ""
    location: int | None = None
    stats: dict[str, int] = field(default_factory=dict)
    traits: list[str] = field(default_factory=list)
    goals: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    pinned: bool = False
    log: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "location": self.location,
            "stats": dict(sorted(self.stats.items())),
            "traits": list(self.traits),
            "goals": list(self.goals),
            "aliases": list(self.aliases),
            "pinned": self.pinned,
            "log": [dict(entry) for entry in self.log],
        }


@dataclass
class RelationshipState:
    strength: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


RelKey = tuple[int, int, str]


@dataclass
class WorldState:
    entities: dict[int, EntityState] = field(default_factory=dict)
    links: set[tuple[int, int]] = field(default_factory=set)
    holdings: dict[tuple[int, int], int] = field(default_factory=dict)
    relationships: dict[RelKey, RelationshipState] = field(default_factory=dict)
    clock: int = 0
    encounter: dict[str, Any] | None = None  # the fight under way (stories.table.combat)
    # Bookkeeping that is not part of the world's identity:
    pks: dict[int, int] = field(default_factory=dict)  # entity number -> projection row id
    touched_entities: set[int] = field(default_factory=set)
    touched_links: set[tuple[int, int]] = field(default_factory=set)
    touched_holdings: set[tuple[int, int]] = field(default_factory=set)
    touched_relationships: set[RelKey] = field(default_factory=set)
    clock_touched: bool = False
    encounter_touched: bool = False
    renamed: set[int] = field(default_factory=set)
    _names: dict[str, int] | None = None
    _aliases: dict[str, list[int]] | None = None

    # -- reading -------------------------------------------------------------------
    @property
    def next_number(self) -> int:
        return max(self.entities, default=0) + 1

    def names(self) -> dict[str, int]:
        if self._names is None:
            self._names = {name_key(e.name): n for n, e in self.entities.items()}
            aliases: dict[str, list[int]] = {}
            for n, e in self.entities.items():
                for alias in e.aliases:
                    aliases.setdefault(name_key(alias), []).append(n)
            self._aliases = aliases
        return self._names

    def find(self, name: str) -> int | None:
        """The entity called `name` (or, failing that, with exactly one such alias)."""
        key = name_key(name)
        number = self.names().get(key)
        if number is not None:
            return number
        matches = (self._aliases or {}).get(key, [])
        return matches[0] if len(matches) == 1 else None

    def forget_names(self) -> None:
        self._names = self._aliases = None

    def held_by(self, holder: int) -> list[tuple[int, int]]:
        return sorted((item, q) for (h, item), q in self.holdings.items() if h == holder)

    def holders_of(self, item: int) -> list[tuple[int, int]]:
        return sorted((h, q) for (h, i), q in self.holdings.items() if i == item)

    def neighbours(self, location: int) -> list[int]:
        return sorted(b if a == location else a for a, b in self.links if location in (a, b))

    def as_dict(self) -> dict[str, Any]:
        """The canonical, JSON-ready form: equal worlds give equal dicts."""
        data = {
            "clock": self.clock,
            "entities": {str(n): self.entities[n].as_dict() for n in sorted(self.entities)},
            "links": [list(link) for link in sorted(self.links)],
            "holdings": [[h, i, q] for (h, i), q in sorted(self.holdings.items())],
            "relationships": [
                [s, t, r, rel.strength, [dict(x) for x in rel.history]]
                for (s, t, r), rel in sorted(self.relationships.items())
            ],
        }
        if self.encounter is not None:  # absent, not null: older snapshots and files match
            data["encounter"] = copy.deepcopy(self.encounter)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorldState:
        state = cls(clock=int(data.get("clock", 0)))
        state.encounter = copy.deepcopy(data.get("encounter"))
        for number, raw in data.get("entities", {}).items():
            state.entities[int(number)] = EntityState(**copy.deepcopy(raw))
        state.links = {(int(a), int(b)) for a, b in data.get("links", [])}
        state.holdings = {(int(h), int(i)): int(q) for h, i, q in data.get("holdings", [])}
        state.relationships = {
            (int(s), int(t), str(r)): RelationshipState(int(strength), copy.deepcopy(history))
            for s, t, r, strength, history in data.get("relationships", [])
        }
        return state

    def copy(self) -> WorldState:
        clone = WorldState.from_dict(self.as_dict())
        clone.pks = dict(self.pks)
        return clone

    def clear_touched(self) -> None:
        self.touched_entities.clear()
        self.touched_links.clear()
        self.touched_holdings.clear()
        self.touched_relationships.clear()
        self.clock_touched = False
        self.encounter_touched = False
        self.renamed.clear()

    # -- writing ---------------------------------------------------------------------
    def _touch(self, number: int) -> None:
        self.touched_entities.add(number)

    def _set_holding(self, holder: int, item: int, quantity: int) -> None:
        key = (holder, item)
        if quantity > 0:
            self.holdings[key] = quantity
        else:
            self.holdings.pop(key, None)
        self.touched_holdings.add(key)


def _link(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def apply_event(state: WorldState, kind: str, payload: dict[str, Any], turn: int) -> None:
    """Apply one validated, resolved change. Deterministic: replay relies on it."""
    handler = _HANDLERS.get(kind)
    if handler is None:
        raise ValueError(f"Unknown event kind {kind!r}")
    handler(state, payload, turn)


def _create(state: WorldState, p: dict[str, Any], turn: int) -> None:
    number = int(p["number"])
    state.entities[number] = EntityState(
        kind=p["entity_kind"],
        name=p["name"],
        description=p.get("description", ""),
        status=p.get("status") or DEFAULT_STATUS.get(p["entity_kind"], ""),
        location=p.get("location"),
        stats=dict(p.get("stats", {})),
        traits=list(p.get("traits", [])),
        goals=list(p.get("goals", [])),
        aliases=list(p.get("aliases", [])),
        pinned=bool(p.get("pinned", False)),
    )
    state.forget_names()
    state._touch(number)


def _edit(state: WorldState, p: dict[str, Any], turn: int) -> None:
    entity = state.entities[p["entity"]]
    for name, value in p["set"].items():
        setattr(entity, name, copy.deepcopy(value))
    if "name" in p["set"]:
        state.renamed.add(p["entity"])
    if "name" in p["set"] or "aliases" in p["set"]:
        state.forget_names()
    state._touch(p["entity"])


def _move(state: WorldState, p: dict[str, Any], turn: int) -> None:
    state.entities[p["entity"]].location = p["to"]
    state._touch(p["entity"])


def _transfer(state: WorldState, p: dict[str, Any], turn: int) -> None:
    item, quantity = p["item"], p["quantity"]
    if p.get("from") is not None:
        key = (p["from"], item)
        state._set_holding(p["from"], item, state.holdings.get(key, 0) - quantity)
    if p.get("to") is not None:
        key = (p["to"], item)
        state._set_holding(p["to"], item, state.holdings.get(key, 0) + quantity)


def _relationship(state: WorldState, p: dict[str, Any], turn: int) -> None:
    key = (p["source"], p["target"], p["relation"])
    rel = state.relationships.setdefault(key, RelationshipState())
    rel.strength = p["strength"]
    rel.history.append({"turn": turn, "strength": p["strength"], "note": p.get("note", "")})
    state.touched_relationships.add(key)


def _stat(state: WorldState, p: dict[str, Any], turn: int) -> None:
    state.entities[p["entity"]].stats[p["stat"]] = p["value"]
    state._touch(p["entity"])


def _status(state: WorldState, p: dict[str, Any], turn: int) -> None:
    state.entities[p["entity"]].status = p["status"]
    state._touch(p["entity"])


def _death(state: WorldState, p: dict[str, Any], turn: int) -> None:
    entity = state.entities[p["entity"]]
    entity.status = "dead"
    entity.log.append({"turn": turn, "note": f"Died. {p.get('cause', '')}".strip()})
    state._touch(p["entity"])


def _tags(field_name: str):
    def handler(state: WorldState, p: dict[str, Any], turn: int) -> None:
        entity = state.entities[p["entity"]]
        values: list[str] = getattr(entity, field_name)
        removed = {name_key(v) for v in p.get("remove", [])}
        kept = [v for v in values if name_key(v) not in removed]
        for value in p.get("add", []):
            if name_key(value) not in {name_key(v) for v in kept}:
                kept.append(value)
        setattr(entity, field_name, kept)
        state._touch(p["entity"])

    return handler


def _connect(state: WorldState, p: dict[str, Any], turn: int) -> None:
    link = _link(p["a"], p["b"])
    state.links.add(link)
    state.touched_links.add(link)


def _disconnect(state: WorldState, p: dict[str, Any], turn: int) -> None:
    link = _link(p["a"], p["b"])
    state.links.discard(link)
    state.touched_links.add(link)


def _clock(state: WorldState, p: dict[str, Any], turn: int) -> None:
    state.clock += int(p["minutes"])
    state.clock_touched = True


def _arc(state: WorldState, p: dict[str, Any], turn: int) -> None:
    arc = state.entities[p["arc"]]
    if p.get("status"):
        arc.status = p["status"]
    if p.get("note") or p.get("status"):
        note = p.get("note", "") or f"Now {p['status']}."
        arc.log.append({"turn": turn, "note": note})
    state._touch(p["arc"])


def _roll(state: WorldState, p: dict[str, Any], turn: int) -> None:
    """Checks and table rolls change nothing in the world; the event is the record."""


def _hit_points(state: WorldState, p: dict[str, Any], turn: int) -> None:
    entity = state.entities[p["entity"]]
    entity.stats["hp"] = p["hp"]
    if p.get("status"):
        entity.status = p["status"]
        if p["status"] == "dead":
            entity.log.append({"turn": turn, "note": f"Died. {p.get('cause', '')}".strip()})
    state._touch(p["entity"])


def _encounter(state: WorldState, p: dict[str, Any], turn: int) -> None:
    state.encounter = copy.deepcopy(p["after"])
    state.encounter_touched = True


_HANDLERS = {
    "create": _create,
    "edit": _edit,
    "move": _move,
    "transfer": _transfer,
    "relationship": _relationship,
    "stat": _stat,
    "status": _status,
    "death": _death,
    "traits": _tags("traits"),
    "goals": _tags("goals"),
    "connect": _connect,
    "disconnect": _disconnect,
    "clock": _clock,
    "arc": _arc,
    "check": _roll,
    "roll": _roll,
    "damage": _hit_points,
    "heal": _hit_points,
    "encounter": _encounter,
    "condition": _encounter,
}
EVENT_KINDS = tuple(_HANDLERS)


def format_clock(minutes: int) -> str:
    """In-game time as 'Day N, HH:MM', day 1 starting at 00:00."""
    day, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return f"Day {day + 1}, {hours:02d}:{mins:02d}"
