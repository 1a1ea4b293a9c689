from django import template
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from editor.edits.form_options import CHOICE_LABELS, OPTION_LABELS
from editor.teams.templatetags import teams_tags
from editor.upstream import MODELS
from editor.upstream.sizes import SHAPE_LABELS, parse_size, shape_of

register = template.Library()

# How each billing kind of the catalogue reads on the usage page.
BILLING_LABELS = {
    "per_token": gettext_lazy("per token"),
    "per_image": gettext_lazy("per result"),
    "per_request": gettext_lazy("per edit"),
}


# `{{ cost|usd }}`: the same filter as teams_tags' (teams.models.format_usd).
register.filter("usd", teams_tags.usd)


@register.filter
def param_label(name: str) -> str:
    """`output_format` → `File format`: parameters in the words the form uses."""
    return OPTION_LABELS.get(name, name.replace("_", " ").capitalize())


@register.filter
def param_value(value) -> str:
    return CHOICE_LABELS.get(value, value) if isinstance(value, str) else value


@register.filter
def model_label(name: str) -> str:
    """`gpt-image-2` → `GPT Image 2`; a model no longer in the catalogue keeps its name."""
    model = MODELS.get(name)
    return model.label if model else name


@register.filter
def billing_label(name: str) -> str:
    """How the model is billed, in words (`per token`, `per result`, `per edit`); empty
    for a model no longer in the catalogue."""
    model = MODELS.get(name)
    return str(BILLING_LABELS.get(model.billing, "")) if model else ""


@register.filter
def tokens(value) -> str:
    """A token count with the language's thousands separators, or `—` when the service
    reported none (models billed per result or per edit often report no tokens at all)."""
    if value is None or value == "" or isinstance(value, bool):
        return "—"
    try:
        return formats.number_format(int(value), force_grouping=True)
    except (TypeError, ValueError):
        return "—"


@register.filter
def model_tagline(name: str) -> str:
    """The catalogue's few words on a model (`Best quality`); empty when it has none."""
    model = MODELS.get(name)
    return model.tagline if model else ""


@register.filter
def size_words(value) -> str:
    """`1024x1536` → `Portrait, 1024 by 1536 pixels` (a multiplication sign for "by");
    `auto` → `Automatic (the model decides)`: the size asked for, as a person says it."""
    parsed = parse_size(value)
    if parsed is None:
        return _("Automatic (the model decides)") if value == "auto" else str(value or "")
    width, height = parsed
    shape = SHAPE_LABELS[shape_of(width, height)]
    return _("%(shape)s, %(width)s × %(height)s pixels") % {
        "shape": shape,
        "width": width,
        "height": height,
    }


@register.filter
def duration(seconds) -> str:
    """`70` → `1 min 10 s`: how long, in the words the card uses (static/js/gallery.js
    counts on in the same words, with the same messages)."""
    if seconds is None or seconds == "":
        return ""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
    if minutes:
        if secs:
            return _("%(minutes)s min %(seconds)s s") % {"minutes": minutes, "seconds": secs}
        return _("%(minutes)s min") % {"minutes": minutes}
    return _("%(seconds)s s") % {"seconds": secs}
