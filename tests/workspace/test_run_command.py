"""The README's run command, started for real: a private Redis, workers and the web server,
and how it stops."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from celery import Celery

from workspace.local_redis import free_port, redis_answers
from workspace.management.commands.runcarrel import MAIN_WORKER_NICE

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def _processes() -> dict[int, tuple[int, str]]:
    """Every live process: pid -> (parent pid, command line)."""
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        found[int(entry.name)] = (parent, cmdline)
    return found


def _descendants(root: int) -> dict[int, str]:
    table = _processes()
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, cmdline) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = cmdline
                frontier.append(pid)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:  # a zombie has exited, it only waits to be reaped
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class Run:
    process: subprocess.Popen[str]
    output: list[str]
    port: int
    var: Path
    exited_at: dict[int, float] = field(default_factory=dict)

    @property
    def log(self) -> str:
        return "".join(self.output)

    def launcher(self) -> int:
        return next(
            pid for pid, cmd in _descendants(self.process.pid).items() if "runcarrel" in cmd
        )

    def watch(self, pids: dict[int, str]) -> threading.Thread:
        """Note when each process exits (polled every 20 ms) until all have."""

        def poll() -> None:
            while len(self.exited_at) < len(pids):
                for pid in pids:
                    if pid not in self.exited_at and not _alive(pid):
                        self.exited_at[pid] = time.monotonic()
                time.sleep(0.02)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        return watcher


@pytest.fixture
def make_run(tmp_path) -> Iterator[Run]:
    """`make run` started for real, answering on its port, with a worker that answers."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "MEDIA_ROOT", "CARREL_BACKEND"}
    }
    var = tmp_path / "var"
    env.update(CARREL_VAR_DIR=str(var), CARREL_PORT=str(port), CARREL_WORKERS="1")
    process = subprocess.Popen(
        ["make", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a process group of its own, like a terminal's job
    )
    output: list[str] = []
    stdout = process.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: output.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()
    run = Run(process, output, port, var)
    try:
        deadline = time.monotonic() + 180
        page = ""
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status, page = _fetch(f"http://127.0.0.1:{port}/accounts/login/")
                if status == 200:
                    break
            except OSError:
                time.sleep(0.5)
        assert "Sign in" in page, run.log
        broker = Celery(broker=redis_url_of(run))
        replies: list[dict] = []
        while time.monotonic() < deadline and len(replies) < 2:
            replies = broker.control.ping(timeout=1.0) or []
        assert len(replies) == 2, "the two workers did not answer:\n" + run.log
        yield run
    finally:
        # The parts lead their own process groups: note them before anything is stopped,
        # so that none outlives the test even if the launcher fails to stop them.
        parts = _descendants(process.pid)
        if process.poll() is None:
            with contextlib.suppress(StopIteration, ProcessLookupError):
                os.kill(run.launcher(), signal.SIGTERM)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=60)
        reader.join(timeout=5)
        table = _processes()
        for pid, cmdline in parts.items():  # still the same process, not a reused pid
            if pid in table and table[pid][1] == cmdline and _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def redis_url_of(run: Run) -> str:
    return next(
        m.group(1) for line in run.output if (m := re.search(r"private Redis at (\S+)", line))
    )


def test_make_run_starts_redis_workers_and_a_page_that_answers(make_run):
    assert redis_answers(redis_url_of(make_run))
    assert _fetch(f"http://127.0.0.1:{make_run.port}/healthz")[0] == 200


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_the_main_worker_and_its_pool_run_below_the_web_server_and_the_interactive_worker(
    make_run,
):
    """A summary backlog on the main worker must not take CPU from a question's first token
    (bench/backlog.py)."""
    parts = _descendants(make_run.launcher())
    main = [pid for pid, cmd in parts.items() if "--hostname=carrel@" in cmd]
    interactive = [pid for pid, cmd in parts.items() if "--hostname=interactive@" in cmd]
    web = [pid for pid, cmd in parts.items() if "runserver" in cmd]
    assert main and interactive and web, parts
    base = _nice(web[0])
    assert {_nice(pid) for pid in interactive} == {base}
    assert {_nice(pid) for pid in main} == {min(19, base + MAIN_WORKER_NICE)}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_launcher_alone_stops_every_part_and_redis_last(make_run, signum):
    launcher = make_run.launcher()
    parts = _descendants(launcher)
    redis = [pid for pid, cmd in parts.items() if "redis-server" in cmd]
    workers = [pid for pid, cmd in parts.items() if "celery" in cmd]
    web = [pid for pid, cmd in parts.items() if "runserver" in cmd]
    assert len(redis) == 1 and len(workers) >= 4 and web, parts  # 2 mains, their pools, beat
    watcher = make_run.watch(parts)

    os.kill(launcher, signum)
    make_run.process.wait(timeout=120)
    watcher.join(timeout=10)

    log = make_run.log
    assert not [pid for pid in parts if _alive(pid)], log
    assert make_run.exited_at[redis[0]] >= max(make_run.exited_at[pid] for pid in workers + web)
    assert "Traceback" not in log, log
    assert "Connection refused" not in log and "Cannot connect" not in log, log
    assert "Carrel stopped." in log, log
    assert not _processes_mentioning(str(make_run.var)), "a process outlived the run command"


def test_ctrl_c_at_the_terminal_stops_everything_cleanly_with_redis_last(make_run):
    parts = _descendants(make_run.launcher())
    redis = [pid for pid, cmd in parts.items() if "redis-server" in cmd]
    workers = [pid for pid, cmd in parts.items() if "celery" in cmd]
    watcher = make_run.watch(parts)

    os.killpg(make_run.process.pid, signal.SIGINT)  # the terminal's job: make and the launcher
    make_run.process.wait(timeout=120)
    watcher.join(timeout=10)

    log = make_run.log
    assert not [pid for pid in parts if _alive(pid)], log
    assert make_run.exited_at[redis[0]] >= max(make_run.exited_at[pid] for pid in workers)
    assert "Traceback" not in log, log
    assert not redis_answers(redis_url_of(make_run)), "the private Redis outlived the run"


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention text (the run's own var directory)."""
    return [cmd for pid, (_ppid, cmd) in _processes().items() if text in cmd and _alive(pid)]
