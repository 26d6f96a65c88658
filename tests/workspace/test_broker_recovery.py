"""After a lost broker connection, messages Redis holds as delivered go back to their queues
at once, not after the hour-long visibility timeout (workspace/broker_recovery.py).
Real Redis (a private server), real kombu connections."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from kombu import Connection

from workspace.broker_recovery import unacked_orphans_restore, unacked_restore
from workspace.local_redis import PrivateRedis, start_private_redis


@pytest.fixture
def broker(tmp_path) -> Iterator[PrivateRedis]:
    server = start_private_redis(workdir=tmp_path / "redis")
    yield server
    server.stop()


def deliver_without_ack(
    url: str, bodies: list[dict], task_ids: list[str] | None = None
) -> list[dict]:
    """Publish, then take every message the way a worker with acks_late does, and drop the
    connection without acking: what a worker holds when Redis goes away or it is killed."""
    taken = []
    with Connection(url, transport_options={"visibility_timeout": 3600}) as connection:
        queue = connection.SimpleQueue("ingest")
        for n, body in enumerate(bodies):
            queue.put(body, headers={"id": task_ids[n]} if task_ids else {})
        for _ in bodies:
            taken.append(queue.get(block=True, timeout=5).payload)
        # Forget the deliveries, as a lost connection does, so close() cannot restore them.
        channel: Any = connection.default_channel
        channel.qos._delivered.clear()
    return taken


def test_messages_delivered_before_the_loss_go_back_to_their_queue(broker) -> None:
    client = redis.Redis.from_url(broker.url)
    bodies = [{"document_id": 1, "part": n} for n in range(3)]
    assert deliver_without_ack(broker.url, bodies) == bodies
    assert client.llen("ingest") == 0
    assert client.hlen("unacked") == 3  # held until the visibility timeout, an hour

    lost_at = time.time()
    time.sleep(0.01)
    with Connection(broker.url) as connection:
        later = connection.SimpleQueue("ingest")
        later.put({"document_id": 2, "part": 0})
        assert later.get(block=True, timeout=5).payload == {"document_id": 2, "part": 0}
        # Only what was delivered before the loss comes back, not a delivery after it.
        restored = unacked_restore(channel=connection.default_channel, delivered_before=lost_at)
        assert restored == 3
        assert client.hlen("unacked") == 1
        again = [later.get(block=True, timeout=5) for _ in bodies]
        assert sorted(m.payload["part"] for m in again) == [0, 1, 2]
        for message in again:
            message.ack()


def test_nothing_is_restored_when_nothing_was_held(broker) -> None:
    with Connection(broker.url) as connection:
        channel = connection.default_channel
        assert unacked_restore(channel=channel, delivered_before=time.time()) == 0


def test_only_messages_no_live_worker_holds_go_back(broker) -> None:
    client = redis.Redis.from_url(broker.url)
    bodies = [{"document_id": 1, "part": n} for n in range(3)]
    deliver_without_ack(broker.url, bodies, task_ids=["t0", "t1", "t2"])
    time.sleep(0.01)
    with Connection(broker.url) as connection:
        restored = unacked_orphans_restore(
            channel=connection.default_channel,
            held_task_ids={"t1"},  # a live worker is running this one
            delivered_before=time.time(),
        )
        assert restored == 2
        assert client.hlen("unacked") == 1
        queue = connection.SimpleQueue("ingest")
        again = [queue.get(block=True, timeout=5) for _ in range(2)]
        assert sorted(m.headers["id"] for m in again) == ["t0", "t2"]
        for message in again:
            message.ack()


def test_a_message_that_is_not_a_celery_task_is_put_back_too(broker) -> None:
    deliver_without_ack(broker.url, [{"plain": True}])
    with Connection(broker.url) as connection:
        channel = connection.default_channel
        assert (
            unacked_orphans_restore(
                channel=channel, held_task_ids=set(), delivered_before=time.time()
            )
            == 1
        )
        assert (
            unacked_orphans_restore(
                channel=channel, held_task_ids=set(), delivered_before=time.time()
            )
            == 0
        )  # once back on its queue, it is no longer held as delivered
