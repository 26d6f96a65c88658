"""One way to run model jobs: the error table, the Celery task base, and the enqueue helper.

The claimable row they work on (`Claimable`) and the generated/edited mixin are abstract
models in workspace/models.py.
"""

from workspace.jobs.enqueue import enqueue_on_commit, task_signature
from workspace.jobs.errors import JobError, error_code_for
from workspace.jobs.tasks import DATABASE_CONNECTION_ERRORS, ModelJobTask

__all__ = [
    "DATABASE_CONNECTION_ERRORS",
    "JobError",
    "ModelJobTask",
    "enqueue_on_commit",
    "error_code_for",
    "task_signature",
]
