"""Telling a dead worker from a busy one, with real Celery workers."""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import pytest
import redis
from django.conf import settings

from workspace import health, heartbeat
from workspace.celery import app

pytestmark = pytest.mark.worker


def wait_for_heartbeat(name: str, *, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        beats = heartbeat.worker_heartbeats()
        if name in beats:
            return beats[name]
        time.sleep(0.2)
    pytest.fail(f"no heartbeat from {name}")


def full_name(prefix: str) -> str:
    answered = health.workers_ping(timeouts=(2.0,)) or set()
    (name,) = [n for n in answered if n.startswith(prefix)]
    return name


def test_a_busy_worker_too_slow_to_answer_a_ping_is_not_called_dead(celery_worker_factory):
    asker = celery_worker_factory()
    busy = celery_worker_factory(queues="busy", args=["--include=tests.workspace.busy_tasks"])
    me, busy_name = full_name(asker.name), full_name(busy.name)
    beat = wait_for_heartbeat(busy_name)
    assert beat == {"pid": busy.process.pid, "host": socket.gethostname()}

    result = app.send_task("tests.busy_model_call", args=[60], queue="busy")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and result.state != "STARTED":
        time.sleep(0.2)
    assert result.state == "STARTED"  # its pool process is generating with the real model

    # Its main process cannot answer while the check runs (what a saturated machine does
    # to a reply: it comes after the asker stopped listening), but it is not dead.
    os.kill(busy.process.pid, signal.SIGSTOP)
    try:
        assert busy_name not in (health.workers_ping(timeouts=(1.0,)) or set())
        live = health.live_workers(me=me)
    finally:
        os.kill(busy.process.pid, signal.SIGCONT)
    assert live is not None and {me, busy_name} <= live
    assert result.get(timeout=120) >= 1  # and it went on working


def test_a_killed_worker_is_called_dead_at_once(celery_worker_factory):
    asker = celery_worker_factory()
    doomed = celery_worker_factory()
    me, doomed_name = full_name(asker.name), full_name(doomed.name)
    wait_for_heartbeat(doomed_name)
    doomed.kill9()
    assert doomed_name in heartbeat.worker_heartbeats()  # its last beat has not expired yet...
    live = health.live_workers(me=me)
    assert live is not None and me in live and doomed_name not in live  # ...but it is dead


def test_a_stopped_worker_takes_its_heartbeat_with_it(celery_worker_factory):
    worker = celery_worker_factory()
    name = full_name(worker.name)
    wait_for_heartbeat(name)
    worker.stop()
    assert name not in heartbeat.worker_heartbeats()


def test_a_worker_on_another_machine_counts_while_its_heartbeat_is_fresh(celery_worker_factory):
    asker = celery_worker_factory()
    me = full_name(asker.name)
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    key = f"{heartbeat.HEARTBEAT_PREFIX}remote@elsewhere"
    client.set(key, json.dumps({"pid": 1, "host": "elsewhere"}), ex=30)
    try:
        assert "remote@elsewhere" in (health.live_workers(me=me) or set())
    finally:
        client.delete(key)
    assert "remote@elsewhere" not in (health.live_workers(me=me) or set())
