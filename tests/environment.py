"""Loaded with `-p tests.environment` before Django starts, so settings see these variables.

Tests never touch the user's var/ folder, and always have a real Redis: REDIS_URL when it
is set and answers, otherwise a private redis-server started for this test run.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_var = Path(tempfile.mkdtemp(prefix="carrel-test-"))
atexit.register(shutil.rmtree, _var, ignore_errors=True)
os.environ["CARREL_VAR_DIR"] = str(_var)
os.environ["MEDIA_ROOT"] = str(_var / "media")
os.environ.setdefault("CARREL_BACKEND", "scripted")
os.environ.setdefault("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens: a dead server

from workspace.local_redis import redis_answers, start_private_redis  # noqa: E402

if not (os.environ.get("REDIS_URL") and redis_answers(os.environ["REDIS_URL"])):
    _redis = start_private_redis(workdir=_var / "redis")
    atexit.register(_redis.stop)
    os.environ["REDIS_URL"] = _redis.url
