"""Hostile inputs, built at test time (never committed as files), and a way to run code on
them that cannot hang the suite.

A catastrophic regular expression runs inside C code that no signal interrupts, so a test
that feeds one a pathological input runs it in a fresh interpreter with a generous timeout:
the fixed code answers in well under a second, the old patterns took hours on the same
input, and the test asserts on what came back, never on how long it took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GENEROUS_SECONDS = 120


def run_isolated(code: str, *, timeout: float = GENEROUS_SECONDS) -> Any:
    """Run `code` with Django set up in a new interpreter; it must assign `result` (any JSON
    value), which is returned. A run that does not finish in `timeout` fails the test."""
    program = "\n".join(
        [
            "import json, django",
            "django.setup()",
            textwrap.dedent(code),
            "print('\\nRESULT ' + json.dumps(result))",
        ]
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "workspace.settings"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", program],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"still running after {timeout:g} s: not linear") from exc
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.rstrip().rsplit("\n", 1)[-1]
    assert last.startswith("RESULT "), done.stdout[-3000:]
    return json.loads(last.removeprefix("RESULT "))


# -- the files ------------------------------------------------------------------------------


def pathological_markdown(spaces: int = 20_000) -> bytes:
    """A heading line that made the old heading pattern backtrack cubically (3 KB took
    about 100 s), then the same trick in front matter, an unclosed fence and a heading."""
    return (
        "---\ntitle: a" + " " * spaces + "b\n---\n"
        "# a" + " " * spaces + "b\n\n"
        "Some text under it.\n\n"
        "## x " + "#" * spaces + "\n\n"
        "```\n# not a heading inside a fence\n"
    ).encode()


def many_line_text(lines: int) -> bytes:
    """A text file of many short lines (each a section's worth of nothing much)."""
    return "".join(f"line {number}\n" for number in range(lines)).encode()


def many_heading_markdown(headings: int) -> bytes:
    """A Markdown file where every line is a heading: one section each."""
    return "".join(f"# {number}\n" for number in range(headings)).encode()


def nested_json(depth: int) -> bytes:
    """`{"entries": [[[[...]]]]}`: deeper than Python's recursion limit when depth is large."""
    return b'{"entries": ' + b"[" * depth + b"]" * depth + b"}"


def huge_lorebook(entries: int, *, content_chars: int = 20) -> bytes:
    """A SillyTavern world-info file with many entries."""
    book = {
        "entries": {
            str(number): {
                "uid": number,
                "key": [f"key{number}"],
                "comment": f"Entry {number}",
                "content": "x" * content_chars,
            }
            for number in range(entries)
        }
    }
    return json.dumps(book).encode()


def text_pdf(*pages: str) -> bytes:
    """A PDF whose pages carry these texts (one line each, Helvetica), as pypdf reads them."""
    import io

    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for text in pages:
        page = writer.add_blank_page(width=595, height=842)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 24 Tf 72 700 Td ({escaped}) Tj ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
