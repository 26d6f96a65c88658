"""Reads for the stories pages, each named `<entity>_get` / `<entity>_list`.

Every campaign lookup goes through the user's membership (`member_get_for_user`), so a campaign
someone is not a member of does not exist for them (404), and a member whose role may not
do what they ask is refused (403). A page's whole context (everything but its forms) comes
from one `<page>_page_get`, so a view loads, checks, calls one selector and renders.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.urls import reverse

from research.access import (
    project_documents_for_user,
    project_readable_by_user,
    project_writable_for_user,
)
from stories.describe import describe_event, roll_line
from stories.models import (
    Campaign,
    CampaignMember,
    Entity,
    EntityProposal,
    Event,
    ProposalRun,
    Turn,
)
from stories.projection import load_state
from stories.replay import state_at
from stories.services import LORE_KIND_AUTO, lorebook_preview_key
from stories.state import EntityState, WorldState, format_clock, name_key
from stories.table.selectors import ROLL_KINDS, RollLine, roll_list_for_member, roll_visible
from stories.turns import RUNNING, turn_is_stuck
from stories.world import ENTITY_KINDS
from stories.world_map import WorldMap, world_map

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


def member_get_for_user(
    *,
    user: User | AnonymousUser,
    campaign_id: int,
    may: Literal["read", "edit", "manage"] = "read",
) -> CampaignMember | None:
    """The user's membership of the campaign (with the campaign), None if they are not a
    member; PermissionDenied unless their role may `edit` (owner, editors: the world, the
    settings, proposals) or `manage` (the owner: members), when asked."""
    if not user.is_authenticated:
        return None
    member = (
        CampaignMember.objects.select_related("campaign", "user")
        .filter(campaign_id=campaign_id, user=user)
        .first()
    )
    if member is None:
        return None
    if may == "edit" and not member.can_edit:
        raise PermissionDenied("Only the campaign's owner and editors can change it.")
    if may == "manage" and member.role != CampaignMember.Role.OWNER:
        raise PermissionDenied("Only the campaign's owner can manage its members.")
    return member


@dataclass
class MemberRow:
    member: CampaignMember
    character_name: str


@dataclass
class SettingsView:
    members: list[MemberRow]
    characters: list[tuple[int, str]]  # what a member may be given to play


def settings_view(*, campaign: Campaign) -> SettingsView:
    names = dict(campaign.entities.values_list("number", "name"))
    members = campaign.members.select_related("user").order_by("id")
    return SettingsView(
        members=[MemberRow(m, names.get(m.character_number or 0, "")) for m in members],
        characters=entity_choice_list_for_campaign(campaign=campaign, kinds={"character"}),
    )


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
class CombatantRow:
    number: int
    name: str
    initiative: int
    hp: int | None
    status: str
    conditions: list[str]
    current: bool


@dataclass
class EncounterView:
    round: int
    combatants: list[CombatantRow]  # in initiative order


@dataclass
class WorldView:
    clock: str
    groups: list[tuple[str, str, list[EntityRow]]]  # (kind, title, rows)
    relationships: list[RelationRow]
    entity_count: int
    names: dict[int, str]
    encounter: EncounterView | None = None


def _encounter_view(state: WorldState) -> EncounterView | None:
    encounter = state.encounter
    if encounter is None:
        return None
    rows = []
    for index, p in enumerate(encounter["order"]):
        entity = state.entities.get(p["entity"])
        rows.append(
            CombatantRow(
                number=p["entity"],
                name=entity.name if entity else f"#{p['entity']}",
                initiative=p["initiative"],
                hp=entity.stats.get("hp") if entity else None,
                status=entity.status if entity else "",
                conditions=list(p["conditions"]),
                current=index == encounter["turn"],
            )
        )
    return EncounterView(round=encounter["round"], combatants=rows)


def _names(state: WorldState) -> dict[int, str]:
    return {n: e.name for n, e in state.entities.items()}


def _world_view_of(state: WorldState, *, changed: set[int] | None = None) -> WorldView:
    changed = changed or set()
    names = _names(state)
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
        encounter=_encounter_view(state),
    )


def _numbers_in(payload: dict[str, Any]) -> set[int]:
    keys = ("entity", "to", "from", "item", "source", "target", "a", "b", "arc", "number")
    return {int(payload[k]) for k in keys if isinstance(payload.get(k), int)}


def _world_current(campaign: Campaign) -> tuple[WorldState, WorldView]:
    """The world now, with what the last turn changed marked."""
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
    return state, _world_view_of(state, changed=changed)


def world_view(*, campaign: Campaign, turn: int | None = None) -> WorldView:
    """The world as it was after `turn`, or now (with the last turn's changes marked)."""
    if turn is None:
        return _world_current(campaign)[1]
    return _world_view_of(state_at(campaign, turn))


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
    stuck: bool = False  # its worker died mid-run: the page offers Retry and Discard
    may_act: bool = False  # the member may run, retry or discard it (its player, an editor)
    # The check rolled (or refused) before the narration, shown above it; `check_success`
    # None when the member may not see the roll, or it was refused.
    check: ChangeLine | None = None
    check_success: bool | None = None


def _turn_check(
    turn: Turn, events: list[Event], names: dict[int, str], member: CampaignMember | None
) -> tuple[ChangeLine | None, bool | None, list[Event]]:
    """The turn's own check (its first event, or the roll a failed turn keeps for its retry)
    as (line, success, the turn's other events)."""
    verdict = turn.check_step.get("verdict")
    if not verdict:
        return None, None, events
    if events and events[0].kind == "check":
        event, rest = events[0], events[1:]
    elif turn.status == Turn.Status.FAILED and verdict.get("accepted"):
        event = Event(kind="check", payload=verdict["payload"], applied=True)
        event.actor_id = turn.actor_id
        rest = events
    else:
        return None, None, events
    [line] = _change_lines([event], names, member)
    shown = event.applied and roll_visible(event=event, member=member)
    return line, (bool(event.payload.get("success")) if shown else None), rest


def _change_lines(
    events: list[Event], names: dict[int, str], member: CampaignMember | None = None
) -> list[ChangeLine]:
    """Each event in a line; a private roll in full only to its roller and the game masters."""
    lines = []
    for e in events:
        text = describe_event(e, names)
        if e.applied and e.kind in ROLL_KINDS and roll_visible(event=e, member=member):
            text = roll_line(e.kind, e.payload, names, shown=True)
        lines.append(ChangeLine(text, e.applied, e.reason, e.kind))
    return lines


def turn_may_act(*, member: CampaignMember | None, turn: Turn) -> bool:
    """Run, retry or discard `turn`: its own player, or an editor; never a viewer."""
    if member is None or not member.can_play:
        return False
    return member.can_edit or turn.actor_id == member.user_id


def _turn_views(
    turns: list[Turn], names: dict[int, str], member: CampaignMember | None
) -> list[TurnView]:
    events_by_turn: dict[int, list[Event]] = defaultdict(list)
    for event in Event.objects.filter(turn__in=[t.pk for t in turns]).order_by("sequence"):
        events_by_turn[event.turn_id or 0].append(event)
    leases: dict[int, Campaign] = {}
    if any(t.status in RUNNING for t in turns):  # the lease as it is now, not as loaded
        ids = {t.campaign_id for t in turns}
        leases = {c.pk: c for c in Campaign.objects.filter(pk__in=ids).only("lease_until")}
    views = []
    for t in turns:
        check, success, events = _turn_check(t, events_by_turn.get(t.pk, []), names, member)
        views.append(
            TurnView(
                t,
                _change_lines(events, names, member),
                stuck=t.campaign_id in leases
                and turn_is_stuck(turn=t, campaign=leases[t.campaign_id]),
                may_act=turn_may_act(member=member, turn=t),
                check=check,
                check_success=success,
            )
        )
    return views


def turn_in_progress(*, turn_id: int) -> bool:
    """Waiting or being told by a live worker (not finished, failed, discarded or stuck)."""
    turn = Turn.objects.select_related("campaign").filter(pk=turn_id).first()
    if turn is None:
        return False
    if turn.status == Turn.Status.PENDING:
        return True
    return turn.status in RUNNING and not turn_is_stuck(turn=turn, campaign=turn.campaign)


def _story_turns(
    campaign: Campaign, names: dict[int, str], member: CampaignMember
) -> list[TurnView]:
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
    return _turn_views(live + tail, names, member)


def turn_get_for_campaign(*, campaign: Campaign, turn_id: int) -> Turn | None:
    return Turn.objects.filter(campaign=campaign, pk=turn_id).first()


def _turn_last(*, campaign: Campaign) -> Turn | None:
    """The last live, finished turn (its prompt feeds the context meter)."""
    return (
        Turn.objects.filter(campaign=campaign, undone=False, status=Turn.Status.DONE)
        .order_by("-number")
        .first()
    )


def turn_view(*, campaign: Campaign, turn: Turn, member: CampaignMember) -> TurnView:
    """One turn as the story shows it to `member`, with the changes it made."""
    [view] = _turn_views([turn], _names(load_state(campaign)), member)
    return view


@dataclass
class WorldPanelView:
    world: WorldView
    last: Turn | None


def world_panel_view(*, campaign: Campaign) -> WorldPanelView:
    return WorldPanelView(world=world_view(campaign=campaign), last=_turn_last(campaign=campaign))


@dataclass
class StoryView(WorldPanelView):
    turns: list[TurnView]
    character: EntityState | None  # the one the member plays
    rolls: list[RollLine] = field(default_factory=list)  # the table's last rolls, as seen


def story_view(*, campaign: Campaign, member: CampaignMember) -> StoryView:
    state, view = _world_current(campaign)
    number = member.character_number
    return StoryView(
        world=view,
        last=_turn_last(campaign=campaign),
        turns=_story_turns(campaign, view.names, member),
        character=state.entities.get(number) if number is not None else None,
        rolls=roll_list_for_member(campaign_id=campaign.pk, member=member, names=view.names),
    )


def rolls_view(*, campaign: Campaign, member: CampaignMember) -> list[RollLine]:
    """The table's last rolls as `member` sees them (the rolls panel after a roll)."""
    return roll_list_for_member(
        campaign_id=campaign.pk, member=member, names=_names(load_state(campaign))
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


def _timeline_rows(
    campaign: Campaign, names: dict[int, str], before_turn: int | None, turns: int
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


@dataclass
class TimelineView:
    rows: list[TimelineRow]
    older: int | None  # where the next page of older turns starts


def timeline_view(*, campaign: Campaign, before_turn: int | None, turns: int = 50) -> TimelineView:
    """`turns` turn numbers of the timeline, newest first, before `before_turn`."""
    rows = _timeline_rows(campaign, _names(load_state(campaign)), before_turn, turns)
    older = rows[-1].turn_number if rows and rows[-1].turn_number > 0 else None
    return TimelineView(rows=rows, older=older)


# -- entities ----------------------------------------------------------------------------------


def entity_choice_list_for_campaign(
    *, campaign: Campaign, kinds: set[str] | None = None, exclude: int | None = None
) -> list[tuple[int, str]]:
    """(number, name) of the campaign's entities of `kinds` (all kinds: None), by name."""
    rows = Entity.objects.filter(campaign=campaign)
    if exclude is not None:
        rows = rows.exclude(number=exclude)
    if kinds is not None:
        rows = rows.filter(kind__in=kinds)
    return sorted(rows.values_list("number", "name"), key=lambda x: x[1].casefold())


def entity_get_for_campaign(*, campaign: Campaign, number: int) -> EntityState | None:
    return load_state(campaign).entities.get(number)


@dataclass
class EntityView:
    entity: EntityRow
    held_by: list[tuple[int, str, int]]  # (quantity, holder name, holder number)
    occupants: list[tuple[int, str, str]]  # (number, name, kind) of those here
    relations_out: list[RelationRow]
    relations_in: list[RelationRow]
    history: list[tuple[Event, str]]
    items: list[tuple[int, str]]  # what the entity may be given
    targets: list[tuple[int, str]]  # whom it may have a relationship with
    places: list[tuple[int, str]]  # where a path may lead (for a place)
    card_spec: str | None = None  # the character card it came from ("chara_card_v2"...)


def character_card_get_for_entity(*, campaign: Campaign, number: int) -> dict[str, str] | None:
    """The character card an entity was imported from ({"spec", "text", "name": the name it
    was imported as}), if any: kept in its live create event
    (stories.services.character_card_import)."""
    payload = (
        Event.objects.filter(
            campaign=campaign,
            kind="create",
            applied=True,
            undone=False,
            payload__number=number,
            payload__has_key="card",
        )
        .order_by("-sequence")
        .values_list("payload", flat=True)
        .first()
    )
    if not isinstance(payload, dict):
        return None
    card = payload.get("card")
    if not isinstance(card, dict) or not isinstance(card.get("text"), str):
        return None
    return {
        "spec": str(card.get("spec", "")),
        "text": card["text"],
        "name": str(payload.get("name", "")),
    }


def entity_view(*, campaign: Campaign, number: int) -> EntityView | None:
    state = load_state(campaign)
    if number not in state.entities:
        return None
    view = _world_view_of(state)
    row = next(r for _k, _t, rows in view.groups for r in rows if r.number == number)
    others = set(ENTITY_KINDS) - {"item"}
    card = character_card_get_for_entity(campaign=campaign, number=number)
    return EntityView(
        entity=row,
        held_by=[(q, view.names[h], h) for h, q in state.holders_of(number)],
        occupants=sorted(
            ((n, e.name, e.kind) for n, e in state.entities.items() if e.location == number),
            key=lambda x: x[1].casefold(),
        ),
        relations_out=[r for r in view.relationships if r.source == number],
        relations_in=[r for r in view.relationships if r.target == number],
        history=_entity_history(campaign, number, view.names),
        items=entity_choice_list_for_campaign(campaign=campaign, kinds={"item"}),
        targets=entity_choice_list_for_campaign(campaign=campaign, kinds=others, exclude=number)
        + entity_choice_list_for_campaign(campaign=campaign, kinds={"item"}, exclude=number),
        places=entity_choice_list_for_campaign(
            campaign=campaign, kinds={"location"}, exclude=number
        ),
        card_spec=card["spec"] if card else None,
    )


def _entity_history(
    campaign: Campaign, number: int, names: dict[int, str], limit: int = 30, scan: int = 5000
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


# -- proposals from world documents ------------------------------------------------------------


def proposal_get_for_campaign(*, campaign: Campaign, proposal_id: int) -> EntityProposal | None:
    return campaign.proposals.filter(pk=proposal_id).first()


@dataclass
class ProposalsView:
    proposals: list[EntityProposal]  # waiting for a decision
    run: ProposalRun | None  # the latest run
    documents: list[Any]  # the world documents the user may read
    upload_url: str  # where the user may upload them ("" if they may not)
    documents_hidden: bool = False  # the world project is not readable by this user


def proposals_view(*, campaign: Campaign, user: User | AnonymousUser) -> ProposalsView:
    return ProposalsView(
        proposals=list(
            campaign.proposals.filter(status=EntityProposal.Status.PENDING).select_related(
                "source_document"
            )
        ),
        run=campaign.proposal_runs.first(),
        documents=world_document_list_for_campaign(campaign=campaign, user=user),
        upload_url=_world_upload_url(campaign, user),
        documents_hidden=campaign.world_project_id is not None
        and not project_readable_by_user(user=user, project_id=campaign.world_project_id),
    )


def _world_upload_url(campaign: Campaign, user: User | AnonymousUser) -> str:
    """The research page of the world documents, for those who may add to them there."""
    project = campaign.world_project
    if project is None or not project_writable_for_user(user=user, project=project):
        return ""
    return reverse("research:project_detail", args=[project.pk])


def world_document_list_for_campaign(
    *, campaign: Campaign, user: User | AnonymousUser
) -> list[Any]:
    """The campaign's world documents that `user` may read (research/access.py): none when
    the world project is not theirs and not shared with them."""
    return list(
        project_documents_for_user(user=user, project_id=campaign.world_project_id).order_by(
            "created_at", "id"
        )
    )


# -- the picture of the world ------------------------------------------------------------------


@dataclass
class WorldMapView:
    turn: int
    world_map: WorldMap


def world_map_view(*, campaign: Campaign, turn: int | None = None) -> WorldMapView:
    """The picture of the world after `turn` (None or the latest: the world now)."""
    head = campaign.head_turn
    at = head if turn is None else max(0, min(turn, head))
    state = load_state(campaign) if at == head else state_at(campaign, at)
    return WorldMapView(turn=at, world_map=world_map(state))


# -- a lorebook previewed before it is imported ------------------------------------------------

LORE_EXCERPT_CHARS = 160


@dataclass
class LorePreviewRow:
    position: int
    name: str
    aliases: list[str]
    excerpt: str
    inferred: str | None  # what the entry's own fields say it is (None: they say nothing)
    kind: str  # the kind it is offered as
    note: str  # "" or why it will be skipped or renamed


@dataclass
class LorebookPreviewView:
    token: str
    rows: list[LorePreviewRow]
    kinds: tuple[str, ...]
    chosen: str  # the kind chosen at upload for every entry, or "auto"
    limit: int  # the most entries one import takes (CARREL_LOREBOOK_MAX_ENTRIES)
    to_import: int
    inferred: dict[str, int]  # entries whose own fields gave each kind


def lorebook_preview_get(
    *, campaign: Campaign, user: User, token: str
) -> LorebookPreviewView | None:
    """The entries of an uploaded lorebook awaiting their kinds (None when the preview
    expired or belongs to someone else), each offered as the kind chosen at upload
    (or, for "auto", its own fields' kind, else lore)."""
    key = lorebook_preview_key(campaign_id=campaign.pk, user_id=user.pk, token=token)
    preview = cache.get(key)
    if not isinstance(preview, dict):
        return None
    taken = load_state(campaign).names()
    seen: set[str] = set()
    rows: list[LorePreviewRow] = []
    inferred: dict[str, int] = {}
    chosen = preview["kind"]
    for position, entry in enumerate(preview["entries"]):
        key_ = name_key(entry["name"])
        if not entry["enabled"]:
            note = "Disabled in the lorebook: skipped."
        elif key_ in seen:
            note = "Repeats an earlier name: kept under a numbered name, this one as an alias."
        elif key_ in taken:
            note = "The world already has this name: skipped."
        else:
            note = ""
            seen.add(key_)  # as services._lore_verdicts: only names the import creates
        own = entry.get("kind")
        if own:
            inferred[own] = inferred.get(own, 0) + 1
        content = " ".join(entry["content"][: LORE_EXCERPT_CHARS * 2].split())
        excerpt = content[:LORE_EXCERPT_CHARS] + ("…" if len(content) > LORE_EXCERPT_CHARS else "")
        rows.append(
            LorePreviewRow(
                position=position,
                name=entry["name"],
                aliases=entry["aliases"][:5],
                excerpt=excerpt,
                inferred=own,
                kind=(own or "lore") if chosen == LORE_KIND_AUTO else chosen,
                note=note,
            )
        )
    return LorebookPreviewView(
        token=token,
        rows=rows,
        kinds=ENTITY_KINDS,
        chosen=chosen,
        limit=settings.CARREL_LOREBOOK_MAX_ENTRIES,
        to_import=sum(1 for r in rows if not r.note.endswith("skipped.")),
        inferred=dict(sorted(inferred.items())),
    )
