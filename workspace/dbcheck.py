"""`python -m workspace.dbcheck URL`: exit 0 when that PostgreSQL server accepts connections."""

from __future__ import annotations

import sys

import psycopg


def main(url: str) -> int:
    # Connect to the maintenance database: the test run creates its own test_<name> database.
    base = url.rsplit("/", 1)[0] + "/postgres"
    try:
        with psycopg.connect(base, connect_timeout=3):
            return 0
    except psycopg.Error:
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
