"""Shared fixtures: real files from ../shared/data, real Celery workers, signed-in clients."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

# The real-browser fixtures (page, signed_in_page, screenshot ...) for browser tests anywhere
# under tests/, not only in tests/browser/.
pytest_plugins = ["tests.browser.fixtures"]

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"Test data not found at {SHARED_DATA} (see ../shared/data/README.md)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _forget_seen_workers() -> Iterator[None]:
    """The status page keeps a positive worker ping for seconds in the shared cache; a test's
    workers must not show as alive in the next test."""
    yield
    from django.core.cache import cache

    from workspace.health import WORKERS_SEEN_KEY

    cache.delete(WORKERS_SEEN_KEY)


@pytest.fixture(autouse=True)
def _free_open_stream_slots() -> Iterator[None]:
    """A stream a test opened and never read keeps its slot (workspace/jobs/stream_slots.py)
    for two minutes, counted against a user id the next test reuses: start each test free."""
    from workspace.jobs.stream_slots import open_streams_forget_all

    open_streams_forget_all()
    yield


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="ada", password="correct horse 42")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="grace", password="correct horse 43")


@pytest.fixture
def signed_in_client(client, user):
    client.force_login(user)
    return client


def worker_database_url() -> str:
    """The URL of the test database as the test process sees it, for worker subprocesses."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def database_locks() -> str:
    """Who holds a lock on the SQLite test database, its WAL or its shared memory, from
    /proc/locks with each process's command line: for a failure message when a worker waits
    on the database ("" on PostgreSQL, or where /proc/locks is missing)."""
    name = connection.settings_dict["NAME"]
    if connection.vendor != "sqlite" or not Path("/proc/locks").exists():
        return ""
    inodes: dict[str, str] = {}
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{name}{suffix}")
        if path.exists():
            inodes[str(path.stat().st_ino)] = path.name
    held = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()  # 1: POSIX ADVISORY WRITE 1234 08:01:5678 0 EOF
        if len(fields) < 6:
            continue
        offset = 1 if fields[1] == "->" else 0  # "->": a process waiting for this lock
        pid, where = fields[4 + offset], fields[5 + offset]
        inode = where.rsplit(":", 1)[-1]
        if inode in inodes:
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                command = b"?"
            waiting = " (waiting)" if offset else ""
            held.append(
                f"{inodes[inode]}: {fields[3 + offset]}{waiting} by {pid} {command[:160]!r}"
            )
    return "database locks:\n" + ("\n".join(held) or "none")


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    name: str
    log: Path

    def kill9(self) -> None:
        """Kill the whole worker (main process and its pool children) like a crash would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture
def celery_worker_factory(transactional_db, tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real `celery worker` processes against the test database and the test Redis."""
    from workspace.celery import app

    broker_reset(app)
    started: list[WorkerProcess] = []

    def start(
        *,
        concurrency: int = 1,
        queues: str | None = None,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> WorkerProcess:
        name = f"test{len(started)}-{os.getpid()}@%h"
        log = tmp_path / f"worker{len(started)}.log"
        worker_env = {
            **os.environ,
            "DATABASE_URL": worker_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "CARREL_BACKEND": settings.CARREL_BACKEND,
            "OLLAMA_HOST": settings.OLLAMA_HOST,
            **(env or {}),
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workspace",
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            "-n",
            name,
            "--without-gossip",
            "--without-mingle",
            "--pool=prefork",
        ]
        if queues:
            command.append(f"--queues={queues}")
        command.extend(args)
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=worker_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = WorkerProcess(process=process, name=name.replace("%h", ""), log=log)
        started.append(worker)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"Celery worker exited early:\n{log.read_text()}")
            replies = app.control.ping(timeout=0.5) or []
            if any(worker.name in key for reply in replies for key in reply):
                return worker
        pytest.fail(f"Celery worker did not answer a ping in 60 s:\n{log.read_text()}")

    yield start
    for worker in started:
        worker.stop()
    broker_reset(app)


def broker_reset(app: Celery) -> None:
    """Empty the queues and forget what Redis holds as delivered: a worker a test killed
    leaves messages there that a later test's worker would otherwise put back and run."""
    import redis

    app.control.purge()
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("unacked", "unacked_index")
