"""Validating structured (JSON-schema) answers, shared by every backend."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from workspace.runtime.errors import InvalidModelOutput
from workspace.runtime.types import SchemaT


def json_schema_for(schema: type[BaseModel]) -> dict[str, Any]:
    return schema.model_json_schema()


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
