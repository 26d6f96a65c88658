"""What the queue benchmarks share: a throwaway database, a private Redis and real
`celery worker` processes on chosen queues, all started by the benchmark and stopped by it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

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

    def start(self, *, queues: str = "ingest,carrel", concurrency: int = 1) -> None:
        from workspace.celery import app

        name = f"bench{len(self.processes)}-{os.getpid()}@%h"
        log = (self.logs / f"{len(self.processes)}.log").open("wb")
        command = [
            sys.executable, "-m", "celery", "-A", "workspace", "worker", "-Q", queues,
            f"--concurrency={concurrency}", "--pool=prefork", "-n", name, "--without-gossip",
            "--without-mingle", "--without-heartbeat", "--loglevel=WARNING",
        ]  # fmt: skip
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
