from django import template

from editor.edits.forms import CHOICE_LABELS, OPTION_LABELS

register = template.Library()


@register.filter
def param_label(name: str) -> str:
    """`output_format` → `File format`: parameters in the words the form uses."""
    return OPTION_LABELS.get(name, name.replace("_", " ").capitalize())


@register.filter
def param_value(value) -> str:
    return CHOICE_LABELS.get(value, value) if isinstance(value, str) else value
