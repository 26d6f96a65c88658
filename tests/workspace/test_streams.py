"""Live output travels through a Redis Stream from the writing worker to any reader."""

from __future__ import annotations

import threading
import time

from workspace.jobs import streams


def test_a_reader_gets_every_entry_in_order_and_stops_at_the_end():
    streams.stream_reset(kind="test", item_id=1)
    for word in ("one", "two\r\nthree"):
        streams.stream_publish(kind="test", item_id=1, event="token", data=word)
    streams.stream_end(kind="test", item_id=1)

    got = [(e.event, e.data) for e in streams.stream_read(kind="test", item_id=1, block_ms=100)]

    assert got == [("token", "one"), ("token", "two\r\nthree")]


def test_a_reader_that_comes_before_the_writer_waits_for_it():
    streams.stream_reset(kind="test", item_id=2)

    def write() -> None:
        time.sleep(0.3)
        streams.stream_publish(kind="test", item_id=2, event="token", data="late")
        streams.stream_end(kind="test", item_id=2)

    writer = threading.Thread(target=write)
    writer.start()
    entries = list(streams.stream_read(kind="test", item_id=2, block_ms=100, timeout_seconds=10))
    writer.join()

    assert [e.data for e in entries if not e.idle] == ["late"]
    assert any(e.idle for e in entries)


def test_a_reader_gives_up_after_its_timeout_when_nobody_writes():
    streams.stream_reset(kind="test", item_id=3)

    entries = list(streams.stream_read(kind="test", item_id=3, block_ms=50, timeout_seconds=0.3))

    assert entries and all(e.idle for e in entries)


def test_cancelling_is_seen_by_the_writer_and_a_reset_clears_it():
    streams.stream_reset(kind="test", item_id=4)
    assert not streams.stream_cancelled(kind="test", item_id=4)

    streams.stream_cancel(kind="test", item_id=4)
    assert streams.stream_cancelled(kind="test", item_id=4)

    streams.stream_reset(kind="test", item_id=4)
    assert not streams.stream_cancelled(kind="test", item_id=4)
