"""The queue plan: every task a worker knows goes to a declared queue, some worker consumes
every queue (under runcarrel and under the systemd roles), and questions have a queue of
their own that no batch work shares."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from workspace.management.commands.runcarrel import INTERACTIVE_QUEUES, MAIN_QUEUES

ROOT = Path(__file__).resolve().parents[2]
# What a person waits for: a question's answer and a story turn's narration.
INTERACTIVE = {"research.qa_tasks.qa_answer", "research.qa_tasks.qa_map_step",
               "research.qa_tasks.qa_reduce", "stories.tasks.run_turn"}  # fmt: skip
BATCH = {
    "research.tasks.summarize_document",
    "research.tasks.summarize_chunk",
    "research.tasks.summarize_reduce",
    "research.tasks.embed_document",
    "research.study_tasks.study_generate",
    "stories.tasks.summarize_campaign",
    "stories.tasks.propose_entities",
}

_ROUTES = """
import json, django
django.setup()
from workspace.celery import app
app.loader.import_default_modules()  # what `celery worker` imports at start
print(json.dumps({
    name: app.amqp.router.route({}, name, args=(), kwargs={})["queue"].name
    for name in app.tasks if not name.startswith("celery.")
}))
"""


@pytest.fixture(scope="module")
def routes() -> dict[str, str]:
    """Task name → queue, as a freshly started worker process sees them."""
    result = subprocess.run(
        [sys.executable, "-c", _ROUTES],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "workspace.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _role_queues() -> dict[str, set[str]]:
    roles = {}
    for path in (ROOT / "deploy" / "workers").glob("*.env"):
        for line in path.read_text().splitlines():
            if line.startswith("CARREL_WORKER_QUEUES="):
                roles[path.stem] = set(line.partition("=")[2].split(","))
    return roles


def test_a_worker_knows_every_task_the_app_sends_and_routes_each_to_a_declared_queue(routes):
    assert set(routes) >= INTERACTIVE | BATCH  # study_tasks too: a worker must have it
    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert set(routes.values()) <= declared


def test_questions_and_turns_have_the_model_queue_to_themselves_and_batch_work_has_its_own(routes):
    assert {routes[name] for name in INTERACTIVE} == {"model"}
    assert {routes[name] for name in BATCH} == {"batch"}
    assert {queue for name, queue in routes.items() if name not in INTERACTIVE} & {"model"} == set()


def test_the_calls_that_name_their_queue_name_the_routed_one():
    from research.qa import services as qa_services
    from research.study import services as study_services

    sent: list[tuple[str | None, str]] = [
        (signature.task, signature.options["queue"])
        for signature in (
            qa_services.answer_signature(question_id=1, attempt=1),
            study_services.generate_signature(job_id=1, attempt=1),
        )
    ]
    assert sent == [
        ("research.qa_tasks.qa_answer", "model"),
        ("research.study_tasks.study_generate", "batch"),
    ]


def test_every_task_a_service_sends_by_name_is_one_a_worker_knows(routes):
    """Services send tasks by name (workspace/jobs/enqueue.py): a renamed task would
    otherwise fail only when sent."""
    from research.library import services as library_services
    from research.qa import services as qa_services
    from research.study import services as study_services

    names = {
        *library_services.STAGE_TASKS.values(),
        qa_services.ANSWER_TASK,
        qa_services.MAP_STEP_TASK,
        qa_services.REDUCE_TASK,
        study_services.GENERATE_TASK,
    }
    assert names <= set(routes)


def test_runcarrel_and_the_deploy_roles_consume_every_queue_and_keep_one_for_questions():
    declared = [queue.name for queue in settings.CELERY_TASK_QUEUES]
    assert MAIN_QUEUES.split(",") == declared  # the main worker's order is the priority order
    assert INTERACTIVE_QUEUES == "model"
    roles = _role_queues()
    assert set(roles) == {"interactive", "ingest", "batch"}
    assert set().union(*roles.values()) == set(declared)
    assert roles["interactive"] == {"model"}
    assert "model" not in roles["ingest"] | roles["batch"]
    unit = (ROOT / "deploy" / "systemd" / "carrel-worker@.service").read_text()
    assert "EnvironmentFile=/etc/carrel/worker-%i.env" in unit
    assert "--queues=${CARREL_WORKER_QUEUES}" in unit


def test_on_a_lab_server_background_roles_run_below_the_interactive_one():
    """systemd reads carrel-worker@<role>.service.d/ for that instance only."""
    systemd = ROOT / "deploy" / "systemd"
    for role in ("batch", "ingest"):
        dropin = (systemd / f"carrel-worker@{role}.service.d" / "nice.conf").read_text()
        assert "[Service]" in dropin and "Nice=10" in dropin
    assert not (systemd / "carrel-worker@interactive.service.d").exists()


def test_a_lab_server_has_a_storage_quota_by_default(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CARREL_USER_STORAGE")},
        "CARREL_VAR_DIR": str(tmp_path),
        "CARREL_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "carrel.lab",
        "DJANGO_SETTINGS_MODULE": "workspace.settings",
    }
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.CARREL_USER_STORAGE_BYTES)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert int(result.stdout.split()[-1]) == 10240 * 1024 * 1024
