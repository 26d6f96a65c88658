"""`manage.py pack` prints the context map as JSON, to inspect packing from outside the UI."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.research.qa.test_views import make_project

pytestmark = pytest.mark.django_db


def run_pack(*args: str) -> dict:
    out = StringIO()
    call_command("pack", *args, stdout=out)
    return json.loads(out.getvalue())


def test_pack_prints_the_context_map_and_the_verified_token_count(user) -> None:
    project = make_project(user)
    data = run_pack(
        "--project",
        str(project.pk),
        "--question",
        "How do glaciers carve valleys?",
        "--budget",
        "8192",
        "--verify",
        "--prompt",
    )
    context_map = data["context_map"]
    assert context_map["strategy"] == "fits"
    assert [entry["title"] for entry in context_map["entries"]] == [
        "Glacial erosion",
        "Bee behaviour",
    ]
    assert (
        data["verified_prompt_tokens"]
        <= context_map["prompt_tokens"]
        <= context_map["prompt_limit"]
    )
    assert context_map["prompt_limit"] == 8192 - 1024 - 81
    assert data["prompt"][-1]["content"].endswith("How do glaciers carve valleys?")
    assert data["timing_ms"]["pack"] >= 0


def test_pack_can_force_a_rung_and_limit_the_documents(user) -> None:
    project = make_project(user)
    bees = project.documents.get(title="Bee behaviour")
    data = run_pack(
        "--project",
        project.title,
        "--documents",
        str(bees.pk),
        "--question",
        "Why dance?",
        "--budget",
        "2048",
        "--output-reserve",
        "256",
        "--strategy",
        "near_edge",
        "--retriever",
        "database",
    )
    context_map = data["context_map"]
    assert data["documents"] == [bees.pk]
    assert context_map["strategy"] == "near_edge"
    assert context_map["retriever"] == "database full-text index"
    assert {entry["source_id"] for entry in context_map["entries"]} == {bees.pk}


def test_pack_explains_an_unknown_project() -> None:
    with pytest.raises(CommandError, match="No project"):
        run_pack("--project", "404", "--question", "?", "--budget", "1000")
