"""The README's run command, started for real: a private Redis, a worker and the web server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from celery import Celery

from workspace.local_redis import free_port, redis_answers

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def test_make_run_starts_redis_a_worker_and_a_page_that_answers(tmp_path):
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "MEDIA_ROOT", "CARREL_BACKEND"}
    }
    env.update(CARREL_VAR_DIR=str(tmp_path / "var"), CARREL_PORT=str(port), CARREL_WORKERS="1")
    process = subprocess.Popen(
        ["make", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    stdout = process.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: output.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()
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
        assert "Sign in" in page, "".join(output)

        redis_url = next(
            m.group(1) for line in output if (m := re.search(r"private Redis at (\S+)", line))
        )
        assert redis_answers(redis_url)
        broker = Celery(broker=redis_url)
        replies: list[dict] = []
        while time.monotonic() < deadline and not replies:
            replies = broker.control.ping(timeout=1.0) or []
        assert replies, "no Celery worker answered on the private Redis:\n" + "".join(output)
        assert _fetch(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
        reader.join(timeout=5)
    assert not redis_answers(redis_url), "the private Redis outlived the run command"
    assert not _processes_mentioning(str(tmp_path)), "a process outlived the run command"


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention text (the run's own var directory)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found
