from django.apps import AppConfig


class StoriesConfig(AppConfig):
    name = "stories"
    verbose_name = "Stories"

    def ready(self) -> None:
        # Services send tasks by name (workspace.jobs.task_signature): register them.
        from stories import tasks  # noqa: F401
