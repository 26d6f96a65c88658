"""What the model is told about entities, and which entities matter for a turn.

A card is a short, factual rendering of one entity's state (where it is, what it holds,
who it stands with). Relevance is a ranking, not a filter: the packer takes cards from
the top until the entity share of the window is used, and the context map lists the rest.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from stories.state import WorldState, format_clock
from stories.table.combat import encounter_line

_RELATIONS_SHOWN = 8
_HOLDINGS_SHOWN = 12


class CardIndex:
    """Who holds what, what connects where, who stands how with whom: built once per turn."""

    def __init__(self, state: WorldState) -> None:
        self.state = state
        self.held: dict[int, list[tuple[int, int]]] = defaultdict(list)
        self.holders: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for (holder, item), quantity in sorted(state.holdings.items()):
            self.held[holder].append((item, quantity))
            self.holders[item].append((holder, quantity))
        self.exits: dict[int, list[int]] = defaultdict(list)
        for a, b in sorted(state.links):
            self.exits[a].append(b)
            self.exits[b].append(a)
        self.relations: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
        for (source, target, relation), rel in sorted(state.relationships.items()):
            self.relations[source].append((target, relation, rel.strength))

    def card(self, number: int) -> str:
        state = self.state
        e = state.entities[number]
        head = f"[{e.kind}] {e.name}"
        facts = []
        if e.status:
            facts.append(f"status: {e.status}")
        if e.location is not None and e.location in state.entities:
            facts.append(f"at: {state.entities[e.location].name}")
        if facts:
            head += " (" + "; ".join(facts) + ")"
        lines = [head]
        if e.aliases:
            lines.append("Also called: " + ", ".join(e.aliases))
        if e.description:
            lines.append(e.description.strip())
        if e.stats:
            lines.append("Stats: " + ", ".join(f"{k} {v}" for k, v in sorted(e.stats.items())))
        if e.traits:
            lines.append("Traits: " + ", ".join(e.traits))
        if e.goals:
            lines.append("Goals: " + "; ".join(e.goals))
        held = self.held.get(number, [])
        if held:
            shown = ", ".join(f"{state.entities[i].name} ({q})" for i, q in held[:_HOLDINGS_SHOWN])
            more = f" and {len(held) - _HOLDINGS_SHOWN} more" if len(held) > _HOLDINGS_SHOWN else ""
            lines.append(f"Holds: {shown}{more}")
        holders = self.holders.get(number, [])
        if e.kind == "item" and holders:
            lines.append(
                "Held by: " + ", ".join(f"{state.entities[h].name} ({q})" for h, q in holders[:8])
            )
        exits = self.exits.get(number, [])
        if e.kind == "location" and exits:
            lines.append("Connects to: " + ", ".join(state.entities[n].name for n in exits))
        relations = sorted(self.relations.get(number, []), key=lambda x: -abs(x[2]))
        if relations:
            lines.append(
                "Relationships: "
                + "; ".join(
                    f"{r} {state.entities[t].name} ({s:+d})"
                    for t, r, s in relations[:_RELATIONS_SHOWN]
                )
            )
        if e.log and e.kind in {"arc", "quest"}:
            lines.append("Progress: " + " / ".join(entry["note"] for entry in e.log[-3:]))
        return "\n".join(lines)


def entity_card(state: WorldState, number: int) -> str:
    return CardIndex(state).card(number)


def world_heading(state: WorldState) -> str:
    heading = f"World state (in-game time: {format_clock(state.clock)})"
    fight = encounter_line(state)  # a fight under way: order, HP, whose turn
    return f"{heading}\n\n{fight}" if fight else heading


def _mentioned(state: WorldState, text: str) -> list[int]:
    """Entities whose name or alias appears as a whole word in text, in order of appearance."""
    if not text:
        return []
    folded = text.casefold()
    found: dict[int, int] = {}
    for number, entity in state.entities.items():
        for name in (entity.name, *entity.aliases):
            key = name.casefold().strip()
            if len(key) < 2:
                continue
            position = folded.find(key)
            if position < 0:
                continue
            match = re.search(rf"(?<!\w){re.escape(key)}(?!\w)", folded)
            if match:
                found[number] = min(found.get(number, match.start()), match.start())
    return sorted(found, key=lambda n: found[n])


def relevant_entities(
    state: WorldState,
    index: CardIndex,
    *,
    action: str,
    recent_text: str,
    actor: int | None,
    player_characters: Iterable[int] = (),
) -> list[int]:
    """Entity numbers for this turn, most relevant first; pinned entities are canon, not here."""
    ranked: list[int] = []

    def add(numbers: Iterable[int]) -> None:
        for n in numbers:
            if n in state.entities and n not in ranked and not state.entities[n].pinned:
                ranked.append(n)

    here = None
    if actor is not None and actor in state.entities:
        add([actor])
        here = state.entities[actor].location
    add(_mentioned(state, action))
    if here is not None:
        add([here])
    if actor is not None:
        add(i for i, _ in index.held.get(actor, []))
    if here is not None:
        add(n for n, e in state.entities.items() if e.location == here)
    add(
        n
        for n, e in sorted(state.entities.items())
        if e.kind in {"arc", "quest"} and e.status == "open"
    )
    add(_mentioned(state, recent_text))
    add(player_characters)
    if here is not None:
        add(index.exits.get(here, []))
    return ranked
