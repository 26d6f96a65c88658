"""What the queue benchmarks share: a throwaway database, a private Redis and real
`celery worker` processes on chosen queues, all started by the benchmark and stopped by it."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def database_url() -> str:
    """The URL of the database Django is connected to, for worker subprocesses."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Workers:
    """`celery worker` subprocesses, each on its own queues."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(
        self, *, queues: str = "ingest,carrel", concurrency: int = 1, lower_priority: bool = False
    ) -> None:
        """`lower_priority`: at the main worker's priority under `runcarrel`."""
        from workspace.celery import app

        name = f"bench{len(self.processes)}-{os.getpid()}@%h"
        log = (self.logs / f"{len(self.processes)}.log").open("wb")
        command = [
            sys.executable, "-m", "celery", "-A", "workspace", "worker", "-Q", queues,
            f"--concurrency={concurrency}", "--pool=prefork", "-n", name, "--without-gossip",
            "--without-mingle", "--without-heartbeat", "--loglevel=INFO",
        ]  # fmt: skip
        if lower_priority:
            from workspace.management.commands.runcarrel import lower_priority as nice

            command = nice(command)
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        wanted = name.replace("%h", "")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            replies = app.control.ping(timeout=0.5) or []
            if any(wanted in key for reply in replies for key in reply):
                return
        raise RuntimeError(f"worker {wanted} did not start; see {self.logs}")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@contextlib.contextmanager
def queue_environment(name: str, **variables: str) -> Iterator[tuple[Workers, Path]]:
    """A private Redis, a throwaway database and Django set up on them (the scripted model,
    and `variables` as settings); the workers started in it are stopped on the way out.
    Yields the workers and the run's own folder."""
    var = Path(tempfile.mkdtemp(prefix=f"carrel-bench-{name}-"))
    os.environ.setdefault("CARREL_VAR_DIR", str(var))
    os.environ["MEDIA_ROOT"] = str(var / "media")
    os.environ["CARREL_BACKEND"] = "scripted"
    os.environ.update(variables)
    from workspace.local_redis import start_private_redis

    redis = start_private_redis(workdir=var / "redis")
    os.environ["REDIS_URL"] = redis.url
    from bench import setup_django

    setup_django()
    from django.db import connection

    logging.getLogger("celery").setLevel(logging.ERROR)
    database = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CARREL_VAR_DIR": str(var),
        "PYTHONUNBUFFERED": "1",
    }
    (var / "logs").mkdir()
    workers = Workers(env, var / "logs")
    try:
        yield workers, var
    finally:
        workers.stop()
        connection.creation.destroy_test_db(database, verbosity=0)
        redis.stop()


def wait_indexed(documents: Any, *, label: str, minutes: int, poll: float) -> None:
    """Until every document of the queryset is indexed; RuntimeError when one fails or
    `minutes` pass. Polling more often than `poll` seconds only steals the workers' CPU."""
    from research.models import Document

    deadline = time.monotonic() + minutes * 60
    while documents.filter(indexed_at__isnull=True).exists():
        failed = documents.filter(stage=Document.Stage.FAILED).first()
        if failed is not None:
            raise RuntimeError(f"{failed.original_name} failed: {failed.error}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{label}: not indexed after {minutes} minutes")
        time.sleep(poll)
