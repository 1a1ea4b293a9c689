"""The edit form's model-dependent part: the option fields each model takes, the size
picker (presets grouped 1K/2K/4K, a custom width and height on the grid models, checked
with the nearest valid size), and the words the picker shows. EditForm (forms.py) mixes
in ``ModelOptions``."""

from django import forms
from django.conf import settings
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _

from editor.upstream import ModelCapabilities, check_size, service_for, size_preset_groups
from editor.upstream.sizes import (
    MAX_SIDE,
    RESOLUTION_LABELS,
    STEP,
    format_size,
    parse_size,
    resolution_of,
)

OPTION_LABELS = {
    "size": gettext_lazy("Size"),
    "quality": gettext_lazy("Quality"),
    "n": gettext_lazy("Number of results"),
    "background": gettext_lazy("Background"),
    "output_format": gettext_lazy("File format"),
    "output_compression": gettext_lazy("Compression (0–100, JPEG and WebP)"),
    "input_fidelity": gettext_lazy("Keep details of the input"),
}


# File formats keep their names in every language.
CHOICE_LABELS = {
    "auto": gettext_lazy("Automatic"),
    "low": gettext_lazy("Low (fast)"),
    "medium": gettext_lazy("Medium"),
    "high": gettext_lazy("High"),
    "standard": gettext_lazy("Standard"),
    "transparent": gettext_lazy("Transparent"),
    "opaque": gettext_lazy("Opaque"),
    "png": "PNG",
    "jpeg": "JPEG",
    "webp": "WebP",
}


def _choices(values, blank: str | None = None) -> list[tuple[str, str]]:
    choices = [("", blank)] if blank else []
    return choices + [(v, CHOICE_LABELS.get(v, v.replace("x", " × "))) for v in values]


CUSTOM_SIZE = "custom"


SIDES_AS_NUMBERS = gettext_lazy(
    "Give the width and height as whole numbers of pixels, such as 2048 × 1152."
)


BILLING_WORDS = {
    "per_image": gettext_lazy("billed per result"),
    "per_token": gettext_lazy("billed by the tokens it uses"),
    "per_request": gettext_lazy("billed per edit"),
}


def service_and_models() -> tuple[str, tuple[str, ...]]:
    """The service Retouch talks to and the names ``RETOUCH_MODELS`` narrows the offer to.

    Read on every form, not once at import: a deployment's settings decide, and tests
    change them."""
    service = service_for(settings.OPENAI_BASE_URL, settings.RETOUCH_SERVICE)
    return service, tuple(settings.RETOUCH_MODELS)


def model_choice_label(model: ModelCapabilities) -> str:
    """What a person reads in the picker: ``GPT Image 2 — Best quality``."""
    return f"{model.label} — {model.tagline}" if model.tagline else model.label


def _size_choices(caps: ModelCapabilities) -> list:
    """The size picker: ``auto`` where the model takes it, the presets (grouped by
    resolution for the grid models), and "Custom size…" for the grid."""
    automatic = ("auto", _("Automatic (the model decides)"))
    choices: list = [automatic] if "auto" in caps.sizes else []
    groups = size_preset_groups(caps)
    if caps.size_on_grid:
        choices += [
            (str(RESOLUTION_LABELS.get(res, res)), [(p.value, p.label) for p in items])
            for res, items in groups.items()
        ]
        choices.append((CUSTOM_SIZE, _("Custom size…")))
    else:
        choices += [(p.value, p.label) for items in groups.values() for p in items]
    return choices


def _side_field(label: str, invalid: str) -> forms.IntegerField:
    # The browser's own checks are off (novalidate): min/max/step only make the arrows
    # and the number keyboard useful. The grid's rules are checked with check_size.
    return forms.IntegerField(
        label=label,
        required=False,
        error_messages={"invalid": invalid},
        widget=forms.NumberInput(
            attrs={
                "min": STEP,
                "max": MAX_SIDE,
                "step": STEP,
                "inputmode": "numeric",
                "aria-describedby": "size-check",
            }
        ),
    )


class ModelOptions:
    """The chosen model's own fields on the edit form, and its size: what a setting the
    model would ignore is neither shown nor sent. Mixed into EditForm, which sets
    ``capabilities``, ``offered``, ``service`` and ``model_choices``."""

    def _add_option_fields(self) -> None:
        caps = self.capabilities
        too_many = ngettext(
            "%(model)s makes at most %(count)s result per edit; ask for %(count)s or fewer.",
            "%(model)s makes at most %(count)s results per edit; ask for %(count)s or fewer.",
            caps.max_n,
        ) % {"model": caps.label, "count": caps.max_n}
        fields = {
            # Not a ChoiceField: the grid takes sizes beyond its presets, and check_size
            # explains a wrong one better than "Select a valid choice".
            "size": lambda: forms.CharField(
                widget=forms.Select(
                    choices=_size_choices(caps), attrs={"aria-describedby": "size-check"}
                ),
                initial=caps.default_size,
            ),
            "quality": lambda: forms.ChoiceField(
                choices=_choices(caps.qualities),
                initial="auto" if "auto" in caps.qualities else caps.qualities[0],
            ),
            "n": lambda: forms.IntegerField(
                min_value=1,
                max_value=caps.max_n,
                initial=1,
                error_messages={
                    "max_value": too_many,
                    "min_value": _("Ask for at least 1 result."),
                    "invalid": _("Give the number of results as a whole number, such as 2."),
                },
            ),
            "background": lambda: forms.ChoiceField(
                choices=_choices(caps.backgrounds), initial="auto"
            ),
            "output_format": lambda: forms.ChoiceField(
                choices=_choices(caps.output_formats), initial=caps.output_formats[0]
            ),
            "output_compression": lambda: forms.IntegerField(
                min_value=0, max_value=100, required=False
            ),
            "input_fidelity": lambda: forms.ChoiceField(
                choices=_choices(caps.input_fidelities, blank=_("Default")), required=False
            ),
        }
        for name in caps.options:
            if name in fields:
                field = fields[name]()
                field.label = OPTION_LABELS[name]
                # A missing option means "the default", not an error: the form may be
                # posted by a script, or before the options partial was swapped in.
                field.required = False
                self.fields[name] = field
        if "size" in self.fields and caps.size_on_grid:
            self.fields["size_width"] = _side_field(
                _("Width"), _("Give the width as a whole number of pixels, such as 2048.")
            )
            self.fields["size_height"] = _side_field(
                _("Height"), _("Give the height as a whole number of pixels, such as 2048.")
            )

    def _initial_custom_size(self) -> None:
        """An earlier edit's size that is on the grid but not a preset (``?reuse=``)
        comes back as "Custom size…" with its width and height filled in."""
        if self.is_bound or not self.has_custom_size:
            return
        parsed = parse_size(self.initial.get("size"))
        if parsed and self.initial["size"] not in self.capabilities.sizes:
            self.initial["size"] = CUSTOM_SIZE
            self.initial.setdefault("size_width", parsed[0])
            self.initial.setdefault("size_height", parsed[1])

    @property
    def has_custom_size(self) -> bool:
        return "size_width" in self.fields

    @property
    def option_names(self) -> list[str]:
        return [name for name in self.capabilities.options if name in self.fields]

    @property
    def option_fields(self) -> list:
        # The size first: it spans the grid, and is what most people change.
        names = sorted(self.option_names, key=lambda name: name != "size")
        return [self[name] for name in names]

    @property
    def more_options_have_errors(self) -> bool:
        """An error inside "More options" opens it, whatever the person's preference."""
        names = [*self.option_names, "size_width", "size_height", "mask"]
        return self.is_bound and any(name in self.errors for name in names)

    @property
    def offer_key(self) -> str:
        """What the model picker depends on, for the cache of the drawn form (its words are
        in the active language)."""
        names = ",".join(name for name, _label in self.model_choices)
        return f"{get_language()}:{self.service}:{names}"

    @property
    def model_facts(self) -> str:
        """The chosen model in a few words: ``up to 16 photos · no mask · …``."""
        caps = self.capabilities
        if caps.max_images == 1:
            facts = [_("one photo")]
        else:
            facts = [_("up to %(count)s photos") % {"count": caps.max_images}]
        facts.append(_("takes a mask") if caps.takes_mask else _("no mask"))
        if caps.max_n == 1:
            facts.append(_("one result"))
        else:
            facts.append(_("up to %(count)s results") % {"count": caps.max_n})
        if caps.size_on_grid:
            facts.append(_("sizes up to 4K"))
        elif caps.size_rule == "none":
            facts.append(_("the model picks the size"))
        if caps.billing in BILLING_WORDS:
            facts.append(str(BILLING_WORDS[caps.billing]))
        return " · ".join(facts)

    @property
    def mask_alternative(self) -> ModelCapabilities | None:
        """The model to suggest to someone who wants a mask: the chosen one's
        ``:official`` twin where offered, else the first offered model that takes one."""
        masked = [m for m in self.offered if m.takes_mask]
        twin = f"{self.capabilities.name}:official"
        return next((m for m in masked if m.name == twin), masked[0] if masked else None)

    @property
    def size_advice(self) -> str:
        """While a custom size is typed (the live check of an unsubmitted form): why it
        will not work and the nearest that will, or that it works."""
        return self._size_verdict()[0]

    @property
    def size_fits(self) -> bool:
        return self._size_verdict()[1]

    def _size_verdict(self) -> tuple[str, bool]:
        if self.is_bound or not self.has_custom_size:
            return "", False
        if self.initial.get("size") != CUSTOM_SIZE:
            return "", False
        width = str(self.initial.get("size_width") or "").strip()
        height = str(self.initial.get("size_height") or "").strip()
        if not (width and height):
            return "", False
        if not (width.isdigit() and height.isdigit()):
            return str(SIDES_AS_NUMBERS), False
        w, h = int(width), int(height)
        problem = check_size(self.capabilities, format_size(w, h))
        if problem:
            return problem, False
        verdict = _("%(width)s × %(height)s works (%(resolution)s).") % {
            "width": w,
            "height": h,
            "resolution": resolution_of(w, h),
        }
        return verdict, True

    @property
    def shows_default_options(self) -> bool:
        """The options as every fresh form of this model shows them (nothing submitted or
        carried over from an earlier edit), so their HTML can be drawn once and reused."""
        names = [*self.option_names, "size_width", "size_height"]
        return not self.is_bound and not any(name in self.initial for name in names)

    def _clean_size(self, cleaned) -> None:
        """The size as the API wants it: a preset, ``auto``, or the custom width and
        height combined (posted with ``size=custom``, or alone by a script), checked
        against the model's sizes with a suggestion of the nearest that works."""
        if "size" not in self.fields or "size" in self.errors:
            return
        value = cleaned.get("size") or ""
        if self.has_custom_size:
            if "size_width" in self.errors or "size_height" in self.errors:
                return
            width, height = cleaned.get("size_width"), cleaned.get("size_height")
            if value == CUSTOM_SIZE or (not value and (width or height)):
                if width is None or height is None:
                    self.add_error(
                        "size",
                        _(
                            "Give both a width and a height for a custom size, or choose "
                            "one of the sizes listed."
                        ),
                    )
                    return
                if width < 1 or height < 1:
                    self.add_error("size", SIDES_AS_NUMBERS)
                    return
                value = format_size(width, height)
        if value == CUSTOM_SIZE:
            value = ""  # a fixed-list model has no custom size: its default
        problem = check_size(self.capabilities, value)
        if problem:
            self.add_error("size", problem)
            return
        cleaned["size"] = value

    def params(self) -> dict:
        """The optional parameters the person set, as the API names them."""
        params = {}
        for name in self.option_names:
            value = self.cleaned_data.get(name)
            if value in (None, ""):
                value = self.fields[name].initial
            if value not in (None, ""):
                params[name] = value
        if params.get("output_format") == "png":
            params.pop("output_compression", None)
        if self.is_generation:
            params.pop("input_fidelity", None)  # about matching photos; there are none
        return params
