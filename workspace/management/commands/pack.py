"""Pack a project for a question and print the context map as JSON.

    python manage.py pack --project 3 --question "What limits recall?" --budget 32768
    python manage.py pack --project "My project" --documents 4,7 --question ... --prompt

The budget is the model's context window; --output-reserve and --margin are taken from it.
Nothing is sent to a model: this shows what Carrel would send, and how long packing took.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workspace.packing import (
    STRATEGIES,
    BM25Retriever,
    Budget,
    PackingError,
    Retriever,
    default_retriever,
    pack,
)
from workspace.packing.retrievers import DatabaseRetriever, database_search_available
from workspace.runtime.tokenizer import get_tokenizer


class Command(BaseCommand):
    help = "Pack a project's documents for a question and print the context map as JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project id or exact title")
        parser.add_argument("--question", required=True)
        parser.add_argument("--budget", type=int, required=True, help="context window, tokens")
        parser.add_argument(
            "--documents", default="", help="comma-separated document ids (default: all ready)"
        )
        parser.add_argument("--output-reserve", type=int, default=1024)
        parser.add_argument("--margin", type=int, default=None, help="default: 1%% of the budget")
        parser.add_argument("--edge-share", type=float, default=0.85)
        parser.add_argument("--strategy", choices=STRATEGIES, default=None)
        parser.add_argument("--retriever", choices=["auto", "database", "bm25"], default="auto")
        parser.add_argument("--system", default=None, help="system rules (default: Q&A rules)")
        parser.add_argument("--prompt", action="store_true", help="include the exact prompt")
        parser.add_argument(
            "--verify", action="store_true", help="count the final prompt with the tokenizer"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from research.models import Project
        from research.qa.selectors import (
            packing_sources_for_documents,
            ready_document_list_for_project,
        )
        from research.qa.services import QA_RULES

        reference = options["project"]
        project = (
            Project.objects.filter(pk=int(reference)).first()
            if reference.isdigit()
            else Project.objects.filter(title=reference).first()
        )
        if project is None:
            raise CommandError(f"No project {reference!r}.")
        ready = ready_document_list_for_project(project=project)
        if options["documents"]:
            wanted = [int(part) for part in options["documents"].split(",") if part.strip()]
            ready = ready.filter(id__in=wanted)
        document_ids = list(ready.values_list("id", flat=True))
        if not document_ids:
            raise CommandError("No ready (indexed) documents in that scope.")

        margin = options["margin"]
        budget = Budget(
            window=options["budget"],
            output_reserve=options["output_reserve"],
            margin=max(64, options["budget"] // 100) if margin is None else margin,
            edge_share=options["edge_share"],
        )
        retriever: Retriever
        if options["retriever"] == "bm25":
            retriever = BM25Retriever()
        elif options["retriever"] == "database":
            if not database_search_available():
                raise CommandError("research.search is not available.")
            retriever = DatabaseRetriever()
        else:
            retriever = default_retriever()

        started = time.perf_counter()
        sources = packing_sources_for_documents(document_ids=document_ids)
        loaded = time.perf_counter()
        try:
            result = pack(
                question=options["question"],
                sources=sources,
                budget=budget,
                system=QA_RULES if options["system"] is None else options["system"],
                retriever=retriever,
                strategy=options["strategy"],
            )
        except PackingError as exc:
            raise CommandError(str(exc)) from exc
        finished = time.perf_counter()

        output: dict[str, Any] = {
            "project": {"id": project.pk, "title": project.title},
            "documents": document_ids,
            "timing_ms": {
                "load_sources": round((loaded - started) * 1000, 1),
                "pack": round((finished - loaded) * 1000, 1),
            },
            "context_map": result.context_map.to_dict(),
        }
        if options["verify"] and result.messages:
            output["verified_prompt_tokens"] = get_tokenizer().count_messages(result.messages)
        if options["prompt"]:
            output["prompt"] = [
                {"role": message.role, "content": message.content} for message in result.messages
            ]
        self.stdout.write(json.dumps(output, indent=2, ensure_ascii=False))
