"""A campaign to one JSON file and back, a Markdown chronicle, and lorebook import.

The JSON file holds everything that makes the campaign: its settings, every turn
(including failed and undone ones), every event (applied, rejected, undone), every
summary, and the world state the events produce. Entities are identified by their
per-campaign numbers, turns and summaries by their position in the file, so nothing
depends on database ids; importing and exporting again gives the identical file. The
world state is derived from the events; on import it is recomputed and must match the
file's, so a hand-edited, inconsistent file is refused rather than half-loaded. Members
and user accounts are not exported (they belong to a server, not to the story).

A branch is an import of an export cut at a turn: same code, so "the state exactly as
it was then" is tested by the same round trip.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import DatabaseError, transaction
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from research.models import Project
from stories.describe import describe_applied, describe_proposed
from stories.models import Campaign, CampaignMember, Event, Summary, Turn
from stories.projection import load_state, rebuild
from stories.replay import snapshots_rebuild, state_at
from stories.state import WorldState, apply_event, format_clock
from stories.world import ENTITY_KINDS
from workspace.export_text import markdown_line, markdown_text

FORMAT = "carrel-campaign"
VERSION = 1
# Deeper than any file Carrel writes (about 8 levels), far below Python's recursion limit.
MAX_JSON_DEPTH = 64


class ImportProblem(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- reading JSON from an upload ---------------------------------------------------------


def _too_deep(value: Any, limit: int) -> bool:
    """Whether any list or object in value is nested more than `limit` levels deep."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > limit:
            return True
        stack.extend(
            (child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
        )
    return False


def json_from_upload(raw: bytes, *, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of an uploaded file, or an ImportProblem that says what is wrong with
    it. `what` names the file in the message ("campaign file", "lorebook")."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportProblem(f"This {what} is not valid JSON: it is not UTF-8 text.") from exc
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise ImportProblem(
            f"This {what} is nested too deeply to read (Carrel reads {max_depth} levels)."
        ) from exc
    except json.JSONDecodeError as exc:
        raise ImportProblem(
            f"This {what} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})."
        ) from exc
    except ValueError as exc:  # e.g. a number of more digits than Python converts
        raise ImportProblem(f"This {what} is not valid JSON ({exc}).") from exc
    if _too_deep(data, max_depth):
        raise ImportProblem(
            f"This {what} is nested too deeply to read (Carrel reads {max_depth} levels)."
        )
    return data


# -- the file format --------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CampaignData(_Strict):
    title: str = Field(min_length=1, max_length=200)
    premise: str = ""
    tone: str = Field(default="", max_length=200)
    rules_notes: str = ""
    head_turn: int = Field(ge=0)
    summarized_through: int = Field(ge=0)
    history_version: int = Field(default=0, ge=0)
    created_at: datetime


class TurnData(_Strict):
    number: int | None = Field(default=None, ge=1)
    status: Turn.Status
    undone: bool = False
    actor_label: str = Field(max_length=200)
    character_number: int | None = None
    action: str
    narration: str = ""
    error: str = ""
    changes_error: str = ""
    changes_raw: str = ""
    check_step: dict[str, Any] = Field(default_factory=dict)  # the check asked for first
    prompt_tokens: int = Field(default=0, ge=0)
    context_window: int = Field(default=0, ge=0)
    context_map: dict[str, Any] = Field(default_factory=dict)
    action_tokens: int = Field(default=0, ge=0)
    narration_tokens: int = Field(default=0, ge=0)
    created_at: datetime
    completed_at: datetime | None = None


class EventData(_Strict):
    sequence: int = Field(ge=1)
    turn: int | None = None  # index into turns
    turn_number: int = Field(ge=0)
    kind: str
    source: Event.Source
    payload: dict[str, Any]
    proposed: dict[str, Any] = Field(default_factory=dict)
    applied: bool
    reason: str = ""
    undone: bool = False
    created_at: datetime


class SummaryData(_Strict):
    kind: Summary.Kind
    first_turn: int = Field(ge=1)
    last_turn: int = Field(ge=1)
    text: str
    token_count: int = Field(default=0, ge=0)
    superseded_by: int | None = None  # index into summaries
    created_at: datetime


class CampaignFile(_Strict):
    format: str
    version: int
    campaign: CampaignData
    turns: list[TurnData]
    events: list[EventData]
    summaries: list[SummaryData]
    world: dict[str, Any]


# -- export -----------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def campaign_export(campaign: Campaign, *, through_turn: int | None = None) -> dict[str, Any]:
    """The campaign as JSON-ready data; `through_turn` cuts it there (for branching)."""
    turns_qs = Turn.objects.filter(campaign=campaign).exclude(status=Turn.Status.PENDING)
    events_qs = Event.objects.filter(campaign=campaign)
    summaries_qs = Summary.objects.filter(campaign=campaign)
    head, summarized = campaign.head_turn, campaign.summarized_through
    if through_turn is not None:
        turns_qs = turns_qs.filter(undone=False, status=Turn.Status.DONE, number__lte=through_turn)
        events_qs = events_qs.filter(undone=False, turn_number__lte=through_turn)
        summaries_qs = summaries_qs.filter(last_turn__lte=through_turn)
        head = through_turn
    turns = list(turns_qs.order_by("id"))
    turn_index = {t.pk: i for i, t in enumerate(turns)}
    summaries = list(summaries_qs.order_by("id"))
    summary_index = {s.pk: i for i, s in enumerate(summaries)}
    if through_turn is not None:
        summarized = max(
            (s.last_turn for s in summaries if summary_index.get(s.superseded_by_id or -1) is None),
            default=0,
        )
    world = state_at(campaign, through_turn) if through_turn is not None else load_state(campaign)
    return {
        "format": FORMAT,
        "version": VERSION,
        "campaign": {
            "title": campaign.title,
            "premise": campaign.premise,
            "tone": campaign.tone,
            "rules_notes": campaign.rules_notes,
            "head_turn": head,
            "summarized_through": summarized,
            "history_version": campaign.history_version,
            "created_at": _iso(campaign.created_at),
        },
        "turns": [
            {
                "number": t.number,
                "status": t.status,
                "undone": t.undone,
                "actor_label": t.actor_label,
                "character_number": t.character_number,
                "action": t.action,
                "narration": t.narration,
                "error": t.error,
                "changes_error": t.changes_error,
                "changes_raw": t.changes_raw,
                "check_step": t.check_step,
                "prompt_tokens": t.prompt_tokens,
                "context_window": t.context_window,
                "context_map": t.context_map,
                "action_tokens": t.action_tokens,
                "narration_tokens": t.narration_tokens,
                "created_at": _iso(t.created_at),
                "completed_at": _iso(t.completed_at),
            }
            for t in turns
        ],
        "events": [
            {
                "sequence": e.sequence,
                "turn": turn_index.get(e.turn_id) if e.turn_id else None,
                "turn_number": e.turn_number,
                "kind": e.kind,
                "source": e.source,
                "payload": e.payload,
                "proposed": e.proposed,
                "applied": e.applied,
                "reason": e.reason,
                "undone": e.undone,
                "created_at": _iso(e.created_at),
            }
            for e in events_qs.order_by("sequence")
        ],
        "summaries": [
            {
                "kind": s.kind,
                "first_turn": s.first_turn,
                "last_turn": s.last_turn,
                "text": s.text,
                "token_count": s.token_count,
                "superseded_by": summary_index.get(s.superseded_by_id)
                if s.superseded_by_id
                else None,
                "created_at": _iso(s.created_at),
            }
            for s in summaries
        ],
        "world": world.as_dict(),
    }


def campaign_export_json(campaign: Campaign) -> str:
    return json.dumps(campaign_export(campaign), ensure_ascii=False, indent=1, sort_keys=True)


# -- import -----------------------------------------------------------------------------


def _parse(data: Any) -> CampaignFile:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ImportProblem("This is not a Carrel campaign file.")
    if data.get("version") != VERSION:
        raise ImportProblem(
            f"This campaign file is version {data.get('version')}; Carrel reads {VERSION}."
        )
    try:
        return CampaignFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ImportProblem(f"The campaign file is malformed at {where}: {first['msg']}") from exc


def campaign_import(
    *,
    owner: User,
    data: Any,
    title: str | None = None,
    branched_from: Campaign | None = None,
    branched_at_turn: int | None = None,
    world_project: Project | None = None,
) -> Campaign:
    """A new campaign from a campaign file. Its world documents are `world_project` (a
    branch's: stories/history.py decides whether it shares the source's or gets a copy),
    or a new, empty world project."""
    parsed = _parse(data)
    c = parsed.campaign
    try:
        with transaction.atomic():
            project = world_project
            if project is None:
                project = Project.objects.create(
                    owner=owner,
                    title=f"{title or c.title} — world documents",
                    kind=Project.Kind.WORLD,
                )
            campaign = Campaign.objects.create(
                owner=owner,
                title=title or c.title,
                premise=c.premise,
                tone=c.tone,
                rules_notes=c.rules_notes,
                world_project=project,
                branched_from=branched_from,
                branched_at_turn=branched_at_turn,
                head_turn=c.head_turn,
                summarized_through=c.summarized_through,
                history_version=c.history_version,
                last_sequence=max((e.sequence for e in parsed.events), default=0),
                created_at=c.created_at,
            )
            CampaignMember.objects.create(
                campaign=campaign, user=owner, role=CampaignMember.Role.OWNER
            )
            turns = Turn.objects.bulk_create(
                [Turn(campaign=campaign, **t.model_dump()) for t in parsed.turns], batch_size=500
            )
            for e in parsed.events:
                if e.turn is not None and not 0 <= e.turn < len(turns):
                    raise ImportProblem(
                        f"Event {e.sequence} points at a turn that is not in the file."
                    )
            Event.objects.bulk_create(
                [
                    Event(
                        campaign=campaign,
                        turn=turns[e.turn] if e.turn is not None else None,
                        **e.model_dump(exclude={"turn"}),
                    )
                    for e in parsed.events
                ],
                batch_size=500,
            )
            summaries = Summary.objects.bulk_create(
                [
                    Summary(campaign=campaign, **s.model_dump(exclude={"superseded_by"}))
                    for s in parsed.summaries
                ]
            )
            for row, s in zip(summaries, parsed.summaries, strict=True):
                if s.superseded_by is not None:
                    if not 0 <= s.superseded_by < len(summaries):
                        raise ImportProblem(
                            "A summary points at a summary that is not in the file."
                        )
                    row.superseded_by = summaries[s.superseded_by]
            Summary.objects.bulk_update(summaries, ["superseded_by"])

            state = state_at(campaign, use_snapshots=False)
            if state.as_dict() != WorldState.from_dict(parsed.world).as_dict():
                raise ImportProblem(
                    "The file's world state does not match what its events produce; "
                    "it may have been edited by hand."
                )
            rebuild(campaign, state)
            snapshots_rebuild(campaign)
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError, DatabaseError) as exc:
        # A value out of any column's range, NaN in JSON, a list where a mapping belongs...
        raise ImportProblem(f"The campaign file's events cannot be replayed ({exc!r}).") from exc
    return campaign


def campaign_import_bytes(*, owner: User, raw: bytes) -> Campaign:
    return campaign_import(owner=owner, data=json_from_upload(raw, what="campaign file"))


# -- the chronicle ----------------------------------------------------------------------


def chronicle_markdown(campaign: Campaign) -> str:
    """The story as it happened: each live turn, its narration, and what changed."""
    lines = [f"# {markdown_line(campaign.title)}", ""]
    if campaign.premise:
        lines += [f"*{markdown_text(campaign.premise.strip())}*", ""]
    if campaign.tone:
        lines += [f"Tone: {markdown_line(campaign.tone)}", ""]
    state = WorldState()
    events = Event.objects.filter(campaign=campaign, undone=False).order_by("sequence")
    by_turn: dict[int, list[Event]] = {}
    for event in events.iterator(chunk_size=2000):
        by_turn.setdefault(event.turn_number, []).append(event)

    def render_events(batch: list[Event], heading: str) -> list[str]:
        out: list[str] = []
        applied, rejected = [], []
        for event in batch:
            if event.applied:
                apply_event(state, event.kind, event.payload, event.turn_number)
                names = {n: e.name for n, e in state.entities.items()}
                applied.append(describe_applied(event.kind, event.payload, names))
            else:
                rejected.append(f"{describe_proposed(event.kind, event.proposed)} — {event.reason}")
        if applied:
            out += [f"**{heading}**", ""] + [f"- {markdown_line(line)}" for line in applied] + [""]
        if rejected:
            out += ["**Not applied**", ""] + [f"- {markdown_line(line)}" for line in rejected]
            out += [""]
        return out

    lines += render_events(by_turn.pop(0, []), "The world at the start")
    turns = Turn.objects.filter(
        campaign=campaign, undone=False, status=Turn.Status.DONE, number__isnull=False
    ).order_by("number")
    for turn in turns.iterator(chunk_size=500):
        batch = by_turn.pop(turn.number or 0, [])
        turn_events = [e for e in batch if e.turn_id == turn.pk]
        later = [e for e in batch if e.turn_id != turn.pk]
        before = len(lines)
        actor, action = markdown_line(turn.actor_label), markdown_text(turn.action)
        lines += [f"## Turn {turn.number}", "", f"**{actor}:** {action}", ""]
        lines += [markdown_text(turn.narration.strip()), ""]
        lines += render_events(turn_events, "What changed")
        if turn.changes_error:
            lines += [f"> {markdown_line(turn.changes_error)}", ""]
        lines += render_events(later, "Edited by hand afterwards")
        lines.insert(before + 1, f"*{format_clock(state.clock)}*")
        lines.insert(before + 2, "")
    return "\n".join(lines).rstrip() + "\n"


# -- lorebooks ---------------------------------------------------------------------------


def _no_nul(value: Any) -> str:
    """As text, without NUL characters (PostgreSQL stores none, in text or in JSON)."""
    return str(value).replace("\x00", "")


def lorebook_entries(data: Any) -> list[dict[str, Any]]:
    """Entries of a SillyTavern world-info file ({"entries": {"0": {...}}}) or of a
    character book ({"entries": [...]}), each as name, aliases, content, constant, enabled."""
    if not isinstance(data, dict):
        raise ImportProblem('A lorebook is a JSON object with an "entries" field.')
    book = data.get("character_book") if "entries" not in data else data
    raw = (book or {}).get("entries") if isinstance(book, dict) else None
    if isinstance(raw, dict):
        items = [
            raw[k]
            for k in sorted(
                raw, key=lambda k: (not str(k).isdigit(), int(k) if str(k).isdigit() else 0, str(k))
            )
        ]
    elif isinstance(raw, list):
        items = raw
    else:
        raise ImportProblem('This lorebook has no "entries".')
    limit = settings.CARREL_LOREBOOK_MAX_ENTRIES
    if limit and len(items) > limit:
        raise ImportProblem(
            f"This lorebook has {len(items):,} entries; Carrel imports at most {limit:,} at "
            "once (CARREL_LOREBOOK_MAX_ENTRIES). Split it into smaller lorebooks."
        )
    entries = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        keys = item.get("key", item.get("keys", [])) or []
        if isinstance(keys, str):
            keys = [k.strip() for k in keys.split(",")]
        elif not isinstance(keys, list):  # a number, true, an object: no usable keys
            keys = []
        keys = [_no_nul(k).strip() for k in keys if _no_nul(k).strip()]
        comment = _no_nul(item.get("comment") or item.get("name") or "").strip()
        name = comment or (keys[0] if keys else f"Lore entry {item.get('uid', position)}")
        enabled = not item.get("disable", False) and item.get("enabled", True) is not False
        content = _no_nul(item.get("content") or "").strip()
        entries.append(
            {
                "name": " ".join(name.split())[:200],
                "aliases": [k for k in dict.fromkeys(keys) if k.casefold() != name.casefold()],
                "content": content,
                "constant": bool(item.get("constant", False)),
                "enabled": enabled,
                "kind": lore_kind_inferred(item, comment=comment, content=content),
            }
        )
    return entries


# Words that say what an entry is, as a lorebook may put them in an entry's kind, type or
# category, its SillyTavern group, or a prefix of its title ("Location: Hall of Mists").
_KIND_WORDS = {
    "location": "location locations place places room rooms area areas region regions city "
    "cities town towns village villages building buildings landmark landmarks",
    "item": "item items object objects artifact artifacts artefact artefacts weapon weapons "
    "equipment treasure treasures",
    "character": "character characters npc npcs person people creature creatures monster monsters",
    "faction": "faction factions organization organizations organisation organisations guild "
    "guilds clan clans",
    "lore": "lore history concept concepts rule rules event events",
}
KIND_OF_WORD = {word: kind for kind, words in _KIND_WORDS.items() for word in words.split()} | {
    kind: kind for kind in ENTITY_KINDS
}
# How a text adventure describes a room ("You are in a maze of twisty little passages").
_ROOM_OPENINGS = ("you are in ", "you are on ", "you are at ", "you're in ", "you are standing ")


def _kind_of_words(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    for part in value.replace("/", ",").split(","):
        kind = KIND_OF_WORD.get(" ".join(part.split()).casefold())
        if kind:
            return kind
    return None


def lore_kind_inferred(item: dict[str, Any], *, comment: str, content: str) -> str | None:
    """The entity kind an entry's own fields give (None when they say nothing): Carrel's
    own World Info export (extensions.carrel.kind), a kind, type or category field, the
    SillyTavern group, a "Kind:" or "[Kind]" title prefix, or a text adventure's room."""
    extensions = item.get("extensions")
    carrel = extensions.get("carrel") if isinstance(extensions, dict) else None
    if isinstance(carrel, dict) and carrel.get("kind") in ENTITY_KINDS:
        return str(carrel["kind"])
    for field in ("kind", "type", "category", "group"):
        kind = _kind_of_words(item.get(field))
        if kind:
            return kind
    head, sep, _rest = comment.partition(":")
    if sep and (kind := _kind_of_words(head)):
        return kind
    if comment.startswith("[") and "]" in comment:
        kind = _kind_of_words(comment[1 : comment.index("]")])
        if kind:
            return kind
    if content[:40].casefold().startswith(_ROOM_OPENINGS):
        return "location"
    return None


# -- World Info export ----------------------------------------------------------------------


def world_info_export(state: WorldState) -> dict[str, Any]:
    """The world's entities as a SillyTavern World Info file: one entry each, its name and
    aliases as keys, its description as content, canon as constant; its kind is kept in
    extensions.carrel, so Carrel's lorebook import reads it back as it was."""
    entries: dict[str, Any] = {}
    for uid, number in enumerate(sorted(state.entities)):
        entity = state.entities[number]
        entries[str(uid)] = {
            "uid": uid,
            "key": [entity.name, *entity.aliases],
            "keysecondary": [],
            "comment": entity.name,
            "content": entity.description,
            "constant": entity.pinned,
            "selective": True,
            "selectiveLogic": 0,
            "addMemo": True,
            "order": 100,
            "position": 0,
            "disable": False,
            "excludeRecursion": False,
            "probability": 100,
            "useProbability": True,
            "depth": 4,
            "group": "",
            "displayIndex": uid,
            "extensions": {"carrel": {"kind": entity.kind, "number": number}},
        }
    return {"entries": entries}


def world_info_json(campaign: Campaign) -> str:
    return json.dumps(world_info_export(load_state(campaign)), ensure_ascii=False, indent=2)
