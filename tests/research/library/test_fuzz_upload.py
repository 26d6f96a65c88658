"""Fuzzing the upload endpoint with hypothesis: whatever bytes, file names, content types
and multipart framing a client sends, the answer is never a server error.

The request bodies are built by hand, not by the test client, so that names with quotes,
line breaks, NUL bytes or slashes reach Django as a hostile client would send them.
"""

from __future__ import annotations

import os

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from research.models import Document

pytest_plugins = ["tests.research.ingest_fixtures"]  # fixtures: project
pytestmark = pytest.mark.django_db

BOUNDARY = "----carrel-fuzz-7MA4YWxkTrZu0gW"
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

PDF_HEAD = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
names = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["paper.pdf", "notes.md", "a.txt", "../../etc/passwd", "x" * 400 + ".pdf"]),
    st.builds(
        lambda stem, ext: stem + ext,
        st.text(max_size=20),
        st.sampled_from(
            [".pdf", ".PDF", ".md", ".markdown", ".txt", ".text", ".exe", ".pdf.exe", ""]
        ),
    ),
)
content_types = st.one_of(
    st.sampled_from(
        ["application/pdf", "text/plain", "text/markdown", "application/octet-stream",
         "image/png", "text/html; charset=utf-8", "multipart/mixed", ""]
    ),
    st.text(max_size=40),
)  # fmt: skip
bodies = st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda tail: PDF_HEAD + tail, st.binary(max_size=1024)),
    st.text(max_size=1024).map(lambda text: text.encode("utf-8", "surrogatepass")),
)


def _header_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape") if text else b""


@st.composite
def file_parts(draw: st.DrawFn) -> bytes:
    name = draw(names).encode("utf-8", "surrogatepass")
    field = draw(st.sampled_from([b"uploads", b"uploads", b"other", b""]))
    disposition = b'Content-Disposition: form-data; name="' + field + b'"'
    if draw(st.integers(0, 4)) > 0:  # mostly a file; now and then a plain field
        disposition += b'; filename="' + name + b'"'
    headers = [disposition]
    content_type = draw(content_types)
    if content_type or draw(st.booleans()):
        headers.append(b"Content-Type: " + content_type.encode("utf-8", "surrogatepass"))
    return b"\r\n".join(headers) + b"\r\n\r\n" + draw(bodies)


@st.composite
def multipart_bodies(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(file_parts(), min_size=0, max_size=3))
    if draw(st.integers(0, 9)) == 0:  # now and then a plain field, or framing gone wrong
        parts.append(draw(st.binary(max_size=200)))
    body = b"".join(b"--" + BOUNDARY.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    if draw(st.integers(0, 9)) != 0:
        body += b"--" + BOUNDARY.encode() + b"--\r\n"
    return body


def _one_file(name: bytes, content_type: bytes = b"text/plain", data: bytes = b"hello") -> bytes:
    return (
        b"--" + BOUNDARY.encode() + b'\r\nContent-Disposition: form-data; name="uploads"; '
        b'filename="' + name + b'"\r\nContent-Type: ' + content_type + b"\r\n\r\n" + data
        + b"\r\n--" + BOUNDARY.encode() + b"--\r\n"
    )  # fmt: skip


@FUZZ
@example(body=_one_file(b"/"))
@example(body=_one_file(b"a\x00b.txt"))
@example(body=_one_file(b"a\r\nb.txt"))
@example(body=_one_file(b"\xff\xfe.pdf", b"application/pdf", PDF_HEAD))
@example(body=_one_file(b"../../x.md", b"text/markdown\r\nX-Evil: 1"))
@example(body=b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form-data")
@given(body=multipart_bodies())
def test_no_upload_request_is_answered_with_a_server_error(signed_in_client, project, body):
    response = signed_in_client.generic(
        "POST",
        reverse("research:document_upload", args=[project.pk]),
        data=body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )
    assert response.status_code in (302, 400), response.status_code
    for document in Document.objects.filter(project=project):
        assert document.original_name and "/" not in document.original_name
        if document.stage != Document.Stage.FAILED:  # stored: its file has the bytes sent
            assert document.file and document.size_bytes == document.file.size


@FUZZ
@given(
    data=st.binary(max_size=4096),
    name=names,
    content_type=content_types,
)
def test_a_well_formed_upload_of_any_bytes_is_added_or_refused_with_a_reason(
    signed_in_client, project, data, name, content_type
):
    """Through the test client's own multipart encoding (what a browser sends)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    name = name.replace("\x00", "") or "unnamed"
    # The test client cannot even build a file named "/" or ".." (Django refuses the name
    # before any request); such names reach the server in the raw multipart test instead.
    assume(os.path.basename(name) not in {"", ".", ".."})
    upload = SimpleUploadedFile(name, data, content_type=content_type or "application/pdf")
    before = set(Document.objects.values_list("pk", flat=True))
    response = signed_in_client.post(
        reverse("research:document_upload", args=[project.pk]), {"uploads": [upload]}
    )
    assert response.status_code in (302, 400), response.status_code
    for document in Document.objects.exclude(pk__in=before):
        if document.stage == Document.Stage.FAILED:
            assert document.error and not document.file  # refused, with a reason
        else:
            assert document.stage == Document.Stage.QUEUED and document.file
