"""One line of plain English per event, for the story page, the timeline and the chronicle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Names = Mapping[int, str]


def _n(names: Names, number: Any) -> str:
    if number is None:
        return "nowhere"
    return names.get(int(number), f"#{number}")


def _quantity(q: int, item: str) -> str:
    return f"{q} {item}" if q != 1 else item


def describe_applied(kind: str, p: dict[str, Any], names: Names) -> str:
    describe: dict[str, Callable[[], str]] = {
        "create": lambda: (
            f"New {p['entity_kind']}: {p['name']}"
            + (f" at {_n(names, p['location'])}" if p.get("location") is not None else "")
        ),
        "edit": lambda: f"{_n(names, p['entity'])} edited by hand ({', '.join(sorted(p['set']))})",
        "move": lambda: (
            f"{_n(names, p['entity'])} moved"
            + (f" from {_n(names, p['from'])}" if p.get("from") is not None else "")
            + f" to {_n(names, p['to'])}"
        ),
        "transfer": lambda: _transfer(p, names),
        "relationship": lambda: (
            f"{_n(names, p['source'])} → {_n(names, p['target'])}: "
            f"{p['relation']} {p['delta']:+d} (now {p['strength']:+d})"
            + (f" — {p['note']}" if p.get("note") else "")
        ),
        "stat": lambda: f"{_n(names, p['entity'])}: {p['stat']} {p['delta']:+d} (now {p['value']})",
        "status": lambda: f"{_n(names, p['entity'])} is now {p['status']}",
        "death": lambda: (
            f"{_n(names, p['entity'])} died" + (f": {p['cause']}" if p.get("cause") else "")
        ),
        "traits": lambda: _tags("traits", p, names),
        "goals": lambda: _tags("goals", p, names),
        "connect": lambda: f"{_n(names, p['a'])} and {_n(names, p['b'])} are now connected",
        "disconnect": lambda: (
            f"{_n(names, p['a'])} and {_n(names, p['b'])} are no longer connected"
        ),
        "clock": lambda: f"{p['minutes']} minutes passed",
        "arc": lambda: (
            f"{_n(names, p['arc'])}"
            + (f" is now {p['status']}" if p.get("status") else "")
            + (f": {p['note']}" if p.get("note") else "")
        ),
        "encounter": lambda: _encounter(p, names),
        "condition": lambda: (
            f"{_n(names, p['entity'])}"
            + (f" is now {', '.join(p['add'])}" if p.get("add") else "")
            + (" and" if p.get("add") and p.get("remove") else "")
            + (f" is no longer {', '.join(p['remove'])}" if p.get("remove") else "")
        ),
        "damage": lambda: _hit_points("lost", p, names),
        "heal": lambda: _hit_points("regained", p, names),
        "check": lambda: roll_line(kind, p, names, shown=p.get("public", True) is not False),
        "roll": lambda: roll_line(kind, p, names, shown=p.get("public", True) is not False),
    }
    try:
        return describe[kind]()
    except (KeyError, TypeError, ValueError):
        return f"{kind}: {p}"


def _encounter(p: dict[str, Any], names: Names) -> str:
    after: dict[str, Any] = p.get("after") or {}
    if p["action"] == "end":
        return f"The encounter ended after {p['round']} rounds"
    current = _n(names, after["order"][after["turn"]]["entity"])
    if p["action"] == "start":
        order = ", ".join(f"{_n(names, x['entity'])} {x['initiative']}" for x in after["order"])
        return f"An encounter began; initiative: {order}. {current} acts first"
    return f"Round {after['round']}: {current}'s turn"


def _hit_points(verb: str, p: dict[str, Any], names: Names) -> str:
    line = f"{_n(names, p['entity'])} {verb} {p['amount']} hp (now {p['hp']})"
    if p.get("status"):
        line += f" and is {p['status']}"
    return line + (f": {p['cause']}" if p.get("cause") else "")


def roll_line(kind: str, p: dict[str, Any], names: Names, *, shown: bool) -> str:
    """A check or a table roll; `shown` False (a private roll, to someone who may not see
    it) says only that one was made."""
    who = _n(names, p["entity"]) if p.get("entity") is not None else str(p.get("who", ""))
    if not shown:
        return f"{who} rolled in private"
    if kind == "check":
        verdict = "success" if p["success"] else "failure"
        return f"{who} checks {p['what']}: {p['detail']} against {p['target']}: {verdict}" + (
            f" ({p['why']})" if p.get("why") else ""
        )
    return f"{who} rolled {p['detail']}" + (f" for {p['reason']}" if p.get("reason") else "")


def _transfer(p: dict[str, Any], names: Names) -> str:
    what = _quantity(int(p["quantity"]), _n(names, p["item"]))
    if p.get("from") is None:
        return f"{_n(names, p['to'])} gained {what}"
    if p.get("to") is None:
        return f"{_n(names, p['from'])} lost {what}"
    return f"{_n(names, p['from'])} gave {what} to {_n(names, p['to'])}"


def _tags(label: str, p: dict[str, Any], names: Names) -> str:
    parts = []
    if p.get("add"):
        parts.append("gains " + ", ".join(p["add"]))
    if p.get("remove"):
        parts.append("loses " + ", ".join(p["remove"]))
    return f"{_n(names, p['entity'])} {' and '.join(parts)} ({label})"


def describe_proposed(kind: str, proposed: dict[str, Any]) -> str:
    """A change as it was proposed (a rejected one), in the model's own names."""
    p = proposed
    q = p.get("quantity", 1)
    describe: dict[str, Callable[[], str]] = {
        "move": lambda: f"{p['entity']} moves to {p['to']}",
        "transfer": lambda: (
            f"{p['from_holder']} gives {_quantity(q, p['item'])} to {p['to_holder']}"
            if p.get("from_holder") and p.get("to_holder")
            else f"{p['from_holder']} loses {_quantity(q, p['item'])}"
            if p.get("from_holder")
            else f"{p.get('to_holder')} gains {_quantity(q, p['item'])}"
        ),
        "relationship": lambda: f"{p['source']} → {p['target']}: {p['relation']} {p['delta']:+d}",
        "stat": lambda: f"{p['entity']}: {p['stat']} {p['delta']:+d}",
        "status": lambda: f"{p['entity']} becomes {p['status']}",
        "death": lambda: f"{p['entity']} dies",
        "traits": lambda: f"{p['entity']}: traits +{p.get('add', [])} -{p.get('remove', [])}",
        "goals": lambda: f"{p['entity']}: goals +{p.get('add', [])} -{p.get('remove', [])}",
        "create": lambda: (
            f"New {p['entity_kind']}: {p['name']}"
            + (f" at {p['location']}" if p.get("location") else "")
        ),
        "connect": lambda: f"{p['a']} and {p['b']} connected",
        "encounter": lambda: (
            f"Encounter {p['action']}"
            + (f" with {', '.join(p['participants'])}" if p.get("participants") else "")
        ),
        "condition": lambda: (
            f"{p['entity']}: conditions +{p.get('add', [])} -{p.get('remove', [])}"
        ),
        "damage": lambda: f"{p['entity']} takes {p['amount']} damage",
        "heal": lambda: f"{p['entity']} heals {p['amount']}",
        "check": lambda: f"{p['who']} checks {p['what']} with {p['dice']} against {p['target']}",
        "clock": lambda: f"{p['minutes']} minutes pass",
        "arc": lambda: (
            f"{p['arc']}"
            + (f" becomes {p['status']}" if p.get("status") else "")
            + (f": {p['note']}" if p.get("note") else "")
        ),
    }
    try:
        return describe[kind]()
    except (KeyError, TypeError, ValueError):
        fields = ", ".join(
            f"{k}={v!r}" for k, v in p.items() if k != "kind" and v not in ("", None, [], {})
        )
        return f"{kind}: {fields}"


def describe_event(event: Any, names: Names) -> str:
    if event.applied:
        return describe_applied(event.kind, event.payload, names)
    return describe_proposed(event.kind, event.proposed or event.payload)
