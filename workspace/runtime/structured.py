"""Structured (JSON-schema) answers, shared by every backend: the schema a model server is
sent, and the validation of what comes back.

A model server turns the schema into a grammar (llama.cpp's GBNF, in-process or inside
Ollama), and every length or count bound becomes a repetition that grammar has to spell
out: `maxLength: 2000` is two thousand nested rules, which llama.cpp refuses ("number of
rules that are going to be repeated multiplied by the new repetition exceeds sane
defaults"), and llama-cpp-python then sampled through the grammar it failed to build and
crashed the process. So the server gets a simpler schema, the *shape* (types, properties,
required, enums, constants, unions, references) with only small bounds, and the pydantic
model validates the answer in full: anything the grammar let through that the model does
not accept is an InvalidModelOutput, which callers already retry or report.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from workspace.runtime.errors import InvalidModelOutput
from workspace.runtime.types import SchemaT

# A bound up to this many repetitions stays in the grammar: it keeps a weak model's lists
# short and its names non-empty, and costs a few dozen rules. Larger ones are left to
# pydantic (llama.cpp's parser refuses a single repetition of about a thousand).
MAX_GRAMMAR_REPEAT = 32

# Keywords that describe the shape; everything else (descriptions, defaults, numeric
# ranges, discriminator hints, titles) is dropped.
_SHAPE_KEYWORDS = frozenset(
    {"type", "required", "enum", "const", "$ref", "additionalProperties", "items"}
)
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SCHEMA_MAPS = frozenset({"properties", "$defs"})
_BOUNDS = frozenset({"minItems", "maxItems", "minLength", "maxLength"})
_STRING_RULES = frozenset({"pattern", "format"})


def json_schema_for(schema: type[BaseModel]) -> dict[str, Any]:
    """The schema pydantic validates against (what the model is asked for, in full)."""
    return schema.model_json_schema()


def grammar_schema(schema: type[BaseModel], *, bounded: bool = True) -> dict[str, Any]:
    """The schema to constrain generation with: the shape of `schema`, plus (when
    `bounded`) its repetition bounds of at most MAX_GRAMMAR_REPEAT and its string patterns
    and formats. `bounded=False` is the shape alone, the fallback that any llama.cpp can
    compile whatever the patterns are."""
    return _simplify(json_schema_for(schema), bounded=bounded)


def _simplify(node: Any, *, bounded: bool) -> Any:
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _simplify(sub, bounded=bounded) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_simplify(sub, bounded=bounded) for sub in value]
        elif key in {"items", "additionalProperties"}:
            out[key] = _simplify(value, bounded=bounded)
        elif key in _SHAPE_KEYWORDS:
            out[key] = value
        elif bounded and key in _BOUNDS:
            if isinstance(value, int) and 0 < value <= MAX_GRAMMAR_REPEAT:
                out[key] = value
        elif bounded and key in _STRING_RULES:
            out[key] = value
    return out


def grammar_candidates(schema: type[BaseModel]) -> list[str]:
    """llama.cpp GBNF grammars for `schema`, best first: the bounded schema's, then the
    shape alone. The model process uses the first one llama.cpp compiles."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    grammars: list[str] = []
    for bounded in (True, False):
        try:
            grammar = json_schema_to_gbnf(json.dumps(grammar_schema(schema, bounded=bounded)))
        except (AssertionError, KeyError, ValueError, RecursionError):
            continue  # a pattern or keyword the converter cannot express: try the next
        if grammar not in grammars:
            grammars.append(grammar)
    return grammars


def parse_structured(raw: str, schema: type[SchemaT]) -> SchemaT:
    """The model's text as a validated instance, or InvalidModelOutput carrying the raw text."""
    text = raw.strip()
    if text.startswith("```"):
        # Some models fence JSON even when a format is enforced; accept that one habit.
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidModelOutput(f"The model did not return valid JSON ({exc.msg}).", raw) from exc
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise InvalidModelOutput(
            f"The model's JSON does not match the expected shape: {problems}", raw
        ) from exc
