r"""No regular expression in Carrel's apps can backtrack badly on user, document or model text.

Every pattern literal passed to the `re` module in workspace/, research/ and stories/ is
parsed and checked for the shapes that make a backtracking engine slow: a quantifier inside
a repeated group (`(a+)+`), and two quantifiers that can meet (`\s*\s*`, or `\s*(?:x)?\s*`
when the group is skipped), unless both are bounded (`\d{1,4}-?`). Patterns built at run
time from escaped words are counted per module: a new one must be audited and given a
pathological test (tests/research/test_hostile_text.py) before its count is raised here.

The rule does not see every slow search: the old cloze pattern `\{\{c\d+::.+?\}\}` has no
adjacent quantifiers, yet searching text full of unclosed `{{c1::` scanned to the end from
each one. Such scans are what the pathological tests in test_hostile_text.py are for.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from re import _constants as sre_constants  # type: ignore[attr-defined]  # re.compile parses with these
from re import _parser as sre_parse  # type: ignore[attr-defined]

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("workspace", "research", "stories")
RE_FUNCTIONS = {"compile", "search", "match", "fullmatch", "sub", "subn", "split", "findall"}
RE_FUNCTIONS |= {"finditer"}
REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
REPEATS |= {getattr(sre_constants, "POSSESSIVE_REPEAT", sre_constants.MAX_REPEAT)}
UNBOUNDED = sre_constants.MAXREPEAT

# Patterns built at run time, each from escaped words joined by a fixed separator (audited:
# every quantifier sits between literals), per module.
DYNAMIC_PATTERNS = {
    "research/study/generators/flashcards.py": 1,  # re.escape(term), on a 300-character front
    "research/library/reading.py": 2,  # words joined by (?:-\s+|\s+); terms then \w*; both capped
    "research/library/document_summary.py": 1,  # up to 8 words joined by \s+
    "stories/cards.py": 1,  # (?<!\w)key(?!\w): a literal between lookarounds
    "workspace/runtime/ollama.py": 1,  # re.escape("<start_of_turn>")
}


@dataclass
class _Shape:
    leading: list[tuple[int, int]] = field(default_factory=list)  # (min, max) of repeats
    trailing: list[tuple[int, int]] = field(default_factory=list)
    nullable: bool = False


def _meet(left: list[tuple[int, int]], right: list[tuple[int, int]], problems: list[str]) -> None:
    for a in left:
        for b in right:
            if UNBOUNDED in (a[1], b[1]):
                problems.append(f"adjacent quantifiers {a} and {b}")


def _sequence(items: list, problems: list[str]) -> _Shape:
    shape = _Shape(nullable=True)
    open_trailing: list[tuple[int, int]] = []
    for op, av in items:
        item = _item(op, av, problems)
        _meet(open_trailing, item.leading, problems)
        if shape.nullable:
            shape.leading += item.leading
        shape.nullable = shape.nullable and item.nullable
        open_trailing = item.trailing + (open_trailing if item.nullable else [])
    shape.trailing = open_trailing
    return shape


def _item(op, av, problems: list[str]) -> _Shape:
    if op in REPEATS:
        low, high, sub = av
        inner = _widest_repeat(sub)
        if high > 1 and inner > 1 and UNBOUNDED in (high, inner):
            problems.append(f"a quantifier inside a repeated group ({low}, {high})")
        nullable = _sequence(list(sub), problems).nullable
        bounds = [(low, high)]
        return _Shape(bounds, bounds, low == 0 or nullable)
    if op == sre_constants.SUBPATTERN:
        return _sequence(list(av[-1]), problems)
    if op == sre_constants.BRANCH:
        shapes = [_sequence(list(branch), problems) for branch in av[1]]
        return _Shape(
            [r for s in shapes for r in s.leading],
            [r for s in shapes for r in s.trailing],
            any(s.nullable for s in shapes),
        )
    if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
        _sequence(list(av[1]), problems)
        return _Shape(nullable=True)
    if op == sre_constants.AT:
        return _Shape(nullable=True)
    return _Shape()  # a literal, a class, any character: quantifiers on each side never meet


def _widest_repeat(sub) -> int:
    """The largest upper bound of any quantifier inside `sub` (0 when there is none)."""
    widest = 0
    for op, av in sub:
        if op in REPEATS:
            widest = max(widest, av[1], _widest_repeat(av[2]))
        elif op == sre_constants.SUBPATTERN:
            widest = max(widest, _widest_repeat(av[-1]))
        elif op == sre_constants.BRANCH:
            widest = max([widest, *(_widest_repeat(branch) for branch in av[1])])
    return widest


def pattern_problems(pattern: str) -> list[str]:
    """Why `pattern` can backtrack badly ([] when it cannot)."""
    problems: list[str] = []
    _sequence(list(sre_parse.parse(pattern)), problems)
    return problems


def _pattern_calls() -> tuple[list[tuple[str, int, str]], dict[str, int]]:
    literal: list[tuple[str, int, str]] = []
    dynamic: dict[str, int] = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = str(path.relative_to(ROOT))
            for node in ast.walk(ast.parse(path.read_text())):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "re"
                    and node.func.attr in RE_FUNCTIONS
                    and node.args
                ):
                    continue
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    literal.append((name, node.lineno, first.value))
                else:
                    dynamic[name] = dynamic.get(name, 0) + 1
    return literal, dynamic


LITERAL, DYNAMIC = _pattern_calls()


@pytest.mark.parametrize(
    ("module", "line", "pattern"), LITERAL, ids=[f"{m}:{n}" for m, n, _ in LITERAL]
)
def test_no_pattern_in_the_apps_can_backtrack_badly(module, line, pattern):
    assert pattern_problems(pattern) == [], f"{module}:{line} {pattern!r}"


def test_every_pattern_built_at_run_time_has_been_audited():
    assert DYNAMIC == DYNAMIC_PATTERNS


def test_the_audit_finds_the_patterns_that_hung_workers():
    """The patterns this audit replaced, each of which a hostile input made hang."""
    replaced = [
        r"^ {0,3}(#{1,6})\s+(.+?)\s*#*\s*$",  # Markdown heading: cubic
        r"^title:\s*[\"']?(.+?)[\"']?\s*$",  # front-matter title: quadratic
        r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5}))?\s*$",  # page list
        r"^\s*(?P<title>.+?)\s*,\s*(?:pp?\.|pages?)\s*(?P<start>\d{1,5})"
        r"(?:\s*(?:-|\u2013|\u2014|to)\s*(?P<end>\d{1,5}))?\s*$",  # citation
        r"\S+\s*",
        r"(a+)+$",
    ]
    for pattern in replaced:
        assert pattern_problems(pattern), pattern
    for fine in [r"\s+", r"\n\s*\n", r"^(-?)(\d{1,4})(?:-(\d{2}))?$", r"(?<=[.!?])\s+(?=\S)"]:
        assert pattern_problems(fine) == [], fine
    assert re.compile(r"\[pp?\.\s{0,3}(\d{1,5})\]").pattern  # bounded neighbours are fine
