from django.apps import AppConfig


class EditsConfig(AppConfig):
    name = "editor.edits"
    verbose_name = "Edits"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the delivery settings checks
