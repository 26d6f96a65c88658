"""The Celery application. Workers start with `celery -A workspace worker`."""

import os

from celery import Celery

from workspace.broker_recovery import RestoreUnackedAfterReconnect
from workspace.heartbeat import WorkerHeartbeat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")

app = Celery("carrel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # the tasks module of each installed app (stories/tasks.py)
app.autodiscover_tasks(["research.library", "research.qa", "research.study"])  # research's features

# After a lost broker connection, give back the messages Redis still holds as delivered
# (workspace/broker_recovery.py), instead of waiting for the visibility timeout.
app.steps["consumer"].add(RestoreUnackedAfterReconnect)

# A heartbeat thread in each worker's main process, so that the stale-work check never
# takes a worker too busy to answer a ping in time for a dead one (workspace/heartbeat.py).
app.steps["worker"].add(WorkerHeartbeat)
