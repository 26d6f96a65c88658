"""Settings read from the environment: a blank variable means its default, for text as for
numbers, because `.env` files and compose files write `NAME=` for "not set"."""

from __future__ import annotations

from tests.workspace.test_deploy_settings import _manage
from workspace.env import env_int, env_str

PRINT = (
    "from django.conf import settings; "
    "print(settings.DATABASES['default']['ENGINE'], settings.OLLAMA_HOST)"
)


def test_a_blank_text_variable_means_its_default_like_a_blank_number(monkeypatch):
    monkeypatch.setenv("CARREL_TEST_TEXT", "  ")
    monkeypatch.setenv("CARREL_TEST_NUMBER", "")
    assert env_str("CARREL_TEST_TEXT", "fallback") == "fallback"
    assert env_int("CARREL_TEST_NUMBER", 7) == 7
    monkeypatch.setenv("CARREL_TEST_TEXT", "set")
    assert env_str("CARREL_TEST_TEXT", "fallback") == "set"


def test_carrel_starts_on_sqlite_when_the_env_file_leaves_database_url_blank(tmp_path):
    result = _manage(
        "shell",
        "-v",
        "0",
        "-c",
        PRINT,
        env={"DATABASE_URL": "", "OLLAMA_HOST": ""},
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "http://127.0.0.1:11434"]
