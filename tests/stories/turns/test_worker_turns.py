"""Turns told by a real Celery worker process: the web process only relays what the worker
publishes to the turn's Redis Stream, and a worker killed mid-turn leaves a turn the page
offers to retry (and the retry, on a new worker, tells it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from stories.models import Campaign, Turn
from tests.fakes.ollama_server import FakeOllama
from tests.stories.views.pages import url

pytestmark = [pytest.mark.slow, pytest.mark.worker]

HX = {"HTTP_HX_REQUEST": "true"}


def narration_of(body: str) -> str:
    return "".join(
        block.split("data: ", 1)[1]
        for block in body.split("\n\n")
        if block.startswith("event: narration")
    )


def wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def read_to_the_end(chunks: Iterator[bytes], seconds: float, why: Callable[[], str]) -> bytes:
    """The rest of a stream, read in a thread so that a turn that never ends fails the test
    in `seconds` saying why (`why()`: the turn's state and the worker's log), instead of
    hanging until the suite's own timeout."""
    read: list[bytes] = []

    def read_all() -> None:
        try:
            read.extend(chunks)
        finally:
            connections.close_all()  # this thread's own database connection

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    reader.join(seconds)
    assert not reader.is_alive(), why()
    return b"".join(read)


def test_a_worker_run_turn_streams_its_narration_to_the_sse_view(
    celery_worker_factory, client, user, campaign
):
    """The worker (on the `model` queue only) runs the turn with its own model (the scripted
    backend, which echoes the action); the SSE view, in this process, relays each piece."""
    client.force_login(user)
    client.post(url("turn_create", campaign.pk), {"action": "I run to the docks."}, **HX)
    turn = Turn.objects.get(campaign=campaign)
    assert turn.status == Turn.Status.PENDING  # no worker yet: nothing ran in the request
    stream = client.get(url("turn_stream", campaign.pk, turn.pk))
    chunks = iter(stream.streaming_content)
    connected = next(chunks)  # listening while the turn waits
    worker = celery_worker_factory(queues="model")

    def why() -> str:
        state = Turn.objects.filter(pk=turn.pk).values("status", "error").first()
        return f"the stream did not end; turn {state}\n{worker.log.read_text()[-4000:]}"

    body = (connected + read_to_the_end(chunks, 240, why)).decode()
    turn.refresh_from_db()
    assert turn.status == Turn.Status.DONE and turn.number == 1
    assert turn.narration.startswith("Scripted answer to:")
    assert narration_of(body) == turn.narration  # every piece arrived, in order
    assert "event: status\ndata: writing…" in body
    assert body.rstrip().rsplit("event: ", 1)[1].startswith("done\n")
    assert "Scripted answer to:" in body.rsplit("event: done", 1)[1]


def test_a_turn_whose_worker_was_killed_offers_retry_and_a_new_worker_tells_it(
    celery_worker_factory, client, user, campaign, fake_ollama: FakeOllama
):
    client.force_login(user)
    fake_ollama.hold()  # the model never answers: the worker is mid-turn when it dies
    first = celery_worker_factory(env={"CARREL_BACKEND": "ollama"})
    client.post(url("turn_create", campaign.pk), {"action": "I climb the tower."})
    assert fake_ollama.wait_for_held_chat(timeout=60)
    stuck = Turn.objects.get(campaign=campaign)
    assert stuck.status == Turn.Status.NARRATING
    first.kill9()
    page = client.get(url("campaign_detail", campaign.pk)).content.decode()
    assert "This turn stopped" not in page  # the lease has not expired yet
    # Time passes: the dead worker's lease runs out (LEASE_SECONDS) with nobody renewing it.
    Campaign.objects.filter(pk=campaign.pk).update(lease_until=timezone.now() - timedelta(1))
    page = client.get(url("campaign_detail", campaign.pk)).content.decode()
    assert "This turn stopped" in page and ">Retry<" in page and ">Discard<" in page
    fake_ollama.release()
    celery_worker_factory(env={"CARREL_BACKEND": "scripted"})
    client.post(url("turn_retry", campaign.pk, stuck.pk))
    assert not Turn.objects.filter(pk=stuck.pk).exists()
    retried = Turn.objects.get(campaign=campaign)
    wait_for(lambda: Turn.objects.get(pk=retried.pk).status == Turn.Status.DONE)
    retried.refresh_from_db()
    assert retried.number == 1 and retried.action == "I climb the tower."
    assert Campaign.objects.get(pk=campaign.pk).head_turn == 1
