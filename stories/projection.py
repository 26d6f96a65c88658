"""Reading the world out of the projection tables, and writing it back.

`load_state` reads the current world with a handful of flat queries (no model instances:
a thousand entities load in milliseconds). `write_touched` persists only what the last
`apply_event` calls touched; `rebuild` rewrites the whole projection after undo, branch
or import. Both run inside the caller's transaction, next to the Event rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection, models

from stories.models import Campaign, Connection, Entity, Holding, Relationship
from stories.state import EntityState, RelationshipState, WorldState, name_key

_ENTITY_FIELDS = (
    "kind",
    "name",
    "description",
    "status",
    "stats",
    "traits",
    "goals",
    "aliases",
    "pinned",
    "log",
)


_JSON_FIELDS = frozenset({"stats", "traits", "goals", "aliases", "log", "history"})


def _rows(
    model: type[models.Model], fields: Sequence[str], campaign_id: int
) -> list[tuple[Any, ...]]:
    """The campaign's rows of `model` as plain tuples, JSON decoded.

    Raw SQL on purpose: this runs on every turn for every entity, and Django's per-value
    converters and thousands of small json.loads calls cost more than the query itself.
    SQLite returns JSON as text (decoded here in one call), PostgreSQL already decoded.
    """
    quote = connection.ops.quote_name
    meta = model._meta

    def column(name: str) -> str:
        field = meta.get_field(name)
        assert isinstance(field, models.Field) and field.column
        return quote(field.column)

    columns = ", ".join(column(f) for f in fields)
    campaign_column = column("campaign")
    sql = f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {campaign_column} = %s"
    decode = [f in _JSON_FIELDS for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign_id])
        rows = cursor.fetchall()
    # One json.loads for the whole result instead of one per value (a few thousand).
    texts = [
        v for row in rows for v, j in zip(row, decode, strict=True) if j and isinstance(v, str)
    ]
    decoded = iter(json.loads("[" + ",".join(texts) + "]") if texts else [])
    return [
        tuple(
            next(decoded) if is_json and isinstance(value, str) else value
            for value, is_json in zip(row, decode, strict=True)
        )
        for row in rows
    ]


def load_state(campaign: Campaign) -> WorldState:
    clock, encounter = Campaign.objects.filter(pk=campaign.pk).values_list(
        "clock_minutes", "encounter"
    ).first() or (0, None)
    state = WorldState(clock=clock or 0, encounter=encounter)
    pk_to_number: dict[int, int] = {}
    locations: dict[int, int | None] = {}
    for pk, number, location_id, *values in _rows(
        Entity, ("id", "number", "location", *_ENTITY_FIELDS), campaign.pk
    ):
        fields = dict(zip(_ENTITY_FIELDS, values, strict=True))
        fields["pinned"] = bool(fields["pinned"])
        state.entities[number] = EntityState(**fields)
        state.pks[number] = pk
        pk_to_number[pk] = number
        locations[number] = location_id
    for number, location_id in locations.items():
        if location_id is not None:
            state.entities[number].location = pk_to_number[location_id]
    state.links = {
        (pk_to_number[a], pk_to_number[b]) for a, b in _rows(Connection, ("a", "b"), campaign.pk)
    }
    state.holdings = {
        (pk_to_number[h], pk_to_number[i]): q
        for h, i, q in _rows(Holding, ("holder", "item", "quantity"), campaign.pk)
    }
    state.relationships = {
        (pk_to_number[s], pk_to_number[t], r): RelationshipState(strength, history)
        for s, t, r, strength, history in _rows(
            Relationship, ("source", "target", "relation", "strength", "history"), campaign.pk
        )
    }
    return state


def _entity_values(entity: EntityState) -> dict[str, Any]:
    values = {name: getattr(entity, name) for name in _ENTITY_FIELDS}
    values["name_key"] = name_key(entity.name)
    return values


def write_touched(campaign: Campaign, state: WorldState) -> None:
    """Persist what apply_event touched since the last write, then forget it."""
    touched = sorted(state.touched_entities)
    new = [n for n in touched if n not in state.pks]
    existing = [n for n in touched if n in state.pks]
    renamed = [n for n in existing if n in state.renamed]
    if renamed:
        # Renames can swap names between entities: free the unique keys first.
        for number in renamed:
            Entity.objects.filter(pk=state.pks[number]).update(name_key=f"\u0001{number}")
    if new:
        rows = Entity.objects.bulk_create(
            [Entity(campaign=campaign, number=n, **_entity_values(state.entities[n])) for n in new]
        )
        for number, row in zip(new, rows, strict=True):
            state.pks[number] = row.pk
    for number in touched:
        location = state.entities[number].location
        location_id = state.pks[location] if location is not None else None
        if number in existing:
            Entity.objects.filter(pk=state.pks[number]).update(
                location_id=location_id, **_entity_values(state.entities[number])
            )
        elif location_id is not None:
            Entity.objects.filter(pk=state.pks[number]).update(location_id=location_id)

    for a, b in sorted(state.touched_links):
        pa, pb = state.pks[a], state.pks[b]
        if (a, b) in state.links:
            Connection.objects.get_or_create(campaign=campaign, a_id=pa, b_id=pb)
        else:
            Connection.objects.filter(a_id=pa, b_id=pb).delete()

    for holder, item in sorted(state.touched_holdings):
        quantity = state.holdings.get((holder, item), 0)
        ph, pi = state.pks[holder], state.pks[item]
        if quantity > 0:
            Holding.objects.update_or_create(
                holder_id=ph, item_id=pi, defaults={"quantity": quantity, "campaign": campaign}
            )
        else:
            Holding.objects.filter(holder_id=ph, item_id=pi).delete()

    for key in sorted(state.touched_relationships):
        source, target, relation = key
        rel = state.relationships[key]
        Relationship.objects.update_or_create(
            source_id=state.pks[source],
            target_id=state.pks[target],
            relation=relation,
            defaults={"strength": rel.strength, "history": rel.history, "campaign": campaign},
        )

    if state.clock_touched:
        Campaign.objects.filter(pk=campaign.pk).update(clock_minutes=state.clock)
        campaign.clock_minutes = state.clock
    if state.encounter_touched:
        Campaign.objects.filter(pk=campaign.pk).update(encounter=state.encounter)
        campaign.encounter = state.encounter
    state.clear_touched()


def rebuild(campaign: Campaign, state: WorldState) -> None:
    """Replace the campaign's projection with `state`."""
    Relationship.objects.filter(campaign=campaign).delete()
    Holding.objects.filter(campaign=campaign).delete()
    Connection.objects.filter(campaign=campaign).delete()
    Entity.objects.filter(campaign=campaign).delete()
    numbers = sorted(state.entities)
    rows = Entity.objects.bulk_create(
        [Entity(campaign=campaign, number=n, **_entity_values(state.entities[n])) for n in numbers],
        batch_size=500,
    )
    state.pks = {n: row.pk for n, row in zip(numbers, rows, strict=True)}
    located = [
        Entity(pk=state.pks[n], location_id=state.pks[state.entities[n].location])  # type: ignore[index]
        for n in numbers
        if state.entities[n].location is not None
    ]
    Entity.objects.bulk_update(located, ["location"], batch_size=500)
    pks = state.pks
    Connection.objects.bulk_create(
        [Connection(campaign=campaign, a_id=pks[a], b_id=pks[b]) for a, b in sorted(state.links)],
        batch_size=500,
    )
    Holding.objects.bulk_create(
        [
            Holding(campaign=campaign, holder_id=pks[h], item_id=pks[i], quantity=q)
            for (h, i), q in sorted(state.holdings.items())
        ],
        batch_size=500,
    )
    Relationship.objects.bulk_create(
        [
            Relationship(
                campaign=campaign,
                source_id=pks[s],
                target_id=pks[t],
                relation=r,
                strength=rel.strength,
                history=rel.history,
            )
            for (s, t, r), rel in sorted(state.relationships.items())
        ],
        batch_size=500,
    )
    Campaign.objects.filter(pk=campaign.pk).update(
        clock_minutes=state.clock, encounter=state.encounter
    )
    campaign.clock_minutes = state.clock
    campaign.encounter = state.encounter
    state.clear_touched()
