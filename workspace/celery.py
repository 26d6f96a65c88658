"""The Celery application. Workers start with `celery -A workspace worker`."""

import os

from celery import Celery

from workspace.broker_recovery import RestoreUnackedAfterReconnect

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workspace.settings")

app = Celery("carrel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # the tasks module of each installed app (stories/tasks.py)
app.autodiscover_tasks(["research.library", "research.qa", "research.study"])  # research's features

# After a lost broker connection, give back the messages Redis still holds as delivered
# (workspace/broker_recovery.py), instead of waiting for the visibility timeout.
app.steps["consumer"].add(RestoreUnackedAfterReconnect)
