"""Run all of Carrel on one machine: migrations, a Redis, Celery workers and the web server.

This is what `make run` ends with. With REDIS_URL unset it starts a private Redis
(workspace/local_redis.py); Ctrl+C, or any part exiting, stops all parts.

Two workers share the queues (workspace/settings.py CELERY_TASK_QUEUES): the main one takes
every queue, questions first, and runs the scheduler; a small one takes only questions, so a
question never waits for a long batch task (a 600-page summary, flashcards) to finish.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from workspace.local_redis import PrivateRedis, redis_answers, start_private_redis
from workspace.redact import redact

# Queues in the order the main worker empties them (the broker's "priority" strategy).
MAIN_QUEUES = "model,carrel,ingest,batch"
INTERACTIVE_QUEUES = "model"


class Command(BaseCommand):
    help = "Start Carrel: migrate, then Redis (if needed), a Celery worker and the web server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("CARREL_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("CARREL_PORT", "8000")))
        parser.add_argument(
            "--concurrency", type=int, default=int(os.environ.get("CARREL_WORKERS", "2"))
        )
        parser.add_argument(
            "--interactive-concurrency",
            type=int,
            default=int(os.environ.get("CARREL_INTERACTIVE_WORKERS", "1")),
            help="processes that only answer questions (0: none, the main worker does it all)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        private: PrivateRedis | None = None
        redis_url = os.environ.get("REDIS_URL")
        if redis_url:
            if not redis_answers(redis_url, timeout=2):
                self.stderr.write(f"Warning: REDIS_URL={redact(redis_url)} does not answer yet.")
        else:
            private = start_private_redis(workdir=settings.VAR_DIR / "redis")
            redis_url = private.url
            self.stdout.write(f"Started a private Redis at {redis_url}")

        env = {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "workspace", "worker", "--loglevel=INFO"]
        parts = {
            "worker": [
                *celery,
                "--hostname=carrel@%h",
                "--beat",
                f"--schedule={settings.VAR_DIR / 'celerybeat-schedule'}",
                f"--queues={MAIN_QUEUES}",
                f"--concurrency={options['concurrency']}",
            ],
            "interactive worker": [
                *celery,
                "--hostname=interactive@%h",
                f"--queues={INTERACTIVE_QUEUES}",
                f"--concurrency={options['interactive_concurrency']}",
            ],
            "web": [
                python,
                "manage.py",
                "runserver",
                f"{options['host']}:{options['port']}",
                "--noreload",
            ],
        }
        if options["interactive_concurrency"] <= 0:
            del parts["interactive worker"]
        # Each part leads its own process group, so stopping it stops its children too (the
        # worker's pool and its embedded beat, which would otherwise outlive a killed worker).
        processes = {
            name: subprocess.Popen(command, env=env, cwd=settings.BASE_DIR, start_new_session=True)
            for name, command in parts.items()
        }
        self.stdout.write(
            f"Carrel is running at http://{options['host']}:{options['port']}/ (Ctrl+C to stop)"
        )
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping:
                exited = [name for name, p in processes.items() if p.poll() is not None]
                if exited:
                    self.stderr.write(f"{', '.join(exited)} exited; stopping Carrel.")
                    break
                time.sleep(0.5)
        finally:
            for process in processes.values():
                _signal_group(process, signal.SIGTERM)
            deadline = time.monotonic() + 20
            for process in processes.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                _signal_group(process, signal.SIGKILL)  # whatever of its group is left
                process.wait()
            if private:
                private.stop()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the process group a part leads; nothing if it is gone already."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)
