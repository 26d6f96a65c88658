"""A picture of the world: places and their paths, and who stands how with whom.

Everything here is computed from a `WorldState` (the world now, or as of any turn through
`stories.replay.state_at`), so the picture always agrees with the lists. The layout is
computed in Python and is deterministic: the same world gives the same picture. Places are
laid out by a Fruchterman-Reingold force layout (numpy, a fixed number of steps, starting
from a circle in entity-number order); past FORCE_LAYOUT_MAX places they are placed on a
grid in breadth-first order, which keeps neighbours near each other without the O(n²)
steps. Characters and factions sit on a circle in kind and name order, their
relationships drawn as arrows whose colour class says how strong they are. The template
turns these coordinates into inline SVG (no script; colours come from the theme's CSS
variables through classes), and the same data fills the text alternative's tables.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from dataclasses import dataclass, field

import numpy as np

from stories.state import WorldState

FORCE_LAYOUT_MAX = 200  # places; more are laid out on a grid (200: about 0.1 s)
FORCE_STEPS = 120
PEOPLE_MAX = 120  # characters and factions drawn in the relationships picture
HERE_SHOWN = 3  # names written under a place in the picture (the table lists all)
WIDTH = 960
MARGIN = 70
PEOPLE_KINDS = ("character", "faction")
STRENGTH_CLASSES = (
    ("rel-strong-neg", "\u2212100 to \u221250: hostile"),
    ("rel-neg", "\u221249 to \u22121: cool"),
    ("rel-zero", "0: neutral"),
    ("rel-pos", "1 to 49: warm"),
    ("rel-strong-pos", "50 to 100: devoted"),
)


def strength_class(strength: int) -> str:
    if strength <= -50:
        return "rel-strong-neg"
    if strength < 0:
        return "rel-neg"
    if strength == 0:
        return "rel-zero"
    return "rel-pos" if strength < 50 else "rel-strong-pos"


@dataclass(frozen=True)
class MapNode:
    number: int
    name: str
    kind: str
    x: float
    y: float
    here_label: str = ""  # who and what is here, shortened, for the picture


@dataclass(frozen=True)
class MapPath:
    a: str
    b: str
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class MapRelation:
    source: str
    target: str
    relation: str
    strength: int
    css: str
    d: str  # the SVG path, curved so A→B and B→A do not overlap


@dataclass(frozen=True)
class PlaceRow:
    number: int
    name: str
    connects: list[str]
    here: list[tuple[str, str]]  # (name, kind)
    holds: list[tuple[str, int]]  # (item, quantity)


@dataclass
class WorldMap:
    places: list[MapNode] = field(default_factory=list)
    paths: list[MapPath] = field(default_factory=list)
    places_height: int = 0
    place_rows: list[PlaceRow] = field(default_factory=list)
    people: list[MapNode] = field(default_factory=list)
    relations: list[MapRelation] = field(default_factory=list)
    people_height: int = 0
    people_left_out: int = 0
    width: int = WIDTH
    legend: tuple[tuple[str, str], ...] = STRENGTH_CLASSES


def _circle(n: int) -> np.ndarray:
    angles = np.arange(n) * (2 * math.pi / max(n, 1)) - math.pi / 2
    return np.stack([np.cos(angles), np.sin(angles)], axis=1) * 0.5


def force_layout(n: int, edges: list[tuple[int, int]], *, steps: int = FORCE_STEPS) -> np.ndarray:
    """Positions (n by 2, roughly within [-1, 1]) for nodes 0..n-1 joined by `edges`."""
    pos = _circle(n)
    if n < 3:
        return pos
    k = math.sqrt(1.0 / n)
    a = np.array([e[0] for e in edges], dtype=int)
    b = np.array([e[1] for e in edges], dtype=int)
    for step in range(steps):
        x, y = pos[:, 0], pos[:, 1]
        dx = x[:, None] - x[None, :]
        dy = y[:, None] - y[None, :]
        push = dx * dx
        push += dy * dy
        np.maximum(push, 1e-6, out=push)
        np.divide(k * k, push, out=push)
        disp = np.stack([(dx * push).sum(axis=1), (dy * push).sum(axis=1)], axis=1)
        if len(edges):
            d = pos[a] - pos[b]
            length = np.maximum(np.linalg.norm(d, axis=1), 1e-3)
            pull = d * (length / k)[:, None]
            np.add.at(disp, a, -pull)
            np.add.at(disp, b, pull)
        temperature = 0.1 * (1 - step / steps) + 0.002
        size = np.maximum(np.linalg.norm(disp, axis=1), 1e-9)
        pos = pos + disp / size[:, None] * np.minimum(size, temperature)[:, None]
    return pos


def grid_layout(n: int, edges: list[tuple[int, int]]) -> np.ndarray:
    """Positions on a grid, in breadth-first order from the lowest-numbered place of each
    group of connected places, so paths mostly join nearby cells."""
    neighbours: dict[int, list[int]] = defaultdict(list)
    for x, y in edges:
        neighbours[x].append(y)
        neighbours[y].append(x)
    order: list[int] = []
    seen: set[int] = set()
    for start in range(n):
        if start in seen:
            continue
        seen.add(start)
        queue = deque([start])
        while queue:
            node = queue.popleft()
            order.append(node)
            for other in sorted(neighbours[node]):
                if other not in seen:
                    seen.add(other)
                    queue.append(other)
    columns = max(1, math.ceil(math.sqrt(n)))
    pos = np.zeros((n, 2))
    for cell, node in enumerate(order):
        pos[node] = (cell % columns, cell // columns)
    return pos


def _fit(pos: np.ndarray, *, height: int) -> list[tuple[float, float]]:
    """Positions scaled into the picture, keeping the aspect ratio, rounded to 0.1."""
    if len(pos) == 0:
        return []
    low, high = pos.min(axis=0), pos.max(axis=0)
    span = np.maximum(high - low, 1e-9)
    inner = np.array([WIDTH - 2 * MARGIN, height - 2 * MARGIN], dtype=float)
    scale = float(np.min(inner / span))
    centred = (pos - low) * scale + (inner - span * scale) / 2 + MARGIN
    return [(round(float(x), 1), round(float(y), 1)) for x, y in centred]


def _height(count: int) -> int:
    return int(min(2400, max(420, 160 * math.ceil(math.sqrt(max(count, 1))))))


def _short(names: list[str]) -> str:
    shown = ", ".join(names[:HERE_SHOWN])
    more = len(names) - HERE_SHOWN
    return f"{shown} +{more}" if more > 0 else shown


def _places(state: WorldState, world: WorldMap) -> None:
    numbers = sorted(n for n, e in state.entities.items() if e.kind == "location")
    index = {number: i for i, number in enumerate(numbers)}
    links = sorted((a, b) for a, b in state.links if a in index and b in index)
    edges = [(index[a], index[b]) for a, b in links]
    here: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for entity in sorted(state.entities.values(), key=lambda e: e.name.casefold()):
        if entity.location in index:
            here[entity.location].append((entity.name, entity.kind))
    holds: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for (holder, item), quantity in sorted(state.holdings.items()):
        if holder in index and item in state.entities:
            holds[holder].append((state.entities[item].name, quantity))
    layout = (
        force_layout(len(numbers), edges)
        if len(numbers) <= FORCE_LAYOUT_MAX
        else grid_layout(len(numbers), edges)
    )
    world.places_height = _height(len(numbers))
    points = _fit(layout, height=world.places_height)
    for number, (x, y) in zip(numbers, points, strict=True):
        entity = state.entities[number]
        label = _short([name for name, _kind in here[number]] + [n for n, _q in holds[number]])
        world.places.append(MapNode(number, entity.name, entity.kind, x, y, label))
        world.place_rows.append(
            PlaceRow(
                number=number,
                name=entity.name,
                connects=sorted(
                    (state.entities[o].name for o in state.neighbours(number) if o in index),
                    key=str.casefold,
                ),
                here=here[number],
                holds=holds[number],
            )
        )
    world.place_rows.sort(key=lambda row: row.name.casefold())
    for a, b in links:
        (x1, y1), (x2, y2) = points[index[a]], points[index[b]]
        world.paths.append(MapPath(state.entities[a].name, state.entities[b].name, x1, y1, x2, y2))


def _curve(x1: float, y1: float, x2: float, y2: float, *, gap: float = 14.0) -> str:
    """A path from one node's edge to the other's, bent to its right."""
    dx, dy = x2 - x1, y2 - y1
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    sx, sy = x1 + ux * gap, y1 + uy * gap
    ex, ey = x2 - ux * gap, y2 - uy * gap
    bend = min(40.0, length * 0.15)
    cx, cy = (sx + ex) / 2 - uy * bend, (sy + ey) / 2 + ux * bend
    return f"M{sx:.1f},{sy:.1f} Q{cx:.1f},{cy:.1f} {ex:.1f},{ey:.1f}"


def _people(state: WorldState, world: WorldMap) -> None:
    involvement: dict[int, int] = defaultdict(int)
    for source, target, _relation in state.relationships:
        for number in (source, target):
            if state.entities[number].kind in PEOPLE_KINDS:
                involvement[number] += 1
    ranked = sorted(involvement, key=lambda n: (-involvement[n], n))
    chosen = ranked[:PEOPLE_MAX]
    world.people_left_out = len(ranked) - len(chosen)
    numbers = sorted(
        chosen,
        key=lambda n: (
            PEOPLE_KINDS.index(state.entities[n].kind),
            state.entities[n].name.casefold(),
        ),
    )
    index = {number: i for i, number in enumerate(numbers)}
    world.people_height = _height(len(numbers)) if numbers else 0
    points = _fit(_circle(len(numbers)), height=world.people_height) if numbers else []
    if len(numbers) == 1:
        points = [(WIDTH / 2, world.people_height / 2)]
    for number, (x, y) in zip(numbers, points, strict=True):
        entity = state.entities[number]
        world.people.append(MapNode(number, entity.name, entity.kind, x, y))
    for (source, target, relation), rel in sorted(state.relationships.items()):
        if source not in index or target not in index:
            continue
        (x1, y1), (x2, y2) = points[index[source]], points[index[target]]
        world.relations.append(
            MapRelation(
                source=state.entities[source].name,
                target=state.entities[target].name,
                relation=relation,
                strength=rel.strength,
                css=strength_class(rel.strength),
                d=_curve(x1, y1, x2, y2),
            )
        )


def world_map(state: WorldState) -> WorldMap:
    world = WorldMap()
    _places(state, world)
    _people(state, world)
    return world
