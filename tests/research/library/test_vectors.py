"""Chunk vectors stored beside their chunks (research/library/vectors.py), against the fake
Ollama server's /api/embed: embedded once at ingest on the batch lane, read by questions
that embed only themselves, re-embedded for a new model, and never in the way when the
embedding server is gone. Runs on SQLite and on PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from django.utils import timezone

from research.library import tasks, vectors
from research.models import Chunk, ChunkVector, Document, Question
from research.qa.selectors import packing_sources_for_documents
from tests.fakes.ollama_server import FakeOllama
from tests.research.ingest_support import file_of, upload
from tests.research.qa.test_views import add_document, ask
from tests.workspace.conftest import fake_ollama  # noqa: F401  (a fixture, used below)
from workspace.celery import app
from workspace.packing.retrievers import DatabaseRetriever
from workspace.retrieval import HybridRetriever
from workspace.retrieval.ollama import PASSAGE_PREFIX, QUERY_PREFIX
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime
from workspace.runtime.select import reset_runtime_cache

pytest_plugins = ["tests.research.ingest_fixtures"]  # fixtures: eager_celery, project
pytestmark = pytest.mark.django_db

MODEL = "embedtest:latest"
# Words the fake embeds alike although they share no letters: meaning without keywords.
CONCEPTS = {"car": 0, "automobile": 0, "engine": 0, "road": 0, "vehicle": 0}

ROAD_PAGES = [
    "Her car has a loud engine on the mountain road.\n\nThe road climbs in hairpin bends.",
    "At the top the engine cools while the driver looks at the valley.",
]
GLACIER_PAGES = [
    "Glaciers carve U-shaped valleys. The ice grinds bedrock into fine rock flour.\n\n"
    "Moraines are ridges of till that a glacier leaves at its edges.",
    "Meltwater from the glacier snout feeds braided rivers in summer.",
]
FIELD_NOTES = "\n\n".join(
    f"## Day {day}\n\nThe heron nests by the weir; day {day} of the survey counted "
    f"{day * 3} birds along the river bank and {day + 7} nests in the reeds."
    for day in range(1, 60)
).encode()


@pytest.fixture
def ollama(fake_ollama: FakeOllama, settings) -> Iterator[FakeOllama]:  # noqa: F811
    """The fake Ollama with an embedding model configured as CARREL_EMBED_MODEL."""
    fake_ollama.add_model(MODEL, capabilities=("embedding",))
    fake_ollama.embed_concepts = dict(CONCEPTS)
    settings.CARREL_EMBED_MODEL = "embedtest"
    vectors._embedders.clear()
    yield fake_ollama
    vectors._embedders.clear()


def embedded_texts(fake: FakeOllama, *, after: int = 0) -> list[str]:
    """The texts embedded by the fake's requests after the first `after`."""
    return [text for body in fake.embed_requests()[after:] for text in body["input"]]


def embed_now(document: Document) -> int:
    return tasks.embed_document.apply(args=(document.pk, document.attempt)).get()


def pieces_of(*documents: Document):
    sources = packing_sources_for_documents(document_ids=[d.pk for d in documents])
    return [piece for source in sources for piece in source.pieces]


def test_an_indexed_document_has_its_chunks_embedded_once_on_the_batch_lane(
    eager_celery, ollama, project, user, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(vectors, "VECTOR_BATCH", 2)
    route = app.amqp.router.route({}, "research.tasks.embed_document", args=(1, 1), kwargs={})
    assert route["queue"].name == "batch"
    assert route["priority"] == 9, "behind study jobs, beside summaries"

    with use_runtime(ScriptedRuntime.echo()):
        upload(
            project, user, [file_of("notes.md", FIELD_NOTES)], django_capture_on_commit_callbacks
        )
    document = Document.objects.get(project=project)
    assert document.stage == Document.Stage.READY
    chunks = Chunk.objects.filter(document=document).count()
    assert chunks > vectors.VECTOR_BATCH, "enough passages for more than one batch"
    stored = ChunkVector.objects.filter(chunk__document=document)
    assert stored.count() == chunks
    assert set(stored.values_list("model", "dims")) == {(MODEL, ollama.embed_dims)}
    row = stored.select_related("chunk").first()
    assert row is not None
    assert np.allclose(
        vectors.vector_from_bytes(bytes(row.vector)),
        ollama.embed(PASSAGE_PREFIX + row.chunk.text),
        atol=1e-6,
    )
    requests = ollama.embed_requests()
    assert all(len(body["input"]) <= vectors.VECTOR_BATCH for body in requests)
    assert len(requests) == -(-chunks // vectors.VECTOR_BATCH)
    document.refresh_from_db()
    assert document.vectors_claimed_at is None, "the claim is released"

    assert embed_now(document) == 0
    assert len(ollama.embed_requests()) == len(requests), "nothing is embedded twice"
    assert stored.count() == chunks


def test_a_claimed_document_is_not_embedded_by_a_second_worker_until_the_claim_is_stale(
    ollama, user
):
    project = user.projects.create(title="Roads")
    document = add_document(project, "Mountain roads", ROAD_PAGES)
    claim = vectors.document_vectors_claim(document_id=document.pk, attempt=document.attempt)
    assert claim is not None
    assert embed_now(document) == 0
    assert ollama.embed_requests() == []

    Document.objects.filter(pk=document.pk).update(
        vectors_claimed_at=timezone.now() - vectors.VECTOR_CLAIM_STALE * 2
    )
    assert embed_now(document) == Chunk.objects.filter(document=document).count()
    assert embed_now(Document(pk=document.pk, attempt=document.attempt + 1)) == 0, "superseded"


def test_a_question_embeds_only_itself_and_finds_a_passage_by_meaning(ollama, user):
    project = user.projects.create(title="Field notes")
    road = add_document(project, "Mountain roads", ROAD_PAGES)
    glacier = add_document(project, "Glacial erosion", GLACIER_PAGES)
    for document in (road, glacier):
        embed_now(document)
    before = len(ollama.embed_requests())
    pieces = pieces_of(road, glacier)

    retriever = vectors.chunk_retriever()
    assert "stored beside their chunks" in retriever.name
    ranked = retriever("Which automobile is noisy?", pieces, len(pieces))
    requests = ollama.embed_requests()[before:]
    assert [body["input"] for body in requests] == [[QUERY_PREFIX + "Which automobile is noisy?"]]
    assert DatabaseRetriever()("Which automobile is noisy?", pieces, len(pieces)) == []
    road_chunks = set(Chunk.objects.filter(document=road).values_list("pk", flat=True))
    assert ranked and ranked[0].piece_id in road_chunks


def test_a_document_is_askable_before_its_vectors_exist_and_its_pool_chunks_are_embedded(
    ollama, user
):
    project = user.projects.create(title="Field notes")
    road = add_document(project, "Mountain roads", ROAD_PAGES)
    glacier = add_document(project, "Glacial erosion", GLACIER_PAGES)
    embed_now(glacier)  # the road document's vectors are not written yet
    before = len(ollama.embed_requests())
    pieces = pieces_of(road, glacier)

    ranked = vectors.chunk_retriever()("automobile", pieces, len(pieces))
    texts = embedded_texts(ollama, after=before)
    road_texts = list(Chunk.objects.filter(document=road).values_list("text", flat=True))
    assert texts[0] == QUERY_PREFIX + "automobile"
    assert sorted(texts[1:]) == sorted(PASSAGE_PREFIX + text for text in road_texts)
    assert ranked[0].piece_id in {p.id for p in pieces if p.source_id == road.pk}
    assert not ChunkVector.objects.filter(chunk__document=road).exists(), "questions only read"


def test_a_changed_embedding_model_re_embeds_in_the_background_and_drops_the_old_vectors(
    eager_celery, ollama, settings, user
):
    project = user.projects.create(title="Roads")
    document = add_document(project, "Mountain roads", ROAD_PAGES)
    embed_now(document)
    assert tasks.embed_missing_vectors.apply().get() == 0, "nothing is missing"

    ollama.add_model("other-embed:latest", capabilities=("embedding",))
    settings.CARREL_EMBED_MODEL = "other-embed"
    reset_runtime_cache()  # Ollama is probed again for the new model
    assert vectors.documents_missing_vectors(model="other-embed:latest") == [
        (document.pk, document.attempt)
    ]
    busy = add_document(project, "Glacial erosion", GLACIER_PAGES)
    Document.objects.filter(pk=busy.pk).update(stage=Document.Stage.SUMMARIZING)
    assert tasks.embed_missing_vectors.apply().get() == 0, "not while the batch lane summarises"
    Document.objects.filter(pk=busy.pk).delete()
    assert tasks.embed_missing_vectors.apply().get() == 1
    models = set(
        ChunkVector.objects.filter(chunk__document=document).values_list("model", flat=True)
    )
    assert models == {"other-embed:latest"}
    assert vectors.documents_missing_vectors(model="other-embed:latest") == []


def test_a_dead_embedding_server_leaves_the_keyword_ranking_and_no_error_to_the_person(
    eager_celery, ollama, signed_in_client, user, django_capture_on_commit_callbacks
):
    project = user.projects.create(title="Field notes")
    glacier = add_document(project, "Glacial erosion", GLACIER_PAGES)
    add_document(project, "Mountain roads", ROAD_PAGES)
    pieces = pieces_of(*Document.objects.filter(project=project))
    keyword = HybridRetriever(DatabaseRetriever())
    retriever = vectors.chunk_retriever()  # Ollama had the model when the question started

    ollama.embed_error = (500, "llama runner process has terminated")
    query = "Where does glacier meltwater go?"
    assert retriever(query, pieces, len(pieces)) == keyword(query, pieces, len(pieces))

    failures = len(ollama.embed_requests())
    embed_now(glacier)
    retries = len(ollama.embed_requests()) - failures
    assert retries == tasks.VectorTask.model_max_retries + 1, "retried, then given up"
    glacier.refresh_from_db()
    assert glacier.vectors_claimed_at is None
    assert not ChunkVector.objects.exists()

    ollama.stop()
    reset_runtime_cache()
    assert vectors.chunk_retriever()(query, pieces, len(pieces)) == keyword(
        query, pieces, len(pieces)
    )
    with use_runtime(ScriptedRuntime.echo()):
        question = ask(signed_in_client, project, query)
    question.refresh_from_db()
    assert question.status == Question.Status.DONE, question.error
