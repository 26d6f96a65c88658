from django.apps import AppConfig


class ResearchConfig(AppConfig):
    name = "research"
    verbose_name = "Research"

    def ready(self) -> None:
        # Register the Celery tasks in every process, the web's too: services send them by
        # name (workspace/jobs/enqueue.py) and never import the task modules themselves.
        from research import signals  # noqa: F401  (connects the receivers)
        from research.library import tasks as library_tasks  # noqa: F401
        from research.qa import tasks as qa_tasks  # noqa: F401
        from research.study import tasks as study_tasks  # noqa: F401
