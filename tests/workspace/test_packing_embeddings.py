"""Keyword ranking fused with Ollama embeddings, against a local server speaking Ollama's
/api/embed and /api/tags wire protocol (its vectors count a few concepts, so "automobile"
and "car" embed alike while sharing no keyword)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from workspace.packing import BM25Retriever, Piece
from workspace.packing.embeddings import FusedRetriever, OllamaEmbedder, with_embeddings
from workspace.runtime.select import reset_runtime_cache

CONCEPTS = {
    "car": 0, "automobile": 0, "engine": 0, "road": 0,
    "bee": 1, "bees": 1, "hive": 1, "honey": 1,
    "ice": 2, "glacier": 2, "melts": 2,
}  # fmt: skip
MODEL = "embedtest:latest"


class EmbedHandler(BaseHTTPRequestHandler):
    calls: list[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/api/tags":
            self._send({"models": [{"name": MODEL, "model": MODEL, "size": 1}]})
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/api/embed" or body.get("model") != MODEL.removesuffix(":latest"):
            self.send_error(404)
            return
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        EmbedHandler.calls.append(texts)
        vectors = []
        for text in texts:
            vector = [0.01, 0.01, 0.01]
            for word in re.findall(r"\w+", text.lower()):
                if word in CONCEPTS:
                    vector[CONCEPTS[word]] += 1.0
            vectors.append(vector)
        self._send({"model": MODEL, "embeddings": vectors})


@pytest.fixture
def embed_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EmbedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    EmbedHandler.calls = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


PIECES = [
    Piece(1, 1, 0, "Honey bees return to the hive.", 8, 1, 1),
    Piece(2, 1, 1, "The glacier ice melts in summer.", 8, 2, 2),
    Piece(3, 2, 0, "Her car has a loud engine on the road.", 10, 1, 1),
]


def test_embeddings_find_a_piece_that_shares_no_keyword_with_the_question(embed_server) -> None:
    keyword = BM25Retriever()
    assert keyword("automobile", PIECES, 3) == []
    fused = FusedRetriever(keyword, OllamaEmbedder(host=embed_server, model="embedtest"))
    ranked = fused("automobile", PIECES, 3)
    assert ranked[0].piece_id == 3
    assert "embeddings" in fused.name

    fused("automobile", PIECES, 3)
    embedded = [text for call in EmbedHandler.calls for text in call]
    assert embedded.count(PIECES[2].text) == 1, "a piece is embedded once, then cached"


def test_keyword_and_meaning_agreeing_rank_first(embed_server) -> None:
    fused = FusedRetriever(BM25Retriever(), OllamaEmbedder(host=embed_server, model="embedtest"))
    ranked = fused("bees in the hive", PIECES, 3)
    assert ranked[0].piece_id == 1


def test_a_dead_embedding_server_falls_back_to_the_keyword_ranking() -> None:
    fused = FusedRetriever(BM25Retriever(), OllamaEmbedder(host="http://127.0.0.1:9", model="x"))
    assert fused("bees hive", PIECES, 3) == BM25Retriever()("bees hive", PIECES, 3)


def test_embeddings_are_used_only_when_configured_and_available(settings, embed_server) -> None:
    keyword = BM25Retriever()
    settings.CARREL_EMBED_MODEL = ""
    assert with_embeddings(keyword) is keyword
    settings.CARREL_EMBED_MODEL = "embedtest"
    settings.OLLAMA_HOST = embed_server
    reset_runtime_cache()
    try:
        assert isinstance(with_embeddings(keyword), FusedRetriever)
        settings.CARREL_EMBED_MODEL = "absent-model"
        assert with_embeddings(keyword) is keyword
    finally:
        reset_runtime_cache()


def test_ollama_vectors_embed_passages_once_and_find_by_meaning(embed_server) -> None:
    from workspace.retrieval import HybridRetriever, MemoryVectors
    from workspace.retrieval.ollama import OllamaVectors

    embedder = OllamaVectors(host=embed_server, model="embedtest")
    vectors = MemoryVectors(embedder)
    vectors.add(PIECES)
    vectors.add(PIECES)
    assert sum(len(call) for call in EmbedHandler.calls) == len(PIECES), "each chunk once"
    retriever = HybridRetriever(BM25Retriever(), vectors=vectors, embedder=embedder)
    assert retriever("automobile", PIECES, 3)[0].piece_id == 3
    assert all(text.startswith("title: none | text: ") for text in EmbedHandler.calls[0])
