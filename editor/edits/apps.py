from django.apps import AppConfig


class EditsConfig(AppConfig):
    name = "editor.edits"
    verbose_name = "Edits"
