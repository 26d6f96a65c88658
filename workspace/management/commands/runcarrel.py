"""Run all of Carrel on one machine: migrations, a Redis, Celery workers and the web server.

This is what `make run` ends with. With REDIS_URL unset it starts a private Redis
(workspace/local_redis.py). SIGINT (Ctrl+C) or SIGTERM to this process, or any part
exiting, stops all parts in order: the web server first (no new work), then the workers
(a warm shutdown that lets running tasks finish, then after CARREL_STOP_TIMEOUT seconds a
cold one that hands unfinished tasks back to the broker), and the private Redis last, so
no part ever loses its broker while stopping.

Each part leads a process group of its own, so Ctrl+C at the terminal reaches only this
process (and make), which then stops the parts in that order; stopping a part's group
also stops what it started (a worker's pool and beat, a model process).

Two workers share the queues (workspace/settings.py CELERY_TASK_QUEUES): the main one takes
every queue, questions first, and runs the scheduler; a small one takes only questions, so a
question never waits for a long batch task (a 600-page summary, flashcards) to finish.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from research.library.ocr import missing_message, ocr_available
from workspace.local_redis import PrivateRedis, redis_answers, start_private_redis
from workspace.redact import redact

# Queues in the order the main worker empties them (the broker's "priority" strategy).
MAIN_QUEUES = "model,carrel,ingest,batch"
INTERACTIVE_QUEUES = "model"
# The main worker runs at a lower CPU priority than the web server and the interactive
# worker, so on a machine with few cores a summary backlog does not slow a question's first
# token (bench/backlog.py: p50 1.41x idle without it, about 1.1x with it, on 2 cores).
MAIN_WORKER_NICE = 10

WEB_STOP_SECONDS = 10.0
COLD_STOP_SECONDS = 15.0  # after the warm shutdown's time is up: cancel, requeue, exit


class _StopRequested(Exception):
    """SIGINT or SIGTERM arrived while Carrel was still starting."""


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
        parser.add_argument(
            "--stop-timeout",
            type=float,
            default=float(os.environ.get("CARREL_STOP_TIMEOUT", "30")),
            help="seconds a stopping worker may finish its running tasks before they are "
            "handed back to the broker",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self._running = False
        self._stop_signal: int | None = None
        self._hurry = False  # a second signal: stop waiting for running tasks
        # First of all, so that a signal during migrations or startup also stops cleanly.
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        private: PrivateRedis | None = None
        processes: dict[str, subprocess.Popen[bytes]] = {}
        try:
            call_command("migrate", interactive=False, verbosity=0)
            if not ocr_available():
                self.stdout.write(f"Note: {missing_message()}")
            redis_url = os.environ.get("REDIS_URL")
            if redis_url:
                if not redis_answers(redis_url, timeout=2):
                    self.stderr.write(
                        f"Warning: REDIS_URL={redact(redis_url)} does not answer yet."
                    )
            else:
                private = start_private_redis(workdir=settings.VAR_DIR / "redis")
                redis_url = private.url
                self.stdout.write(f"Started a private Redis at {redis_url}")
            self._start_parts(processes, redis_url, options)
            self._running = True
            self.stdout.write(
                f"Carrel is running at http://{options['host']}:{options['port']}/ (Ctrl+C to stop)"
            )
            self._watch(processes)
        except _StopRequested:
            pass
        finally:
            self._running = True  # from here on a signal only hurries the stop along
            self._stop(processes, private, stop_timeout=options["stop_timeout"])

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._stop_signal is not None:
            self._hurry = True
            return
        self._stop_signal = signum
        if not self._running:
            raise _StopRequested(signum)

    def _wait(self, process: subprocess.Popen[bytes], deadline: float) -> None:
        """Wait for a part to exit, until the deadline or a second Ctrl+C."""
        while process.poll() is None and time.monotonic() < deadline and not self._hurry:
            time.sleep(0.1)

    def _start_parts(
        self,
        processes: dict[str, subprocess.Popen[bytes]],
        redis_url: str,
        options: dict[str, Any],
    ) -> None:
        env = {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "workspace", "worker", "--loglevel=INFO"]
        parts = {
            "worker": lower_priority(
                [
                    *celery,
                    "--hostname=carrel@%h",
                    "--beat",
                    f"--schedule={settings.VAR_DIR / 'celerybeat-schedule'}",
                    f"--queues={MAIN_QUEUES}",
                    f"--concurrency={options['concurrency']}",
                ]
            ),
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
        for name, command in parts.items():
            processes[name] = subprocess.Popen(
                command,
                env=env,
                cwd=settings.BASE_DIR,
                start_new_session=True,
            )

    def _watch(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        while self._stop_signal is None:
            exited = [name for name, p in processes.items() if p.poll() is not None]
            if exited:
                self.stderr.write(f"{', '.join(exited)} exited; stopping Carrel.")
                return
            time.sleep(0.5)
        self.stdout.write(f"{signal.Signals(self._stop_signal).name}: stopping Carrel.")

    def _stop(
        self,
        processes: dict[str, subprocess.Popen[bytes]],
        private: PrivateRedis | None,
        *,
        stop_timeout: float,
    ) -> None:
        web = processes.get("web")
        workers = [p for name, p in processes.items() if name != "web"]
        if web is not None:
            _stop_group(web, signal.SIGTERM, WEB_STOP_SECONDS)
        if workers:
            self.stdout.write("Stopping the workers (running tasks may finish)...")
            # The main process only: it stops its pool and beat itself (warm shutdown),
            # then, if still running, hands unfinished tasks back (cold shutdown).
            for worker in workers:
                _signal_process(worker, signal.SIGTERM)
            warm_until = time.monotonic() + stop_timeout
            for worker in workers:
                self._wait(worker, warm_until)
            for worker in workers:
                if worker.poll() is None:
                    self.stdout.write("Handing the unfinished tasks back to the queue...")
                    _signal_process(worker, signal.SIGQUIT)
            cold_until = time.monotonic() + COLD_STOP_SECONDS
            for worker in workers:
                self._wait(worker, cold_until)
                _kill_group(worker)  # anything of its group still left
        if private is not None:
            private.stop()
        self.stdout.write("Carrel stopped.")


def lower_priority(command: list[str]) -> list[str]:
    """The command run at MAIN_WORKER_NICE, where `nice` exists (it is inherited by the
    worker's pool processes, which fork after it starts)."""
    nice = shutil.which("nice")
    return [nice, "-n", str(MAIN_WORKER_NICE), *command] if nice else command


def _signal_process(process: subprocess.Popen[bytes], signum: int) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL whatever is left of the process group a part leads, and reap the part."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _stop_group(process: subprocess.Popen[bytes], signum: int, seconds: float) -> None:
    """Signal a part's whole group, wait for the part, then kill what is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=seconds)
    _kill_group(process)
