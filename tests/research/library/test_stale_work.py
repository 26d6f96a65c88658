"""Issue 17 and 13: the stale-work check never takes a busy worker for a dead one, a step
that runs too long or a run that keeps stopping fails with a message, and a summary's
progress counts the passages summarized."""

from __future__ import annotations

import json
import os
import socket
from datetime import timedelta

import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from research.library import pipeline, services, tasks
from research.models import Chunk, Document
from tests.research.ingest_support import file_of, upload
from workspace import heartbeat
from workspace.health import live_heartbeats
from workspace.heartbeat import HEARTBEAT_PREFIX, claim_is_alive, worker_claim
from workspace.runtime import use_runtime
from workspace.runtime.scripted import ScriptedRuntime

pytest_plugins = ["tests.research.ingest_fixtures"]  # fixtures: eager_celery, project

Stage = Document.Stage
LIVE = {"celery@me", "celery@busy"}
BEATS = {"celery@me": 101, "celery@busy": 202}  # live heartbeats: main process ids by name
AN_HOUR_AGO = timedelta(hours=1)


def running_document(project, *, name: str, stage: str, worker: str, **fields) -> Document:
    long_ago = timezone.now() - AN_HOUR_AGO
    document = Document.objects.create(
        project=project,
        title=name,
        original_name=f"{name}.txt",
        file_type=Document.FileType.TEXT,
        content_hash=f"hash-{name}",
        stage=stage,
        worker=worker,
        heartbeat_at=long_ago,
        **fields,
    )
    Document.objects.filter(pk=document.pk).update(updated_at=long_ago)
    return document


def test_a_document_claimed_by_a_worker_with_a_live_heartbeat_is_not_resumed_however_old(
    project,
):
    held = running_document(project, name="held", stage=Stage.CHUNKING, worker="celery@busy")
    waiting = running_document(project, name="waiting", stage=Stage.SUMMARIZING, worker="")
    Chunk.objects.create(
        document=waiting,
        ordinal=0,
        text="t",
        token_count=1,
        page_start=1,
        page_end=1,
        summary_worker="",
    )
    Chunk.objects.create(
        document=waiting,
        ordinal=1,
        text="u",
        token_count=1,
        page_start=1,
        page_end=1,
        summary_worker="celery@busy",
    )
    assert services.documents_resume_stale(live_workers=LIVE, heartbeats=BEATS) == []
    for document in (held, waiting):
        document.refresh_from_db()
        assert document.stage in Document.RUNNING_STAGES and document.resumes == 0


def test_a_document_whose_workers_heartbeat_is_gone_is_resumed(project):
    dead = running_document(project, name="dead", stage=Stage.CHUNKING, worker="celery@gone")
    orphan = running_document(project, name="orphan", stage=Stage.SUMMARIZING, worker="")
    Chunk.objects.create(
        document=orphan,
        ordinal=0,
        text="t",
        token_count=1,
        page_start=1,
        page_end=1,
        summary_worker="celery@gone",
    )
    resumed = services.documents_resume_stale(live_workers=LIVE, heartbeats=BEATS)
    assert sorted(resumed) == sorted([dead.pk, orphan.pk])
    dead.refresh_from_db()
    assert dead.attempt == 2 and dead.resumes == 1 and dead.worker == ""
    assert dead.status_message == "Resuming after a worker stopped"


def test_without_heartbeats_an_old_running_document_is_still_presumed_orphaned(project):
    old = running_document(project, name="old", stage=Stage.CHUNKING, worker="celery@busy")
    assert services.documents_resume_stale(live_workers=LIVE, heartbeats=None) == [old.pk]
    fresh = running_document(project, name="fresh", stage=Stage.INDEXING, worker="celery@busy")
    Document.objects.filter(pk=fresh.pk).update(heartbeat_at=timezone.now())
    assert services.documents_resume_stale(live_workers=None) == []


def test_a_queued_document_nobody_claimed_is_sent_again_without_a_restart(project):
    queued = running_document(project, name="queued", stage=Stage.QUEUED, worker="")
    assert services.documents_resume_stale(live_workers=LIVE, heartbeats=BEATS) == [queued.pk]
    queued.refresh_from_db()
    assert queued.attempt == 1 and queued.resumes == 0


def test_a_document_whose_work_was_restarted_twice_fails_with_a_message_instead(project):
    stuck = running_document(
        project,
        name="stuck",
        stage=Stage.EXTRACTING,
        worker="celery@gone",
        resumes=2,
        file="documents/stuck.txt",
    )
    assert services.documents_resume_stale(live_workers=LIVE, heartbeats=BEATS) == []
    stuck.refresh_from_db()
    assert stuck.stage == Stage.FAILED
    assert stuck.error_code == Document.ErrorCode.KEPT_STOPPING
    assert "stopped without finishing 3 times (while extracting text)" in stuck.error
    assert stuck.can_retry
    # a person's Retry gives it its chances back
    assert services.document_retry(document=stuck)
    stuck.refresh_from_db()
    assert stuck.stage == Stage.QUEUED and stuck.resumes == 0


def test_heartbeats_are_known_when_the_asking_workers_own_heartbeat_is_there():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    me = f"celery@asker-{os.getpid()}"
    key = f"{HEARTBEAT_PREFIX}{me}"
    try:
        assert live_heartbeats(me=me) is None
        client.set(key, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}), ex=30)
        beats = live_heartbeats(me=me)
        assert beats is not None and beats[me] == os.getpid()
        assert live_heartbeats(me="") is None
    finally:
        client.delete(key)


def test_work_claimed_before_its_worker_restarted_under_the_same_name_is_resumed(project):
    # celery@busy restarted: its heartbeat now names main process 202, not 99
    before = running_document(project, name="before", stage=Stage.CHUNKING, worker="celery@busy#99")
    current = running_document(
        project, name="current", stage=Stage.CHUNKING, worker="celery@busy#202"
    )
    resumed = services.documents_resume_stale(live_workers=LIVE, heartbeats=BEATS)
    assert resumed == [before.pk]
    current.refresh_from_db()
    assert current.attempt == 1 and current.worker == "celery@busy#202"


def test_a_claim_names_the_worker_and_its_main_process():
    assert worker_claim("") == ""
    claim = worker_claim("celery@here")
    assert claim in ("celery@here", f"celery@here#{heartbeat._main_pid}")
    heartbeat._remember_main_pid()
    try:
        assert worker_claim("celery@here") == f"celery@here#{os.getpid()}"
        assert claim_is_alive(
            worker_claim("celery@here"), live_workers=set(), heartbeats={"celery@here": os.getpid()}
        )
        assert not claim_is_alive(
            worker_claim("celery@here"), live_workers={"celery@here"}, heartbeats={}
        )
        # without heartbeats, an answering name vouches for its claims
        assert claim_is_alive(
            worker_claim("celery@here"), live_workers={"celery@here"}, heartbeats=None
        )
    finally:
        heartbeat._main_pid = 0


def test_every_ingest_task_has_the_soft_time_limit_of_its_setting():
    steps = [
        tasks.ingest_document,
        tasks.extract_part,
        tasks.extraction_finished,
        tasks.chunk_document,
        tasks.index_document,
        tasks.summarize_document,
        tasks.summarize_chunk,
        tasks.summarize_reduce,
    ]
    for task in steps:
        assert task.soft_time_limit == settings.CARREL_INGEST_TASK_MINUTES * 60 == 15 * 60


def test_an_ingest_step_over_its_time_limit_fails_the_document_with_a_message(
    eager_celery, project, user, monkeypatch, django_capture_on_commit_callbacks
):
    def hangs(**_kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(pipeline, "document_chunk", hangs)
    upload(
        project,
        user,
        [file_of("notes.txt", b"Bamboo grows fast.\n\nIt is a grass.\n")],
        django_capture_on_commit_callbacks,
    )
    document = Document.objects.get(project=project)
    assert document.stage == Stage.FAILED
    assert document.error_code == Document.ErrorCode.TIMED_OUT
    assert document.error.startswith(
        "Stopped while counting and chunking: one step took longer than 15 minutes"
    )
    assert "CARREL_INGEST_TASK_MINUTES" in document.error
    assert document.halted_stage == Stage.CHUNKING


def test_a_summarys_bar_counts_the_passages_summarized_from_zero(
    eager_celery, project, user, signed_in_client, django_capture_on_commit_callbacks
):
    text = "\n\n".join(f"Paragraph {n}. " + "Bamboo grows fast. " * 60 for n in range(12))
    with use_runtime(ScriptedRuntime.echo()):
        upload(
            project, user, [file_of("long.txt", text.encode())], django_capture_on_commit_callbacks
        )
    document = Document.objects.get(project=project)
    assert document.stage == Stage.READY and document.chunk_count >= 2
    assert document.summaries_done == document.chunk_count
    # the summary starts again: no passage done, so the bar is empty
    Chunk.objects.filter(document=document).update(summary="")
    Document.objects.filter(pk=document.pk).update(stage=Stage.SUMMARIZING, summary="")
    chunk_ids = pipeline.document_summary_plan(document_id=document.pk, attempt=document.attempt)
    assert chunk_ids is not None and len(chunk_ids) == document.chunk_count

    def card() -> str:
        url = reverse("research:document_progress", args=[document.pk])
        return signed_in_client.get(url, HTTP_HX_REQUEST="true").content.decode()

    assert 'value="0.000"' in card() and f"0 of {document.chunk_count} passages" in card()
    with use_runtime(ScriptedRuntime.echo()):
        pipeline.chunk_summarize(
            document_id=document.pk,
            attempt=document.attempt,
            chunk_id=chunk_ids[0],
            runtime=ScriptedRuntime.echo(),
        )
    document.refresh_from_db()
    assert document.summaries_done == 1
    shown = card()
    assert f'value="{1 / document.chunk_count:.3f}"' in shown
    assert f"1 of {document.chunk_count} passages" in shown
