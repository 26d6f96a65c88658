"""Every structured-output schema in Carrel, against llama.cpp's grammar compiler and the
real embedded model: a grammar that compiles, and an answer or a clean InvalidModelOutput."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import llama_cpp
import pytest
from django.utils.module_loading import import_string
from llama_cpp.llama_grammar import json_schema_to_gbnf
from pydantic import BaseModel, Field

from workspace.runtime.embedded import EmbeddedRuntime, packaged_gguf_path
from workspace.runtime.errors import InvalidModelOutput
from workspace.runtime.structured import (
    MAX_GRAMMAR_REPEAT,
    grammar_candidates,
    grammar_schema,
    json_schema_for,
)
from workspace.runtime.tokenizer import get_tokenizer
from workspace.runtime.types import Message

# A prompt's worth of sources, as research.study.generators.base.Part describes them to a schema:
# every title and page a citation may name (the largest study jobs cite many).
PART = SimpleNamespace(
    titles={i: f"Source number {i}" for i in range(1, 21)}, pages=list(range(1, 121))
)

# Every schema passed to runtime.structured(...), by dotted path: a pydantic model, or a
# factory called with the keyword arguments given (at the forms' largest counts).
STRUCTURED_SCHEMAS: dict[str, dict[str, Any]] = {
    "stories.world.ChangeSet": {},
    "stories.world.ProposedEntities": {},
    "research.study.generators.digests.digest_schema": {"part": PART},
    "research.study.generators.flashcards.card_schema": {
        "part": PART,
        "count": 30,
        "kinds": "both",
    },
    "research.study.generators.timelines.event_schema": {"part": PART, "count": 40},
    "research.study.generators.comparisons.cell_schema": {
        "part": PART,
        "aspects": [f"aspect {i}" for i in range(1, 13)],
    },
}

SOURCE = (
    "[Source number 1, p. 3]\nIn 1854 John Snow mapped cholera deaths around the Broad "
    "Street pump in London. Removing the pump handle ended the outbreak. Ada, a nurse, "
    "carried the map to the Tavern of the Seven Bells and gave it to the inspector."
)


def load_schema(path: str) -> type[BaseModel]:
    found = import_string(path)
    kwargs = STRUCTURED_SCHEMAS[path]
    schema: type[BaseModel] = found(**kwargs) if kwargs else found
    return schema


def compiles(grammar: str) -> bool:
    """llama.cpp's own grammar parser (what the model process runs before sampling)."""
    vocab = get_tokenizer()._vocab
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True


class Bounded(BaseModel):
    name: str = Field(min_length=1, max_length=2000)
    code: str = Field(pattern=r"^[A-Z]{3}$")
    tags: list[str] = Field(min_length=1, max_length=5)
    notes: list[str] = Field(max_length=500)
    count: int = Field(ge=0, le=10)


def test_the_grammar_schema_keeps_the_shape_and_only_small_bounds():
    sent = grammar_schema(Bounded)
    full = json_schema_for(Bounded)
    assert sent["required"] == full["required"]
    props = sent["properties"]
    assert props["name"] == {"type": "string", "minLength": 1}
    assert props["code"] == {"type": "string", "pattern": "^[A-Z]{3}$"}
    assert props["tags"] == {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "maxItems": 5,
    }
    assert props["notes"] == {"type": "array", "items": {"type": "string"}}  # 500 > the cap
    assert props["count"] == {"type": "integer"}
    assert 5 <= MAX_GRAMMAR_REPEAT < 500
    bare = grammar_schema(Bounded, bounded=False)["properties"]
    assert bare["code"] == {"type": "string"} and bare["tags"]["items"] == {"type": "string"}
    assert "minItems" not in bare["tags"]


def test_a_large_length_bound_is_what_llama_cpp_refuses_and_the_grammar_schema_leaves_out():
    full = json_schema_to_gbnf(json.dumps(json_schema_for(Bounded)))
    assert not compiles(full)
    assert compiles(grammar_candidates(Bounded)[0])


@pytest.mark.parametrize("path", STRUCTURED_SCHEMAS)
def test_every_structured_schema_compiles_to_a_llama_cpp_grammar(path):
    schema = load_schema(path)
    candidates = grammar_candidates(schema)
    assert candidates, "no grammar could be written for the schema"
    assert compiles(candidates[0]), "the bounded grammar does not compile"
    assert compiles(candidates[-1]), "the shape-only grammar does not compile"


@pytest.fixture(scope="module")
def runtime():
    rt = EmbeddedRuntime(packaged_gguf_path(), n_ctx=4096)
    yield rt
    rt.close()


@pytest.mark.model
@pytest.mark.parametrize("path", STRUCTURED_SCHEMAS)
def test_the_real_model_answers_every_structured_schema_or_fails_cleanly(runtime, path):
    schema = load_schema(path)
    messages = [
        Message("system", "Read the source and reply with JSON only."),
        Message("user", f"{SOURCE}\n\nDescribe what happens as JSON."),
    ]
    pids = set()
    for temperature in (0.0, 0.8):
        try:
            answer = runtime.structured(
                messages, schema=schema, max_tokens=96, temperature=temperature
            )
        except InvalidModelOutput as exc:  # what callers retry and then report
            assert exc.raw.lstrip().startswith("{"), exc.raw[:200]
        else:
            assert isinstance(answer, schema)
        pids.add(runtime.process_id)
    assert len(pids) == 1 and None not in pids  # no call crashed the model process
