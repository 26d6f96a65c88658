"""llama.cpp in a child process, so that a crash in it fails one call, not the caller.

Each process that asks the embedded model something (the web server, every Celery pool
process) gets its own model process, started on first use with `subprocess` (not fork:
the caller may run threads, and llama.cpp must not inherit a forked copy of them) and
spoken to over a socket pair. When it dies mid-call (a segfault, the OOM killer), the call
raises ModelCrashed with what happened, and the next call starts a new one. A caller
that was itself forked (a Celery pool process inheriting its parent's runtime) never
talks to its parent's model process: it starts its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Generator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from workspace.runtime.errors import ModelCrashed, ModelRuntimeError, ModelTimeout

CHILD_SCRIPT = Path(__file__).with_name("llama_child.py")
LOAD_TIMEOUT_SECONDS = 300.0
CLOSE_TIMEOUT_SECONDS = 5.0
CANCEL_TIMEOUT_SECONDS = 30.0


def _how_it_ended(returncode: int | None) -> str:
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with status {returncode}"


class ModelProcess:
    """One model process and the connection to it. Not thread-safe: the caller
    (EmbeddedRuntime) holds its own lock for the whole of each request."""

    def __init__(self, *, path: Path, n_ctx: int, n_threads: int, timeout: float) -> None:
        self.path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.timeout = timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._owner = 0  # the pid that started the model process

    @property
    def pid(self) -> int | None:
        """The model process's id while one runs for this process, else None."""
        if self._process is None or self._owner != os.getpid() or self._process.poll() is not None:
            return None
        return self._process.pid

    def _start(self) -> Connection:
        ours, theirs = socket.socketpair()
        config = {
            "path": str(self.path),
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "parent": os.getpid(),
        }
        try:
            # -P: the script's folder (workspace/runtime, with its types.py and select.py)
            # must not shadow the standard library.
            self._process = subprocess.Popen(
                [sys.executable, "-P", str(CHILD_SCRIPT), str(theirs.fileno()), json.dumps(config)],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                close_fds=True,
            )
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._owner = os.getpid()
        first = self._receive(LOAD_TIMEOUT_SECONDS, during="loading the model")
        if first.get("kind") == "error":
            message = first.get("message", "")
            self._discard()
            raise ModelRuntimeError(f"llama.cpp could not load {self.path}: {message}")
        return self._conn

    def _connection(self) -> Connection:
        if self._owner != os.getpid():
            # Forked from the process that started it: that model process is not ours.
            # Closing our inherited copy of the socket leaves the parent's intact.
            if self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.close()
            self._process, self._conn = None, None
        if self._conn is None or self._process is None or self._process.poll() is not None:
            self._discard()
            return self._start()
        return self._conn

    def _receive(self, timeout: float, *, during: str) -> dict[str, Any]:
        assert self._conn is not None
        try:
            if self._conn.poll(timeout):
                message: dict[str, Any] = self._conn.recv()
                return message
        except (EOFError, OSError):
            raise self._crashed(during) from None
        self._discard()
        raise ModelTimeout(
            f"The embedded model gave no sign of life for {timeout:g} s while {during}; "
            "it was stopped. Try again, or ask for less."
        )

    def _crashed(self, during: str) -> ModelCrashed:
        process = self._process
        returncode = None
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                returncode = process.wait(timeout=CLOSE_TIMEOUT_SECONDS)
        self._discard()
        return ModelCrashed(
            f"The embedded model's process {_how_it_ended(returncode)} while {during}, so "
            "this answer was lost. Carrel itself is unaffected: try again, and the model "
            "starts afresh."
        )

    def request(self, payload: dict[str, Any]) -> Generator[dict[str, Any], None, None]:
        """Send one request; yield its chunks and, last, its final message. Closing the
        iterator early cancels the request in the model process."""
        conn = self._connection()
        try:
            conn.send({"op": "complete", **payload})
        except OSError:
            raise self._crashed("receiving the request") from None
        finished = False
        try:
            while True:
                message = self._receive(self.timeout, during="answering")
                kind = message.get("kind")
                if kind == "alive":
                    continue
                if kind != "chunk":
                    finished = True
                    yield message
                    return
                yield message
        finally:
            if not finished and self._conn is conn:
                self._cancel(conn)

    def _cancel(self, conn: Connection) -> None:
        """Stop a stream the caller abandoned, keeping the model process (and its cache)
        if it answers in time."""
        try:
            conn.send({"op": "cancel"})
            while conn.poll(CANCEL_TIMEOUT_SECONDS):
                if conn.recv().get("kind") not in {"chunk", "alive"}:
                    return
        except (EOFError, OSError):
            pass
        self._discard()

    def _discard(self) -> None:
        """Forget the model process, stopping it if it still runs."""
        process, conn = self._process, self._conn
        self._process, self._conn = None, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()
        if process is None or self._owner != os.getpid():
            return
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=CLOSE_TIMEOUT_SECONDS)

    def close(self) -> None:
        """Stop the model process: it exits when asked, or is killed."""
        process, conn = self._process, self._conn
        if process is not None and conn is not None and self._owner == os.getpid():
            with contextlib.suppress(OSError):
                conn.send({"op": "close"})
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=CLOSE_TIMEOUT_SECONDS)
        self._discard()
