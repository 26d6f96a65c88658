"""Yardstick for stories: exact world state after a long scripted campaign, and the time
Carrel spends per turn outside the model.

    .venv/bin/python -m bench.stories [--turns 240] [--entities 1000] [--history 10000]
                                      [--measure 50] [--window 32768] [--gc-freeze]
                                      [--skip-exactness] [--skip-speed] [--skip-table]

Part 1, exactness. A scripted campaign of --turns turns runs through the real turn loop
(stories.turns.turn_play) with ScriptedRuntime as the model. Each turn's state changes are
generated from a seeded RNG, including changes that must be rejected (giving more than is
held, moving to unknown places, moving the dead, duplicate names). A separate bookkeeper
in this file, which shares no code with stories.validation or stories.state, predicts
every verdict and the resulting world. After the run the projected world, the replayed
world (with and without snapshots) and the bookkeeper's world must be equal; then a branch
from turn 100 and an undo back to turn 100 must both reproduce turn 100's world exactly.

Part 2, speed. A campaign with --entities entities and --history past turns (each with its
events, snapshots every 100 turns, and arc summaries covering all but the last 50 turns,
as the summarizer leaves them) is written in bulk; then --measure more turns run through
turn_play. Time outside the model = the turn's wall time minus the time spent inside the
runtime's calls (ScriptedRuntime tokenizes the whole prompt, as a model server would).
Reported with a breakdown (loading the world, choosing and rendering entities, packing,
validating and writing) beside the baseline: a bare insert of one Turn row, in the same
database, in the same run. The database is a throwaway test database (SQLite by default,
PostgreSQL with DATABASE_URL=postgres://...).

Part 3, the table. A second campaign like Part 2's plays --measure plain turns (Part 2's
changes) alternating with --measure turns at the table: each with a check and a page roll
(stories.table.services.roll_make), and, six turns at a time, a fight between two people
(start with initiative, damage and a condition, next, damage to 0 HP, healing, end). Time
outside the model for each, beside the same baseline, and their ratio. Then the event log
is replayed (stories.replay.state_at, with and without snapshots, and as of every table
turn) and must give the live world exactly, and every recorded roll (checks, page rolls,
initiative) must be what the campaign's dice seed rolls again.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from bench import setup_django


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


class TimedRuntime:
    """Delegates to a runtime and adds up the time spent inside its calls: wall clock
    (`seconds`) and this process's CPU (`cpu_seconds`, which other processes on a shared
    machine barely change)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    def facts(self) -> Any:
        return self.inner.facts()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def count_messages(self, messages: Any) -> int:
        return self.inner.count_messages(messages)

    @contextmanager
    def _inside(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - wall
            self.cpu_seconds += time.process_time() - cpu

    def chat(self, messages: Any, **kw: Any) -> Any:
        with self._inside():
            return self.inner.chat(messages, **kw)

    def structured(self, messages: Any, **kw: Any) -> Any:
        with self._inside():
            return self.inner.structured(messages, **kw)

    def stream_chat(self, messages: Any, **kw: Any) -> Iterator[Any]:
        with self._inside():
            stream = iter(self.inner.stream_chat(messages, **kw))
        end = object()
        while True:
            with self._inside():
                chunk = next(stream, end)
            if chunk is end:
                return
            yield chunk


def hold_summarizer(campaign: Any) -> None:
    """Mark the summarizer as already running, so no task is queued to a shared Redis
    (its trigger check still runs, and is timed, on every turn)."""
    from django.utils import timezone

    from stories.models import Campaign

    Campaign.objects.filter(pk=campaign.pk).update(summarizing_since=timezone.now())


# -- part 1: the bookkeeper ------------------------------------------------------------------


class Bookkeeper:
    """An independent model of the rules, by entity name, to predict verdicts and the world."""

    def __init__(self) -> None:
        self.kind: dict[str, str] = {}
        self.location: dict[str, str | None] = {}
        self.status: dict[str, str] = {}
        self.stats: dict[str, dict[str, int]] = {}
        self.holdings: dict[tuple[str, str], int] = {}
        self.relations: dict[tuple[str, str, str], int] = {}
        self.links: set[frozenset[str]] = set()
        self.clock = 0

    def add(self, kind: str, name: str, location: str | None = None) -> None:
        self.kind[name] = kind
        self.location[name] = location
        self.status[name] = {"character": "alive", "quest": "open"}.get(kind, "")
        self.stats[name] = {}

    def predict(self, change: dict[str, Any]) -> bool:
        """Apply the change if the rules allow it; whether they did."""
        k = change["kind"]
        if k == "move":
            who, to = change["entity"], change["to"]
            ok = (
                who in self.kind
                and self.kind.get(to) == "location"
                and self.kind[who] in {"character", "item"}
                and self.status[who] != "dead"
                and self.location[who] != to
            )
            if ok:
                self.location[who] = to
            return ok
        if k == "transfer":
            item, q, giver, taker = (
                change["item"],
                change["quantity"],
                change.get("from_holder"),
                change.get("to_holder"),
            )
            holders = {"character", "location"}
            ok = self.kind.get(item) == "item" and (giver or taker) is not None and giver != taker
            ok = ok and (
                giver is None
                or (self.kind.get(giver) in holders and self.holdings.get((giver, item), 0) >= q)
            )
            ok = ok and (taker is None or self.kind.get(taker) in holders)
            if ok:
                if giver:
                    left = self.holdings[(giver, item)] - q
                    if left:
                        self.holdings[(giver, item)] = left
                    else:
                        del self.holdings[(giver, item)]
                if taker:
                    self.holdings[(taker, item)] = self.holdings.get((taker, item), 0) + q
            return ok
        if k == "relationship":
            s, t, r = change["source"], change["target"], change["relation"]
            if s not in self.kind or t not in self.kind or s == t:
                return False
            self.relations[(s, t, r)] = max(
                -100, min(100, self.relations.get((s, t, r), 0) + change["delta"])
            )
            return True
        if k == "stat":
            who = change["entity"]
            if who not in self.kind:
                return False
            self.stats[who][change["stat"]] = (
                self.stats[who].get(change["stat"], 0) + change["delta"]
            )
            return True
        if k == "death":
            who = change["entity"]
            if self.kind.get(who) != "character" or self.status[who] == "dead":
                return False
            self.status[who] = "dead"
            return True
        if k == "clock":
            self.clock += change["minutes"]
            return True
        if k == "create":
            name, where = change["name"], change.get("location")
            if name.casefold() in {n.casefold() for n in self.kind}:
                return False
            if where is not None and self.kind.get(where) != "location":
                return False
            self.add(change["entity_kind"], name, where)
            return True
        if k == "connect":
            a, b = change["a"], change["b"]
            pair = frozenset((a, b))
            if (
                self.kind.get(a) != "location"
                or self.kind.get(b) != "location"
                or a == b
                or pair in self.links
            ):
                return False
            self.links.add(pair)
            return True
        if k == "check":  # rolled by code; only a living character may make one
            return (
                self.kind.get(change["who"]) == "character" and self.status[change["who"]] != "dead"
            )
        if k == "arc":
            arc, status = change["arc"], change["status"]
            if self.kind.get(arc) != "quest" or self.status[arc] == status:
                return False
            self.status[arc] = status
            return True
        raise ValueError(k)

    def world(self) -> dict[str, Any]:
        return {
            "entities": {
                n: (
                    self.kind[n],
                    self.location[n],
                    self.status[n],
                    dict(sorted(self.stats[n].items())),
                )
                for n in sorted(self.kind)
            },
            "holdings": dict(sorted(self.holdings.items())),
            "relations": dict(sorted(self.relations.items())),
            "links": sorted(tuple(sorted(p)) for p in self.links),
            "clock": self.clock,
        }


def world_by_name(state: Any) -> dict[str, Any]:
    """A stories WorldState in the bookkeeper's terms."""
    name = {n: e.name for n, e in state.entities.items()}
    return {
        "entities": {
            e.name: (
                e.kind,
                name.get(e.location) if e.location is not None else None,
                e.status,
                dict(sorted(e.stats.items())),
            )
            for e in sorted(state.entities.values(), key=lambda e: e.name)
        },
        "holdings": dict(sorted(((name[h], name[i]), q) for (h, i), q in state.holdings.items())),
        "relations": dict(
            sorted(
                ((name[s], name[t], r), rel.strength)
                for (s, t, r), rel in state.relationships.items()
            )
        ),
        "links": sorted(tuple(sorted((name[a], name[b]))) for a, b in state.links),
        "clock": state.clock,
    }


PLACES = ["Harbor", "Market", "Tower", "Chapel", "Mill", "Forest", "Bridge", "Cave"]
PEOPLE = ["Ada", "Bram", "Cora", "Dov", "Esme", "Finn"]
ITEMS = ["Gold coin", "Rope", "Lantern", "Bread", "Key"]
QUESTS = ["Find the crown", "Save the mill", "Map the cave"]


def scripted_changes(rng: random.Random, book: Bookkeeper, turn: int) -> list[dict[str, Any]]:
    people = [n for n, k in book.kind.items() if k == "character"]
    places = [n for n, k in book.kind.items() if k == "location"]
    items = [n for n, k in book.kind.items() if k == "item"]
    changes: list[dict[str, Any]] = []
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        who = rng.choice(people)
        if roll < 0.25:
            to = rng.choice(places) if rng.random() > 0.08 else "Atlantis"
            changes.append({"kind": "move", "entity": who, "to": to})
        elif roll < 0.50:
            item = rng.choice(items)
            giver = rng.choice([None, who, who])
            taker = rng.choice([None, *people, rng.choice(places)])
            changes.append(
                {
                    "kind": "transfer",
                    "item": item,
                    "quantity": rng.randint(1, 4),
                    "from_holder": giver,
                    "to_holder": taker,
                }
            )
        elif roll < 0.65:
            other = rng.choice([*people, "Nobody"] if rng.random() < 0.05 else people)
            changes.append(
                {
                    "kind": "relationship",
                    "source": who,
                    "target": other,
                    "relation": rng.choice(["trusts", "fears"]),
                    "delta": rng.randint(-30, 30),
                }
            )
        elif roll < 0.80:
            changes.append(
                {
                    "kind": "stat",
                    "entity": who,
                    "stat": rng.choice(["hp", "gold"]),
                    "delta": rng.randint(-3, 3),
                }
            )
        elif roll < 0.92:
            changes.append({"kind": "clock", "minutes": rng.randint(5, 120)})
        else:
            a, b = rng.choice(places), rng.choice(places)
            changes.append({"kind": "connect", "a": a, "b": b})
    if turn % 20 == 0:
        changes.append(
            {
                "kind": "create",
                "entity_kind": "character",
                "name": f"Wanderer {turn}",
                "location": rng.choice(places),
            }
        )
        changes.append(
            {
                "kind": "create",
                "entity_kind": "item",
                "name": rng.choice(["Relic", f"Relic {turn}"]),
            }
        )
    if turn % 37 == 0:
        changes.append({"kind": "death", "entity": rng.choice(people)})
    if turn in (60, 130, 190):
        changes.append({"kind": "arc", "arc": QUESTS[(turn // 60) % 3], "status": "resolved"})
    if turn % 5 == 0:  # a check (no draw from rng, so the rest of the script is unchanged)
        who = "Nobody" if turn % 45 == 0 else people[turn % len(people)]
        dice = "2d20kh1+3" if turn % 2 else "3d6"
        changes.append(
            {"kind": "check", "who": who, "what": "a risky thing", "dice": dice, "target": 12}
        )
    return changes


def exactness(turns: int) -> bool:
    from django.contrib.auth.models import User

    from stories import services, world
    from stories.history import campaign_branch, campaign_undo
    from stories.models import Event
    from stories.projection import load_state
    from stories.replay import state_at
    from stories.scripting import StoryScript
    from stories.table.checks import roll_replayed
    from stories.turns import turn_play
    from workspace.runtime import use_runtime
    from workspace.runtime.scripted import ScriptedRuntime

    print(f"\n## Part 1: a scripted campaign of {turns} turns")
    user = User.objects.create_user("bench-dm", password="bench-password-1")
    campaign = services.campaign_create(
        owner=user, title="Bench campaign", rules_notes="Bench rules."
    )
    book = Bookkeeper()
    rng = random.Random(20240601)
    for name in PLACES:
        services.entity_create(
            campaign=campaign,
            user=user,
            change=world.NewEntity(kind="create", entity_kind="location", name=name),
        )
        book.add("location", name)
    for name in PEOPLE:
        where = rng.choice(PLACES)
        services.entity_create(
            campaign=campaign,
            user=user,
            change=world.NewEntity(
                kind="create", entity_kind="character", name=name, location=where
            ),
        )
        book.add("character", name, where)
    for name in ITEMS:
        services.entity_create(
            campaign=campaign,
            user=user,
            change=world.NewEntity(kind="create", entity_kind="item", name=name),
        )
        book.add("item", name)
    for name in QUESTS:
        services.entity_create(
            campaign=campaign,
            user=user,
            change=world.NewEntity(kind="create", entity_kind="quest", name=name),
        )
        book.add("quest", name)
    for holder in PEOPLE:
        change = {
            "kind": "transfer",
            "item": "Gold coin",
            "quantity": 10,
            "from_holder": None,
            "to_holder": holder,
        }
        services.world_change_apply(campaign=campaign, user=user, change=world.Transfer(**change))
        book.predict(change)
    member = campaign.members.select_related("user", "campaign").get(user=user)
    services.member_set_character(member=member, character_number=load_state(campaign).find("Ada"))
    hold_summarizer(campaign)

    story = StoryScript()
    runtime = ScriptedRuntime(story, context_window=32768)
    expected_verdicts: list[list[bool]] = []
    worlds: dict[int, dict[str, Any]] = {0: load_state(campaign).as_dict()}
    book_worlds: dict[int, dict[str, Any]] = {0: book.world()}
    mismatched_turns = []
    started = time.perf_counter()
    with use_runtime(runtime):
        for n in range(1, turns + 1):
            changes = scripted_changes(rng, book, n)
            # A check is asked for before the narration: its verdict is the turn's first.
            check = next((c for c in changes if c["kind"] == "check"), None)
            changes = [c for c in changes if c["kind"] != "check"]
            asked = [check] if check is not None else []
            expected_verdicts.append([book.predict(c) for c in asked + changes])
            story.add(
                f"Turn {n}: the story moves on.",
                changes,
                check={k: v for k, v in check.items() if k != "kind"} if check else None,
            )
            turn = turn_play(campaign=campaign, member=member, action=f"I act ({n}).")
            got = [e.applied for e in turn.events.order_by("sequence")]
            if turn.status != "done" or got != expected_verdicts[-1]:
                mismatched_turns.append(n)
            worlds[n] = load_state(campaign).as_dict()
            book_worlds[n] = book.world()
    elapsed = time.perf_counter() - started
    campaign.refresh_from_db()
    accepted = sum(v for vs in expected_verdicts for v in vs)
    rejected = sum(not v for vs in expected_verdicts for v in vs)
    print(
        f"{turns} turns in {elapsed:.1f} s; {accepted} changes applied, "
        f"{rejected} rejected as predicted"
    )

    checks: list[tuple[str, bool]] = []
    final = load_state(campaign)
    checks.append(("every verdict as the bookkeeper predicted", not mismatched_turns))
    checks.append(("projection == bookkeeper's world", world_by_name(final) == book.world()))
    checks.append(
        ("projection == replay (snapshots)", final.as_dict() == state_at(campaign).as_dict())
    )
    checks.append(
        (
            "projection == replay (no snapshots)",
            final.as_dict() == state_at(campaign, use_snapshots=False).as_dict(),
        )
    )
    checks.append(
        (
            "state as of every turn == the world then",
            all(state_at(campaign, t).as_dict() == worlds[t] for t in range(turns + 1)),
        )
    )
    rolls = list(
        Event.objects.filter(campaign=campaign, kind="check", applied=True).order_by("sequence")
    )
    checks.append(
        (
            f"every one of {len(rolls)} checks re-rolls the same from the campaign's seed",
            bool(rolls)
            and all(
                roll_replayed(campaign_seed=campaign.dice_seed, payload=e.payload)
                == e.payload["total"]
                for e in rolls
            ),
        )
    )
    branch = campaign_branch(campaign=campaign, user=user, at_turn=100)
    checks.append(
        ("branch at 100 == turn 100's world", load_state(branch).as_dict() == worlds[100])
    )
    checks.append(
        (
            "branch at 100 keeps every roll up to turn 100",
            [e.payload for e in rolls if e.turn_number <= 100]
            == [
                e.payload
                for e in Event.objects.filter(campaign=branch, kind="check", applied=True).order_by(
                    "sequence"
                )
            ],
        )
    )
    checks.append(
        (
            "branch at 100 == bookkeeper at 100",
            world_by_name(load_state(branch)) == book_worlds[100],
        )
    )
    campaign_undo(campaign=campaign, member=member, to_turn=100)
    checks.append(
        ("undo to 100 == turn 100's world", load_state(campaign).as_dict() == worlds[100])
    )
    checks.append(
        (
            "undo to 100 == bookkeeper at 100",
            world_by_name(load_state(campaign)) == book_worlds[100],
        )
    )
    for label, ok in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {label}")
    if mismatched_turns:
        print(f"  verdicts differed on turns {mismatched_turns[:10]}")
    return all(ok for _, ok in checks)


# -- part 2: speed ------------------------------------------------------------------------------


def build_big_campaign(
    entities: int, history: int, window: int, *, username: str = "bench-big"
) -> tuple[Any, Any]:
    """A campaign with `entities` entities and `history` finished turns, written in bulk the
    way the turn loop would have written them (events, snapshots, summaries)."""
    from django.contrib.auth.models import User
    from django.utils import timezone
    from pydantic import TypeAdapter

    from stories import services
    from stories.context import count_piece
    from stories.ledger import SNAPSHOT_EVERY
    from stories.models import Campaign, Event, Snapshot, Summary, Turn
    from stories.projection import rebuild
    from stories.state import WorldState
    from stories.validation import validate_and_apply
    from stories.world import Change, NewEntity

    change_of = TypeAdapter(Change).validate_python
    rng = random.Random(7)
    user = User.objects.create_user(username, password="bench-password-2")
    campaign = services.campaign_create(
        owner=user, title="Big campaign", premise="A big world.", rules_notes="Keep it moving."
    )
    state = WorldState()
    events: list[Event] = []
    sequence = 0
    now = timezone.now()

    def record(verdicts: Any, turn_number: int, turn: Any = None) -> None:
        nonlocal sequence
        for v in verdicts:
            sequence += 1
            events.append(
                Event(
                    campaign=campaign,
                    sequence=sequence,
                    turn=turn,
                    turn_number=turn_number,
                    kind=v.kind,
                    source="narration" if turn else "import",
                    payload=v.payload,
                    proposed=v.proposed,
                    applied=v.accepted,
                    reason=v.reason,
                    created_at=now,
                )
            )

    n_places = max(10, entities // 10)
    n_items = max(10, entities // 5)
    n_factions = max(2, entities // 20)
    n_quests = max(2, entities // 20)
    n_people = entities - n_places - n_items - n_factions - n_quests
    places = [f"Place {i}" for i in range(n_places)]
    people = [f"Person {i}" for i in range(n_people)]
    items = [f"Item {i}" for i in range(n_items)]
    creates = [
        NewEntity(
            kind="create", entity_kind="location", name=p, description=f"A place, number {i}."
        )
        for i, p in enumerate(places)
    ]
    creates += [
        NewEntity(
            kind="create",
            entity_kind="character",
            name=p,
            location=rng.choice(places),
            description="A person of the town.",
            stats={"hp": 10},
            traits=["steady"],
        )
        for p in people
    ]
    creates += [NewEntity(kind="create", entity_kind="item", name=i) for i in items]
    creates += [
        NewEntity(kind="create", entity_kind="faction", name=f"Faction {i}")
        for i in range(n_factions)
    ]
    creates += [
        NewEntity(kind="create", entity_kind="quest", name=f"Quest {i}") for i in range(n_quests)
    ]
    setup: list[Any] = [*creates]
    setup += [
        change_of({"kind": "connect", "a": places[i], "b": places[(i + 1) % n_places]})
        for i in range(n_places)
    ]
    setup += [
        change_of(
            {
                "kind": "transfer",
                "item": rng.choice(items),
                "quantity": rng.randint(1, 9),
                "to_holder": p,
            }
        )
        for p in people
    ]
    setup += [
        change_of(
            {
                "kind": "relationship",
                "source": rng.choice(people),
                "target": rng.choice(people),
                "relation": rng.choice(["trusts", "fears", "owes"]),
                "delta": rng.randint(-50, 50),
            }
        )
        for _ in range(entities)
    ]
    record(validate_and_apply(state, setup, turn=0), 0)

    narrations = [
        f"Narration {i}. " + "The town goes about its business while the weather turns. " * 8
        for i in range(20)
    ]
    narration_tokens = [count_piece("assistant", text) for text in narrations]
    turns: list[Any] = []
    snapshots: list[Any] = []
    for n in range(1, history + 1):
        who = rng.choice(people)
        action = f"{who}: I head somewhere new ({n})."
        k = n % len(narrations)
        turn = Turn(
            campaign=campaign,
            number=n,
            status="done",
            actor_label=who,
            action=action.split(": ", 1)[1],
            narration=narrations[k],
            action_tokens=count_piece("user", action),
            narration_tokens=narration_tokens[k],
            prompt_tokens=window // 2,
            context_window=window,
            created_at=now,
            completed_at=now,
        )
        turns.append(turn)
        changes = [
            change_of({"kind": "move", "entity": who, "to": rng.choice(places)}),
            change_of({"kind": "clock", "minutes": 10}),
            change_of(
                {
                    "kind": "transfer",
                    "item": rng.choice(items),
                    "from_holder": who,
                    "to_holder": rng.choice(people),
                }
            ),
        ]
        record(validate_and_apply(state, changes, turn=n), n, turn)
        if n % SNAPSHOT_EVERY == 0:
            snapshots.append(
                Snapshot(campaign=campaign, turn_number=n, sequence=sequence, state=state.as_dict())
            )
    Turn.objects.bulk_create(turns, batch_size=1000)
    Event.objects.bulk_create(events, batch_size=2000)
    Snapshot.objects.bulk_create(snapshots, batch_size=20)
    rebuild(campaign, state)
    # Arc summaries over all but the last 50 turns, as the summarizer leaves a long campaign.
    summarized = max(0, history - 50)
    span = 500
    summaries = [
        Summary(
            campaign=campaign,
            kind="arc",
            first_turn=a,
            last_turn=min(a + span - 1, summarized),
            text=f"Turns {a} on: the town changed hands twice and the quests moved. " * 4,
            token_count=80,
        )
        for a in range(1, summarized + 1, span)
    ]
    Summary.objects.bulk_create(summaries)
    Campaign.objects.filter(pk=campaign.pk).update(
        head_turn=history, last_sequence=sequence, summarized_through=summarized
    )
    hold_summarizer(campaign)
    # Planner statistics, as autovacuum (PostgreSQL) would have gathered them after a
    # bulk load; without them PostgreSQL sorts 10,000 turns to find the newest 64.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    campaign.refresh_from_db()
    member = campaign.members.select_related("user", "campaign").get(user=user)
    services.member_set_character(member=member, character_number=state.find(people[0]))
    member.refresh_from_db()
    return campaign, member


def turn_inserts(campaign: Any, count: int) -> list[float]:
    """The baseline: seconds to insert one bare Turn row, `count` times."""
    from stories.models import Turn

    seconds = []
    for n in range(count):
        start = time.perf_counter()
        row = Turn.objects.create(campaign=campaign, actor_label="bench", action=f"baseline {n}")
        seconds.append(time.perf_counter() - start)
        row.delete()
    return seconds


@contextmanager
def timing(module: Any, name: str, into: dict[str, list[float]]) -> Iterator[None]:
    original = getattr(module, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into.setdefault(name, []).append(time.perf_counter() - start)

    setattr(module, name, timed)
    try:
        yield
    finally:
        setattr(module, name, original)


def speed(entities: int, history: int, measure: int, window: int, *, gc_freeze: bool) -> None:
    from contextlib import ExitStack

    import stories.turns as turns_module
    from stories.scripting import StoryScript
    from stories.turns import turn_play
    from workspace.runtime import use_runtime
    from workspace.runtime.scripted import ScriptedRuntime

    print(
        f"\n## Part 2: per-turn time outside the model, {entities:,} entities, "
        f"{history:,} past turns"
    )
    started = time.perf_counter()
    campaign, member = build_big_campaign(entities, history, window)
    if gc_freeze:  # what a server would do after start-up (gunicorn post_fork)
        gc.collect()
        gc.freeze()
    print(f"(built in {time.perf_counter() - started:.1f} s; window {window:,} tokens)")

    story = StoryScript()
    rng = random.Random(11)
    people = list(campaign.entities.filter(kind="character").values_list("name", flat=True)[:200])
    places = list(campaign.entities.filter(kind="location").values_list("name", flat=True))
    items = list(campaign.entities.filter(kind="item").values_list("name", flat=True))
    for n in range(measure + 3):
        changes = plain_changes(rng, people, places, items)
        who = changes[0]["entity"]
        story.add(
            f"Turn {n}: {who} sets off. " + "The road is long and the rain does not stop. " * 10,
            changes,
            # Every turn asks for a check before its narration (rolled, told, recorded).
            check={"who": who, "what": "keep going", "dice": "2d20kh1+2", "target": 12},
        )
    runtime = TimedRuntime(ScriptedRuntime(story, context_window=window))
    outside: list[float] = []
    inside: list[float] = []
    parts: dict[str, list[float]] = {}
    prompt_tokens: list[int] = []
    with use_runtime(runtime), ExitStack() as stack:
        timed = ("load_state", "turn_request", "pack_turn", "turn_check", "check_ask", "_apply")
        for name in timed:  # check_ask: the check step's model call, inside turn_check
            stack.enter_context(timing(turns_module, name, parts))
        for n in range(measure + 3):
            model_before = runtime.seconds
            start = time.perf_counter()
            turn = turn_play(
                campaign=campaign,
                member=member,
                action=f"I keep going ({n}) with {rng.choice(people)}.",
            )
            total = time.perf_counter() - start
            assert turn.status == "done", turn.error
            if n >= 3:  # warm-up turns (caches, first tokenizer use) are not counted
                inside.append(runtime.seconds - model_before)
                outside.append(total - (runtime.seconds - model_before))
                prompt_tokens.append(turn.prompt_tokens)
    for name in parts:
        parts[name] = parts[name][3:]
    parts["check_outside"] = [
        step - call for step, call in zip(parts["turn_check"], parts["check_ask"], strict=True)
    ]

    baseline = turn_inserts(campaign, max(50, measure))
    base = statistics.median(baseline)
    median, p95 = statistics.median(outside), _percentile(outside, 0.95)
    print(f"\nprompt: median {statistics.median(prompt_tokens):,.0f} tokens of {window:,}")
    print(f"{'':38} {'median':>11} {'p95':>11} {'x baseline':>11}")
    print(
        f"{'baseline: insert one Turn row':38} {_ms(base)} "
        f"{_ms(_percentile(baseline, 0.95))} {1.0:11.1f}"
    )
    print(f"{'per turn, outside the model':38} {_ms(median)} {_ms(p95)} {median / base:11.1f}")
    labels = {
        "load_state": "  load the world (1 per turn)",
        "turn_request": "  relevance + entity cards + summaries",
        "pack_turn": "  pack the prompt (exact Gemma counts)",
        "check_outside": "  check step, outside its model call",
        "_apply": "  validate + apply + write (1 txn)",
    }
    for name, label in labels.items():
        values = parts.get(name, [])
        if values:
            med = statistics.median(values)
            print(f"{label:38} {_ms(med)} {_ms(_percentile(values, 0.95))} {med / base:11.1f}")
    print(
        f"{'inside the model (scripted runtime)':38} {_ms(statistics.median(inside))} "
        f"{_ms(_percentile(inside, 0.95))} {statistics.median(inside) / base:11.1f}"
    )
    verdict = "under" if median < 0.100 else "OVER"
    print(
        f"\nTarget: under 100 ms per turn outside the model -> "
        f"median {median * 1000:.1f} ms ({verdict}), "
        f"p95 {p95 * 1000:.1f} ms"
    )


# -- part 3: rolls and an encounter, replayed --------------------------------------------------


def plain_changes(
    rng: random.Random, people: list[str], places: list[str], items: list[str]
) -> list[dict[str, Any]]:
    """A turn as Part 2 plays it: a move, a gift, a feeling, a refused move, the clock."""
    who = rng.choice(people)
    return [
        {"kind": "move", "entity": who, "to": rng.choice(places)},
        {
            "kind": "transfer",
            "item": rng.choice(items),
            "quantity": 1,
            "from_holder": who,
            "to_holder": rng.choice(people),
        },
        {
            "kind": "relationship",
            "source": who,
            "target": rng.choice(people),
            "relation": "trusts",
            "delta": 5,
        },
        {"kind": "move", "entity": who, "to": "Atlantis"},
        {"kind": "clock", "minutes": 30},
    ]


def table_changes(
    n: int, rng: random.Random, fighters: list[str], places: list[str]
) -> list[dict[str, Any]]:
    """A turn at the table's changes: a move and one step of a six-turn fight between two
    fighters (start, damage and a condition, next, damage to 0 HP, healing, end); its check
    comes before the narration (`table_check`)."""
    a, b = fighters
    step = n % 6
    steps: list[list[dict[str, Any]]] = [
        [{"kind": "encounter", "action": "start", "participants": [a, b]}],
        [
            {"kind": "damage", "entity": b, "amount": 3, "cause": "a cudgel"},
            {"kind": "condition", "entity": b, "add": ["prone"]},
        ],
        [
            {"kind": "encounter", "action": "next"},
            {"kind": "condition", "entity": b, "remove": ["prone"]},
        ],
        [
            {"kind": "damage", "entity": b, "amount": 50},  # 0 HP: unconscious (the default)
            {"kind": "encounter", "action": "next"},
        ],
        [{"kind": "heal", "entity": b, "amount": 10}, {"kind": "encounter", "action": "next"}],
        [{"kind": "encounter", "action": "end"}],
    ]
    fight = steps[step]
    return [
        {"kind": "move", "entity": a, "to": rng.choice(places)},
        *fight,
        {"kind": "clock", "minutes": 1},
    ]


def table_check(n: int, who: str) -> dict[str, Any]:
    """The check a table turn asks for before its narration (the turn's check step)."""
    return {
        "who": who,
        "what": "keep their footing",
        "dice": "2d20kh1+3" if n % 2 else "1d20+2",
        "target": 12,
        "why": "The quay is slick.",
    }


def rolls_replayed(campaign: Any) -> tuple[int, int]:
    """(rolls recorded, rolls that the campaign's seed rolls again the same): every check,
    every page roll, and every participant's initiative (rolled in the order they were
    named, each with the start event's seed plus their place in that list)."""
    from stories.models import Event
    from stories.table.checks import roll_replayed
    from stories.table.dice import dice_roll, roll_seed

    number_of = {name.casefold(): n for n, name in campaign.entities.values_list("number", "name")}
    recorded = same = 0
    events = Event.objects.filter(
        campaign=campaign, applied=True, kind__in=("check", "roll", "encounter")
    ).order_by("sequence")
    for event in events:
        p = event.payload
        if event.kind in ("check", "roll"):
            recorded += 1
            same += roll_replayed(campaign_seed=campaign.dice_seed, payload=p) == p["total"]
        elif p["action"] == "start":
            seed = roll_seed(campaign_seed=campaign.dice_seed, sequence=event.sequence)
            rolled = {row["entity"]: row for row in p["after"]["order"]}
            for index, name in enumerate(event.proposed["participants"]):
                row = rolled[number_of[name.casefold()]]
                recorded += 1
                again = dice_roll(f"1d20{row['bonus']:+d}", seed=seed + index).total
                same += again == row["initiative"]
    return recorded, same


def table_replay(entities: int, history: int, measure: int, window: int) -> bool:
    """Turns with checks, page rolls and a fight against plain turns on the same campaign,
    alternating; then the log replayed must give the live world and every roll exactly."""
    import stories.table.services as table_services
    from stories.projection import load_state
    from stories.replay import state_at
    from stories.scripting import StoryScript
    from stories.turns import turn_play
    from workspace.runtime import use_runtime
    from workspace.runtime.scripted import ScriptedRuntime

    print(
        f"\n## Part 3: turns with rolls and an encounter, {entities:,} entities, "
        f"{history:,} past turns, replayed"
    )
    started = time.perf_counter()
    campaign, member = build_big_campaign(entities, history, window, username="bench-table")
    print(f"(built in {time.perf_counter() - started:.1f} s)")
    rng = random.Random(13)
    people = list(campaign.entities.filter(kind="character").values_list("name", flat=True)[:200])
    places = list(campaign.entities.filter(kind="location").values_list("name", flat=True))
    items = list(campaign.entities.filter(kind="item").values_list("name", flat=True))
    story = StoryScript()
    runtime = TimedRuntime(ScriptedRuntime(story, context_window=window))
    outside: dict[str, list[float]] = {"plain": [], "table": [], "roll": []}
    cpu: dict[str, list[float]] = {"plain": [], "table": []}
    worlds: dict[int, dict[str, Any]] = {}
    refused = 0
    fighters = people[1:3]
    with use_runtime(runtime):
        for n in range(2 * (measure + 3)):
            table = n % 2 == 1
            if table and (n // 2) % 6 == 0:  # a new fight, between two others
                fighters = rng.sample(people[1:], 2)
            changes = (
                table_changes(n // 2, rng, fighters, places)
                if table
                else plain_changes(rng, people, places, items)
            )
            story.add(
                f"Turn {n}. " + "The rain on the quay does not stop. " * 10,
                changes,
                check=table_check(n // 2, fighters[0]) if table else None,
            )
            model_before, model_cpu = runtime.seconds, runtime.cpu_seconds
            start, start_cpu = time.perf_counter(), time.process_time()
            turn = turn_play(campaign=campaign, member=member, action=f"I go on ({n}).")
            total = time.perf_counter() - start
            total_cpu = time.process_time() - start_cpu
            assert turn.status == "done", turn.error
            applied = [e.applied for e in turn.events.order_by("sequence")]
            if table:
                refused += applied.count(False)
                start = time.perf_counter()
                table_services.roll_make(member=member, expression="1d20+1", reason=f"luck {n}")
                roll_time = time.perf_counter() - start
                campaign.refresh_from_db()
                worlds[campaign.head_turn] = load_state(campaign).as_dict()
            if n >= 6:  # warm-up turns are not counted
                outside["table" if table else "plain"].append(
                    total - (runtime.seconds - model_before)
                )
                cpu["table" if table else "plain"].append(
                    total_cpu - (runtime.cpu_seconds - model_cpu)
                )
                if table:
                    outside["roll"].append(roll_time)

    baseline = turn_inserts(campaign, max(50, measure))
    base = statistics.median(baseline)
    plain = statistics.median(outside["plain"])
    with_table = statistics.median(outside["table"])
    print(f"{'':38} {'median':>11} {'p95':>11} {'x baseline':>11}")
    for label, values in (
        ("baseline: insert one Turn row", baseline),
        ("plain turn, outside the model", outside["plain"]),
        ("turn with rolls + fight, outside", outside["table"]),
        ("a roll from the page", outside["roll"]),
        ("plain turn, CPU outside the model", cpu["plain"]),
        ("turn with rolls + fight, CPU outside", cpu["table"]),
    ):
        med = statistics.median(values)
        print(f"{label:38} {_ms(med)} {_ms(_percentile(values, 0.95))} {med / base:11.1f}")
    with_table_cpu = statistics.median(cpu["table"])
    print(
        f"turn with rolls + fight / plain turn: {with_table / plain:.2f}x wall clock, "
        f"{with_table_cpu / statistics.median(cpu['plain']):.2f}x CPU"
    )

    campaign.refresh_from_db()
    live = load_state(campaign).as_dict()
    start = time.perf_counter()
    replayed = state_at(campaign, use_snapshots=False).as_dict()
    replay_seconds = time.perf_counter() - start
    recorded, same = rolls_replayed(campaign)
    checks = [
        ("every table change applied", refused == 0),
        ("live world == replay (snapshots)", live == state_at(campaign).as_dict()),
        ("live world == replay (no snapshots)", live == replayed),
        (
            f"state as of each of {len(worlds)} table turns == the world then",
            all(state_at(campaign, t).as_dict() == w for t, w in worlds.items()),
        ),
        (f"every one of {recorded} rolls re-rolls the same from the seed", recorded == same > 0),
    ]
    print(f"replay of the whole log ({campaign.last_sequence:,} events): {_ms(replay_seconds)}")
    for label, ok in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {label}")
    verdict = "under" if with_table < 0.100 else "OVER"
    print(
        f"\nTarget: under 100 ms per turn outside the model with rolls and a fight -> "
        f"median {with_table * 1000:.1f} ms ({verdict}); "
        f"CPU {with_table_cpu * 1000:.1f} ms ({'under' if with_table_cpu < 0.100 else 'OVER'})"
    )
    return all(ok for _, ok in checks)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--turns", type=int, default=240)
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--history", type=int, default=10000)
    parser.add_argument("--measure", type=int, default=50)
    parser.add_argument("--window", type=int, default=32768)
    parser.add_argument("--skip-exactness", action="store_true")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() before measuring: the p95 tail is mostly full garbage collections",
    )
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-table", action="store_true")
    args = parser.parse_args(argv)

    os.environ.setdefault("CARREL_VAR_DIR", tempfile.mkdtemp(prefix="carrel-bench-stories-"))
    os.environ["CARREL_BACKEND"] = "scripted"
    setup_django()
    import logging

    from django.db import connection

    logging.getLogger("celery").setLevel(logging.ERROR)
    database = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    print(f"database: {connection.vendor} ({database})")
    ok = True
    try:
        if not args.skip_exactness:
            ok = exactness(args.turns)
        if not args.skip_speed:
            speed(args.entities, args.history, args.measure, args.window, gc_freeze=args.gc_freeze)
        if not args.skip_table:
            ok = table_replay(args.entities, args.history, args.measure, args.window) and ok
    finally:
        connection.creation.destroy_test_db(database, verbosity=0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
