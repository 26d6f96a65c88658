"""`python -m bench.packing --library … --questions … --json`: any library can be measured,
and with --json the JSON results are the only thing on standard output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.packing_library import (
    Document,
    FormatError,
    Question,
    read_library,
    read_questions,
    specific_questions,
)
from tests.workspace.test_packing import TOPICS, document_text

ROOT = Path(__file__).resolve().parents[2]
RESULT_KEYS = {
    "budget",
    "method",
    "recall_all",
    "recall_any",
    "model_tokens_median",
    "model_tokens_max",
    "routes",
}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def tiny_library(folder: Path) -> tuple[Path, Path]:
    documents = []
    questions = []
    for number, topic in enumerate(TOPICS):
        text = "\n\n".join(document_text(topic, pages=3))
        documents.append({"id": f"doc-{number}", "title": f"On {topic}", "text": text})
        evidence = f"Note 2.1.1 on {topic} adds detail number 2."
        questions.append(
            {
                "question": f"Which detail does note 2.1.1 on {topic} add?",
                "evidence": [evidence],
                "documents": [f"doc-{number}"],
                "kind": "lookup",
            }
        )
    questions.append(
        {
            "question": "Summarize each document.",
            "evidence": ["Note 1.0.0 on bees adds detail number 0."],
            "documents": [],
            "kind": "global",
        }
    )
    library, asked = folder / "library.jsonl", folder / "questions.jsonl"
    write_jsonl(library, documents)
    write_jsonl(asked, questions)
    return library, asked


@pytest.mark.slow
def test_the_json_output_has_the_documented_shape_and_nothing_else(tmp_path: Path) -> None:
    library, questions = tiny_library(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "bench.packing", "--library", str(library), "--questions",
         str(questions), "--json", "--budgets", "1024,2048", "--repeats", "1",
         "--verify", "none"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert set(data) == {"results", "pack_ms_median"}
    assert isinstance(data["pack_ms_median"], float)
    pairs = [(row["budget"], row["method"]) for row in data["results"]]
    assert pairs == [
        (budget, method) for budget in (1024, 2048) for method in ("carrel", "truncation", "bm25")
    ]
    for row in data["results"]:
        assert set(row) == RESULT_KEYS
        assert 0.0 <= row["recall_any"] <= 1.0 and row["recall_all"] <= row["recall_any"]
        assert sum(row["routes"].values()) == len(TOPICS) + 1
        assert row["model_tokens_median"] <= row["model_tokens_max"]
    carrel = [row for row in data["results"] if row["method"] == "carrel"]
    assert all(row["routes"].get("lookup") == len(TOPICS) for row in carrel)
    assert carrel[-1]["recall_all"] > 0
    assert "recall" in run.stderr, "the human-readable report goes to standard error"
    assert "naming something specific" in run.stderr


def test_a_question_names_something_specific_when_one_of_its_words_is_rare_in_the_library() -> None:
    documents = [
        Document(f"d{n}", f"Paper {n}", f"Our experiment result is good. Topic {n} was tested.")
        for n in range(40)
    ]
    documents.append(Document("glacier", "Ice", "Our experiment result: glaciers carve valleys."))
    questions = [
        Question("What is our experiment result?", [], []),
        Question("Which glacier carves valleys?", [], []),
        Question("What about topic 17?", [], []),  # "17" is in one document of 41
        Question("What do zebras eat?", [], []),  # in no document: names nothing found
    ]
    assert specific_questions(questions, documents) == {1, 2}


def test_a_malformed_line_is_refused_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "library.jsonl"
    path.write_text('{"id": "a", "title": "A", "text": "x"}\n{"id": "b", "title": 3}\n')
    with pytest.raises(FormatError, match=r"library.jsonl:2: 'title' must be a string"):
        read_library(path)
    path.write_text("not json\n")
    with pytest.raises(FormatError, match=":1: not JSON"):
        read_library(path)
    asked = tmp_path / "questions.jsonl"
    asked.write_text('{"question": "q", "evidence": ["e"], "documents": [], "kind": "other"}\n')
    with pytest.raises(FormatError, match="'kind' must be one of lookup, global"):
        read_questions(asked)
