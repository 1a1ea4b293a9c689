from django.apps import AppConfig


class EditsConfig(AppConfig):
    name = "editor.edits"
    verbose_name = "Edits"

    def ready(self) -> None:
        from django.conf import settings

        from editor.upstream import add_models

        from . import checks  # noqa: F401 - registers the delivery settings checks

        add_models(settings.RETOUCH_EXTRA_MODELS)  # a deployment's own model entries
