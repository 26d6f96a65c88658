"""Writes for campaigns, members and hand edits to the world.

Every world write goes through `world_write`: take the campaign's lease (so it never
interleaves with a turn being told), load the state, validate and apply in memory, and
record the accepted changes as events with the projection in one transaction. The turn
loop lives in stories.turns, undo/branch in stories.history, files in stories.exchange,
world-document proposals in stories.proposals.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction

from research.models import Project
from stories import world
from stories.character_cards import ParsedCard, card_description, card_name
from stories.exchange import ImportProblem, lorebook_entries
from stories.ledger import events_record
from stories.locking import campaign_lease
from stories.models import Campaign, CampaignMember, Event
from stories.projection import load_state
from stories.state import WorldState, apply_event, name_key
from stories.validation import (
    Verdict,
    validate_change,
    validate_create,
    validate_disconnect,
    validate_edit,
)


class WorldEditProblem(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- campaigns and members ----------------------------------------------------------------


def campaign_create(
    *, owner: User, title: str, premise: str = "", tone: str = "", rules_notes: str = ""
) -> Campaign:
    with transaction.atomic():
        project = Project.objects.create(
            owner=owner, title=f"{title} — world documents", kind=Project.Kind.WORLD
        )
        campaign = Campaign.objects.create(
            owner=owner,
            title=title,
            premise=premise,
            tone=tone,
            rules_notes=rules_notes,
            world_project=project,
        )
        CampaignMember.objects.create(campaign=campaign, user=owner, role=CampaignMember.Role.OWNER)
    return campaign


def campaign_update(
    *, campaign: Campaign, title: str, premise: str, tone: str, rules_notes: str
) -> Campaign:
    campaign.title, campaign.premise, campaign.tone, campaign.rules_notes = (
        title,
        premise,
        tone,
        rules_notes,
    )
    campaign.save(update_fields=["title", "premise", "tone", "rules_notes", "updated_at"])
    return campaign


def member_add(
    *, campaign: Campaign, username: str, role: str, character_number: int | None = None
) -> CampaignMember:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise WorldEditProblem(f"There is no user called {username!r} on this server.")
    if role == CampaignMember.Role.OWNER:
        raise WorldEditProblem("A campaign has one owner.")
    _check_character(campaign, character_number)
    member, _created = CampaignMember.objects.update_or_create(
        campaign=campaign,
        user=user,
        defaults={"role": role, "character_number": character_number},
    )
    return member


def _check_character(campaign: Campaign, number: int | None) -> None:
    if number is None:
        return
    if not campaign.entities.filter(number=number, kind="character").exists():
        raise WorldEditProblem("Players can only control characters of this campaign.")
    if campaign.members.filter(character_number=number).exists():
        raise WorldEditProblem("Another member already plays that character.")


def member_set_character(*, member: CampaignMember, character_number: int | None) -> None:
    if member.character_number != character_number:
        _check_character(member.campaign, character_number)
    member.character_number = character_number
    member.save(update_fields=["character_number"])


def member_remove(*, member: CampaignMember) -> None:
    if member.role == CampaignMember.Role.OWNER:
        raise WorldEditProblem("The owner cannot be removed.")
    member.delete()


# -- hand edits ---------------------------------------------------------------------------


def world_write(
    *,
    campaign: Campaign,
    user: User,
    build: Callable[[WorldState], list[Verdict]],
    source: str = Event.Source.USER,
    record_rejected: bool = False,
) -> list[Verdict]:
    """Run `build` (which validates and applies) against the current world, and record."""
    label = f"{user.get_username()} is editing the world"
    with campaign_lease(campaign.pk, label=label), transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        state = load_state(locked)
        verdicts = build(state)
        recorded = verdicts if record_rejected else [v for v in verdicts if v.accepted]
        if recorded:
            events_record(
                campaign=locked,
                state=state,
                verdicts=recorded,
                turn_number=locked.head_turn,
                source=source,
                actor=user,
            )
    return verdicts


def _one(verdict: Verdict, state: WorldState, turn: int) -> list[Verdict]:
    if verdict.accepted:
        apply_event(state, verdict.kind, verdict.payload, turn)
    return [verdict]


def _only(verdicts: list[Verdict]) -> Verdict:
    verdict = verdicts[0]
    if not verdict.accepted:
        raise WorldEditProblem(verdict.reason)
    return verdict


def entity_create(
    *,
    campaign: Campaign,
    user: User,
    change: world.NewEntity,
    aliases: list[str] | None = None,
    pinned: bool = False,
    status: str = "",
) -> int:
    """A new entity by hand; its number."""

    def build(state: WorldState) -> list[Verdict]:
        verdict = validate_create(state, change, aliases=aliases, pinned=pinned)
        if verdict.accepted and status:
            verdict.payload["status"] = status
        return _one(verdict, state, campaign.head_turn)

    return int(_only(world_write(campaign=campaign, user=user, build=build)).payload["number"])


def entity_edit(*, campaign: Campaign, user: User, number: int, values: dict[str, Any]) -> Verdict:
    def build(state: WorldState) -> list[Verdict]:
        return _one(validate_edit(state, number, values), state, campaign.head_turn)

    return _only(world_write(campaign=campaign, user=user, build=build))


def world_change_apply(*, campaign: Campaign, user: User, change: Any) -> Verdict:
    """One typed change (stories.world) made by hand, validated like the model's."""

    def build(state: WorldState) -> list[Verdict]:
        return _one(validate_change(state, change), state, campaign.head_turn)

    return _only(world_write(campaign=campaign, user=user, build=build))


def holding_set(
    *, campaign: Campaign, user: User, holder: int, item: int, quantity: int
) -> Verdict:
    """Set how many of `item` `holder` has, recorded as items appearing or being lost."""

    def build(state: WorldState) -> list[Verdict]:
        if holder not in state.entities or item not in state.entities:
            raise WorldEditProblem("That entity does not exist.")
        held = state.holdings.get((holder, item), 0)
        if quantity == held:
            raise WorldEditProblem("Nothing changed.")
        holder_name, item_name = state.entities[holder].name, state.entities[item].name
        if quantity > held:
            change = world.Transfer(
                kind="transfer", item=item_name, quantity=quantity - held, to_holder=holder_name
            )
        else:
            change = world.Transfer(
                kind="transfer", item=item_name, quantity=held - quantity, from_holder=holder_name
            )
        return _one(validate_change(state, change), state, campaign.head_turn)

    return _only(world_write(campaign=campaign, user=user, build=build))


def relationship_set(
    *,
    campaign: Campaign,
    user: User,
    source: int,
    target: int,
    relation: str,
    strength: int,
    note: str = "",
) -> Verdict:
    def build(state: WorldState) -> list[Verdict]:
        if source not in state.entities or target not in state.entities:
            raise WorldEditProblem("That entity does not exist.")
        current = state.relationships.get((source, target, relation.strip().lower()))
        delta = strength - (current.strength if current else 0)
        change = world.RelationshipChange(
            kind="relationship",
            source=state.entities[source].name,
            target=state.entities[target].name,
            relation=relation,
            delta=delta,
            note=note,
        )
        return _one(validate_change(state, change), state, campaign.head_turn)

    return _only(world_write(campaign=campaign, user=user, build=build))


def connection_add(*, campaign: Campaign, user: User, a: int, b: int) -> Verdict:
    """A path between places `a` and `b` (entity numbers)."""

    def build(state: WorldState) -> list[Verdict]:
        if a not in state.entities or b not in state.entities:
            raise WorldEditProblem("That entity does not exist.")
        change = world.Connect(kind="connect", a=state.entities[a].name, b=state.entities[b].name)
        return _one(validate_change(state, change), state, campaign.head_turn)

    return _only(world_write(campaign=campaign, user=user, build=build))


def connection_remove(*, campaign: Campaign, user: User, a: int, b: int) -> Verdict:
    def build(state: WorldState) -> list[Verdict]:
        return _one(validate_disconnect(state, a, b), state, campaign.head_turn)

    return _only(world_write(campaign=campaign, user=user, build=build))


# -- lorebooks and character cards -----------------------------------------------------------

LORE_KIND_AUTO = "auto"  # each entry's kind from its own fields, else lore


@dataclass
class LorebookResult:
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "name: reason"
    # Entries whose name the lorebook had already used: (the name given, the repeated name).
    renamed: list[tuple[str, str]] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)  # entities created of each kind


def _numbered(name: str, taken: Container[str], counters: dict[str, int]) -> str:
    """`name` with the first free " (n)" after it, n from 2, at most 200 characters."""
    base = name_key(name)
    n = counters.get(base, 1)
    while True:
        n += 1
        suffix = f" ({n})"
        candidate = name[: 200 - len(suffix)].rstrip() + suffix
        if name_key(candidate) not in taken:
            counters[base] = n
            return candidate


def _lore_verdicts(
    state: WorldState,
    entries: list[dict[str, Any]],
    *,
    kind: str,
    turn: int,
    result: LorebookResult,
) -> list[Verdict]:
    """Create one entity per enabled entry, applied to `state` as it goes. A name the
    lorebook repeats is numbered ("Maze all alike (2)"), the repeated name kept as an
    alias; a name the world already had before the import is skipped."""
    verdicts = []
    from_book: set[str] = set()  # name keys of entities this import created
    counters: dict[str, int] = {}
    for entry in entries:
        if not entry["enabled"]:
            result.skipped.append(f"{entry['name']}: disabled in the lorebook")
            continue
        name, aliases = entry["name"], entry["aliases"]
        if name_key(name) in from_book:
            original = name
            name = _numbered(name, state.names(), counters)
            aliases = [original, *(a for a in aliases if name_key(a) != name_key(original))]
            result.renamed.append((name, original))
        entity_kind = kind if kind != LORE_KIND_AUTO else entry.get("kind") or "lore"
        change = world.NewEntity(
            kind="create", entity_kind=entity_kind, name=name, description=entry["content"][:2000]
        )
        verdict = validate_create(state, change, aliases=aliases, pinned=entry["constant"])
        if verdict.accepted:
            if len(entry["content"]) > 2000:
                verdict.payload["description"] = entry["content"]
            apply_event(state, "create", verdict.payload, turn)
            from_book.add(name_key(name))
            result.created.append(name)
            result.kinds[entity_kind] = result.kinds.get(entity_kind, 0) + 1
        else:
            result.skipped.append(f"{name}: {verdict.reason}")
        verdicts.append(verdict)
    return verdicts


def lorebook_import(
    *, campaign: Campaign, user: User, data: Any, kind: str = LORE_KIND_AUTO
) -> LorebookResult:
    """SillyTavern world-info entries as entities: comment (or first key) is the name,
    keys are aliases, content the description, constant entries are pinned as canon.
    `kind` is one entity kind for every entry, or "auto": each entry's own (else lore)."""
    entries = lorebook_entries(data)
    if kind != LORE_KIND_AUTO and kind not in world.ENTITY_KINDS:
        raise ImportProblem(f"Unknown entity kind {kind!r}.")
    result = LorebookResult()

    def build(state: WorldState) -> list[Verdict]:
        return _lore_verdicts(state, entries, kind=kind, turn=campaign.head_turn, result=result)

    world_write(campaign=campaign, user=user, build=build, source=Event.Source.IMPORT)
    return result


# -- a lorebook previewed before it is imported ---------------------------------------------
#
# The upload is parsed once; its entries wait in the shared cache (Redis, which the web
# and worker processes share) under a random token bound to the campaign and the user,
# for LOREBOOK_PREVIEW_SECONDS, while the person chooses each entry's kind. Their size is
# bounded by the upload's (CARREL_LOREBOOK_MAX_MB, CARREL_LOREBOOK_MAX_ENTRIES). The
# confirmation takes the entries back out (deleting them), so a second submit imports
# nothing twice, and nothing is written to the database until then.

LOREBOOK_PREVIEW_SECONDS = 60 * 60
LOREBOOK_PREVIEW_EXPIRED = (
    "This lorebook preview has expired or was already imported; upload the lorebook again."
)


def lorebook_preview_key(*, campaign_id: int, user_id: int, token: str) -> str:
    return f"stories:lorebook-preview:{campaign_id}:{user_id}:{token}"


def lorebook_preview_create(
    *, campaign: Campaign, user: User, data: Any, kind: str = LORE_KIND_AUTO
) -> str:
    """Parse a lorebook and keep its entries for the preview; the preview's token.
    `kind` is the kind every entry starts as ("auto": what its own fields say, else lore)."""
    entries = lorebook_entries(data)
    if kind != LORE_KIND_AUTO and kind not in world.ENTITY_KINDS:
        raise ImportProblem(f"Unknown entity kind {kind!r}.")
    token = secrets.token_urlsafe(16)
    key = lorebook_preview_key(campaign_id=campaign.pk, user_id=user.pk, token=token)
    cache.set(key, {"entries": entries, "kind": kind}, LOREBOOK_PREVIEW_SECONDS)
    return token


def lorebook_preview_import(
    *, campaign: Campaign, user: User, token: str, kinds: Sequence[str]
) -> LorebookResult:
    """Import the previewed entries, each as the kind chosen for it (`kinds`, in entry
    order), and forget the preview. ImportProblem if it expired or the kinds do not fit."""
    key = lorebook_preview_key(campaign_id=campaign.pk, user_id=user.pk, token=token)
    preview = cache.get(key)
    if not isinstance(preview, dict):
        raise ImportProblem(LOREBOOK_PREVIEW_EXPIRED)
    entries: list[dict[str, Any]] = preview["entries"]
    if len(kinds) != len(entries):
        raise ImportProblem(f"Choose a kind for each of the {len(entries):,} entries.")
    unknown = next((k for k in kinds if k not in world.ENTITY_KINDS), None)
    if unknown is not None:
        raise ImportProblem(f"Unknown entity kind {unknown[:40]!r}.")
    chosen = [{**entry, "kind": k} for entry, k in zip(entries, kinds, strict=True)]
    result = LorebookResult()

    def build(state: WorldState) -> list[Verdict]:
        turn = campaign.head_turn
        return _lore_verdicts(state, chosen, kind=LORE_KIND_AUTO, turn=turn, result=result)

    if not cache.delete(key):  # claimed: a second submit of the same preview finds nothing
        raise ImportProblem(LOREBOOK_PREVIEW_EXPIRED)
    try:
        world_write(campaign=campaign, user=user, build=build, source=Event.Source.IMPORT)
    except Exception:
        cache.set(key, preview, LOREBOOK_PREVIEW_SECONDS)  # nothing imported: it can be retried
        raise
    return result


@dataclass
class CardImportResult:
    number: int
    name: str
    book: LorebookResult


def character_card_import(
    *, campaign: Campaign, user: User, card: ParsedCard, kind: str = LORE_KIND_AUTO
) -> CardImportResult:
    """A character card as a character entity (description, personality and scenario as
    its description, a V3 nickname as an alias) and its `character_book` entries as
    entities like a lorebook's. The card's JSON is kept in the create event's payload
    ("card"), so it exports back as it came, survives branching and campaign export, and
    is gone again when the import is undone."""
    entries = lorebook_entries(card.book) if card.book and card.book.get("entries") else []
    name = card_name(card)
    nickname = " ".join(str(card.data.get("nickname") or "").replace("\x00", "").split())
    book = LorebookResult()
    numbers: list[int] = []

    def build(state: WorldState) -> list[Verdict]:
        description = card_description(card)
        change = world.NewEntity(
            kind="create", entity_kind="character", name=name, description=description[:2000]
        )
        aliases = [nickname[:200]] if nickname and name_key(nickname) != name_key(name) else []
        verdict = validate_create(state, change, aliases=aliases)
        if not verdict.accepted:
            raise ImportProblem(f"{verdict.reason} Rename it first, or edit the card.")
        verdict.payload["description"] = description
        verdict.payload["card"] = {"spec": card.spec, "text": card.text}
        apply_event(state, "create", verdict.payload, campaign.head_turn)
        numbers.append(int(verdict.payload["number"]))
        return [
            verdict,
            *_lore_verdicts(state, entries, kind=kind, turn=campaign.head_turn, result=book),
        ]

    world_write(campaign=campaign, user=user, build=build, source=Event.Source.IMPORT)
    return CardImportResult(number=numbers[0], name=name, book=book)
