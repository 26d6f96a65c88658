"""Settings read from the environment: a blank variable means its default, for text, numbers
and switches alike, because `.env` files and compose files write `NAME=` for "not set"."""

from __future__ import annotations

from tests.workspace.test_deploy_settings import _manage
from workspace.env import env_bool, env_int, env_list, env_str

PRINT = (
    "from django.conf import settings; "
    "print(settings.DATABASES['default']['ENGINE'], settings.OLLAMA_HOST)"
)


def test_a_blank_text_number_or_list_variable_means_its_default(monkeypatch):
    monkeypatch.setenv("CARREL_TEST_TEXT", "  ")
    monkeypatch.setenv("CARREL_TEST_NUMBER", "")
    monkeypatch.setenv("CARREL_TEST_LIST", " ")
    assert env_list("CARREL_TEST_LIST", ["localhost"]) == ["localhost"]
    assert env_str("CARREL_TEST_TEXT", "fallback") == "fallback"
    assert env_int("CARREL_TEST_NUMBER", 7) == 7
    monkeypatch.setenv("CARREL_TEST_TEXT", "set")
    assert env_str("CARREL_TEST_TEXT", "fallback") == "set"


def test_a_blank_switch_keeps_its_default_so_a_blank_line_cannot_turn_a_safeguard_off(
    monkeypatch,
):
    monkeypatch.setenv("CARREL_LOGIN_LOCKOUT", "")
    assert env_bool("CARREL_LOGIN_LOCKOUT", True) is True
    assert env_bool("CARREL_LOGIN_LOCKOUT", False) is False
    monkeypatch.setenv("CARREL_LOGIN_LOCKOUT", "off")
    assert env_bool("CARREL_LOGIN_LOCKOUT", True) is False


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
