"""Reads for the stories pages. Every campaign lookup goes through the user's membership,
so a campaign someone is not a member of does not exist for them (404)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import Http404

from stories.describe import describe_event
from stories.models import Campaign, CampaignMember, EntityProposal, Event, ProposalRun, Turn
from stories.projection import load_state
from stories.replay import state_at
from stories.state import WorldState, format_clock

STORY_TURNS_SHOWN = 20
KIND_ORDER = ("character", "faction", "location", "item", "arc", "quest", "lore")
KIND_TITLES = {
    "character": "Characters",
    "faction": "Factions",
    "location": "Places",
    "item": "Items",
    "arc": "Story arcs",
    "quest": "Quests",
    "lore": "Lore",
}


def campaign_list_for_user(*, user: User | AnonymousUser) -> QuerySet[Campaign]:
    if not user.is_authenticated:
        return Campaign.objects.none()
    return (
        Campaign.objects.filter(members__user=user)
        .annotate(
            entity_count=Count("entities", distinct=True),
            last_turn_at=Subquery(
                Turn.objects.filter(campaign=OuterRef("pk"), undone=False)
                .order_by("-created_at")
                .values("created_at")[:1]
            ),
        )
        .select_related("owner")
        .order_by("-updated_at", "-id")
    )


def membership_get(*, user: User | AnonymousUser, campaign_id: int) -> CampaignMember:
    """The user's membership of the campaign (with the campaign), or 404."""
    if not user.is_authenticated:
        raise Http404("No such campaign.")
    member = (
        CampaignMember.objects.select_related("campaign", "user")
        .filter(campaign_id=campaign_id, user=user)
        .first()
    )
    if member is None:
        raise Http404("No such campaign.")
    return member


def members_for_campaign(*, campaign: Campaign) -> list[CampaignMember]:
    return list(campaign.members.select_related("user").order_by("id"))


# -- the world, as pages show it ------------------------------------------------------------


@dataclass
class EntityRow:
    number: int
    name: str
    kind: str
    status: str
    location: str
    location_number: int | None
    description: str
    holds: list[tuple[int, str, int]]  # (quantity, item name, item number)
    stats: list[tuple[str, int]]
    traits: list[str]
    goals: list[str]
    pinned: bool
    changed: bool = False
    exits: list[tuple[int, str]] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RelationRow:
    source: int
    source_name: str
    relation: str
    target: int
    target_name: str
    strength: int
    changed: bool = False


@dataclass
class WorldView:
    clock: str
    groups: list[tuple[str, str, list[EntityRow]]]  # (kind, title, rows)
    relationships: list[RelationRow]
    entity_count: int
    names: dict[int, str]


def world_view(state: WorldState, *, changed: set[int] | None = None) -> WorldView:
    changed = changed or set()
    names = {n: e.name for n, e in state.entities.items()}
    held: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for (holder, item), quantity in sorted(state.holdings.items()):
        held[holder].append((quantity, names.get(item, "?"), item))
    exits: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for a, b in sorted(state.links):
        exits[a].append((b, names.get(b, "?")))
        exits[b].append((a, names.get(a, "?")))
    by_kind: dict[str, list[EntityRow]] = defaultdict(list)
    for number, e in sorted(state.entities.items(), key=lambda kv: kv[1].name.casefold()):
        by_kind[e.kind].append(
            EntityRow(
                number=number,
                name=e.name,
                kind=e.kind,
                status=e.status,
                location=names.get(e.location, "") if e.location is not None else "",
                location_number=e.location,
                description=e.description,
                holds=held.get(number, []),
                stats=sorted(e.stats.items()),
                traits=e.traits,
                goals=e.goals,
                pinned=e.pinned,
                changed=number in changed,
                exits=exits.get(number, []),
                log=e.log,
            )
        )
    relationships = [
        RelationRow(s, names.get(s, "?"), r, t, names.get(t, "?"), rel.strength, s in changed)
        for (s, t, r), rel in sorted(state.relationships.items())
    ]
    return WorldView(
        clock=format_clock(state.clock),
        groups=[(k, KIND_TITLES[k], by_kind[k]) for k in KIND_ORDER if by_kind.get(k)],
        relationships=relationships,
        entity_count=len(state.entities),
        names=names,
    )


def _numbers_in(payload: dict[str, Any]) -> set[int]:
    keys = ("entity", "to", "from", "item", "source", "target", "a", "b", "arc", "number")
    return {int(payload[k]) for k in keys if isinstance(payload.get(k), int)}


def world_current(*, campaign: Campaign) -> tuple[WorldState, WorldView]:
    state = load_state(campaign)
    changed: set[int] = set()
    for payload in Event.objects.filter(
        campaign=campaign,
        turn_number=campaign.head_turn,
        applied=True,
        undone=False,
        turn__isnull=False,
    ).values_list("payload", flat=True):
        changed |= _numbers_in(payload)
    return state, world_view(state, changed=changed)


def world_as_of(*, campaign: Campaign, turn: int) -> WorldView:
    return world_view(state_at(campaign, turn))


# -- turns and events --------------------------------------------------------------------------


@dataclass
class ChangeLine:
    text: str
    applied: bool
    reason: str = ""
    kind: str = ""


@dataclass
class TurnView:
    turn: Turn
    changes: list[ChangeLine]


def _change_lines(events: list[Event], names: dict[int, str]) -> list[ChangeLine]:
    return [ChangeLine(describe_event(e, names), e.applied, e.reason, e.kind) for e in events]


def turn_views(*, campaign: Campaign, turns: list[Turn], names: dict[int, str]) -> list[TurnView]:
    events_by_turn: dict[int, list[Event]] = defaultdict(list)
    for event in Event.objects.filter(turn__in=[t.pk for t in turns]).order_by("sequence"):
        events_by_turn[event.turn_id or 0].append(event)
    return [TurnView(t, _change_lines(events_by_turn.get(t.pk, []), names)) for t in turns]


def story_turns(*, campaign: Campaign, names: dict[int, str]) -> list[TurnView]:
    """The last live turns, then any failed or waiting turns after them."""
    live = list(
        Turn.objects.filter(campaign=campaign, undone=False, status=Turn.Status.DONE).order_by(
            "-number"
        )[:STORY_TURNS_SHOWN]
    )[::-1]
    since = live[-1].created_at if live else None
    others = Turn.objects.filter(campaign=campaign, undone=False).exclude(status=Turn.Status.DONE)
    if since is not None:
        others = others.filter(created_at__gte=since)
    tail = list(others.order_by("created_at", "id")[:10])
    return turn_views(campaign=campaign, turns=live + tail, names=names)


def turn_get(*, campaign: Campaign, turn_id: int) -> Turn:
    turn = Turn.objects.filter(campaign=campaign, pk=turn_id).first()
    if turn is None:
        raise Http404("No such turn.")
    return turn


def last_turn(*, campaign: Campaign) -> Turn | None:
    return (
        Turn.objects.filter(campaign=campaign, undone=False, status=Turn.Status.DONE)
        .order_by("-number")
        .first()
    )


@dataclass
class TimelineRow:
    turn_number: int
    turn: Turn | None
    source: str
    changes: list[ChangeLine]
    undone: bool

    @property
    def source_label(self) -> str:
        return str(dict(Event.Source.choices).get(self.source, self.source))


def timeline(
    *, campaign: Campaign, names: dict[int, str], before_turn: int | None, turns: int = 50
) -> list[TimelineRow]:
    """Turns and their events (and hand edits, imports), newest first, `turns` turn numbers
    at a time. Undone turns stay listed, marked."""
    events = Event.objects.filter(campaign=campaign)
    turn_rows = Turn.objects.filter(campaign=campaign, number__isnull=False)
    if before_turn is not None:
        events = events.filter(turn_number__lt=before_turn)
        turn_rows = turn_rows.filter(number__lt=before_turn)
    event_numbers = events.values_list("turn_number", flat=True).distinct().order_by("-turn_number")
    turn_numbers = turn_rows.values_list("number", flat=True).distinct().order_by("-number")
    found = set(event_numbers[:turns]) | {n for n in turn_numbers[:turns] if n is not None}
    numbers: list[int] = sorted(found, reverse=True)[:turns]
    if not numbers:
        return []
    by_turn: dict[int, list[Event]] = defaultdict(list)
    others: dict[tuple[int, str, bool], list[Event]] = {}
    for event in events.filter(turn_number__in=numbers).order_by("sequence"):
        if event.turn_id is not None:
            by_turn[event.turn_id].append(event)
        else:
            others.setdefault((event.turn_number, event.source, event.undone), []).append(event)
    rows: list[tuple[tuple[int, int, int], TimelineRow]] = []
    for turn in turn_rows.filter(number__in=numbers).order_by("id"):
        number = turn.number or 0
        batch = by_turn.get(turn.pk, [])
        row = TimelineRow(number, turn, "narration", _change_lines(batch, names), turn.undone)
        rows.append(((number, 0, turn.pk), row))
    for (number, source, undone), batch in others.items():
        row = TimelineRow(number, None, source, _change_lines(batch, names), undone)
        rows.append(((number, 1, batch[0].sequence), row))
    rows.sort(key=lambda pair: (-pair[0][0], pair[0][1], pair[0][2]))
    return [row for _key, row in rows]


def proposals_for_campaign(
    *, campaign: Campaign
) -> tuple[list[EntityProposal], ProposalRun | None]:
    pending = list(
        campaign.proposals.filter(status=EntityProposal.Status.PENDING).select_related(
            "source_document"
        )
    )
    return pending, campaign.proposal_runs.first()


def character_choices(state: WorldState) -> list[tuple[int, str]]:
    return sorted(
        ((n, e.name) for n, e in state.entities.items() if e.kind == "character"),
        key=lambda x: x[1].casefold(),
    )


def kind_choices(state: WorldState, kinds: set[str]) -> list[tuple[int, str]]:
    return sorted(
        ((n, e.name) for n, e in state.entities.items() if e.kind in kinds),
        key=lambda x: x[1].casefold(),
    )


def entity_history(
    *, campaign: Campaign, number: int, names: dict[int, str], limit: int = 30, scan: int = 5000
) -> list[tuple[Event, str]]:
    """The latest events that touched this entity (scanning the most recent `scan` events)."""
    found: list[tuple[Event, str]] = []
    recent = Event.objects.filter(campaign=campaign, applied=True).order_by("-sequence")[:scan]
    for event in recent.iterator(chunk_size=500):
        if number in _numbers_in(event.payload):
            found.append((event, describe_event(event, names)))
            if len(found) >= limit:
                break
    return found


def world_documents(*, campaign: Campaign) -> list[Any]:
    from research.models import Document

    if campaign.world_project_id is None:
        return []
    return list(
        Document.objects.filter(project_id=campaign.world_project_id).order_by("created_at")
    )
