from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "editor.teams"
    verbose_name = "Teams"

    def ready(self) -> None:
        from . import signals  # noqa: F401
