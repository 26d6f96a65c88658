"""A worker's pool process is never forked in the middle of the heartbeat's Redis write
(workspace/heartbeat.py): a process forked while another thread holds a lock inherits the
lock with no thread to release it."""

from __future__ import annotations

import os
import threading
import time

from celery.worker.components import Pool

from workspace import heartbeat


def test_a_fork_waits_until_the_heartbeat_write_in_progress_has_ended() -> None:
    writing, release = threading.Event(), threading.Event()

    def heartbeat_write() -> None:
        with heartbeat._no_fork:  # what the heartbeat thread holds around client.set()
            writing.set()
            release.wait(10)

    thread = threading.Thread(target=heartbeat_write)
    thread.start()
    assert writing.wait(10)
    threading.Timer(0.5, release.set).start()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: it can take the lock, so it was not forked holding it
        os._exit(0 if heartbeat._no_fork.acquire(timeout=5) else 1)
    waited = time.monotonic() - start
    _, status = os.waitpid(pid, 0)
    thread.join()
    assert waited >= 0.4, f"the fork went ahead after {waited:.2f} s, mid-write"
    assert os.waitstatus_to_exitcode(status) == 0
    assert heartbeat._no_fork.acquire(timeout=1), "the parent released it after the fork"
    heartbeat._no_fork.release()


def test_the_heartbeat_thread_starts_after_the_pool_has_forked() -> None:
    assert Pool in (heartbeat.WorkerHeartbeat.requires or ())
