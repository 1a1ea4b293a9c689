from contextlib import ExitStack
from datetime import date, datetime, time, timedelta
from pathlib import PurePosixPath

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from editor.upstream import (
    MODELS,
    EditRequest,
    GenerateRequest,
    ImageInput,
    InvalidEditRequest,
    ModelCapabilities,
    check_offered,
    check_size,
    default_model,
    offered_models,
    service_for,
    size_preset_groups,
    validate,
    validate_generation,
)
from editor.upstream.capabilities import cannot_generate
from editor.upstream.sizes import MAX_SIDE, STEP, format_size, parse_size, resolution_of

from .imaging import (
    CONTENT_TYPES,
    ImageFacts,
    check_data,
    check_mask_alpha,
    check_mask_header,
    read_header,
)
from .models import Status, max_batch

ACCEPT = "image/png,image/jpeg,image/webp"

OPTION_LABELS = {
    "size": "Size",
    "quality": "Quality",
    "n": "Number of results",
    "background": "Background",
    "output_format": "File format",
    "output_compression": "Compression (0–100, JPEG and WebP)",
    "input_fidelity": "Keep details of the input",
}
CHOICE_LABELS = {
    "auto": "Automatic",
    "low": "Low (fast)",
    "medium": "Medium",
    "high": "High",
    "standard": "Standard",
    "transparent": "Transparent",
    "opaque": "Opaque",
    "png": "PNG",
    "jpeg": "JPEG",
    "webp": "WebP",
}


def _choices(values, blank: str | None = None) -> list[tuple[str, str]]:
    choices = [("", blank)] if blank else []
    return choices + [(v, CHOICE_LABELS.get(v, v.replace("x", " × "))) for v in values]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    widget = MultipleFileInput(attrs={"accept": ACCEPT})

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        if not files and self.required:
            raise ValidationError("Add at least one photo to edit.", code="required")
        return [super(MultipleImageField, self).clean(f, initial) for f in files]


CUSTOM_SIZE = "custom"
# With several photos: one picture made from all of them, or one edit per photo (a batch).
TOGETHER, EACH = "together", "each"
APPLY_TO_CHOICES = [
    (TOGETHER, "Combine them into one picture"),
    (EACH, "Apply to each photo separately"),
]
APPLY_TO_EXAMPLES = {
    TOGETHER: "For example: put these items together in a gift basket.",
    EACH: "For example: put each product on a white background, one result per photo.",
}
SIDES_AS_NUMBERS = "Give the width and height as whole numbers of pixels, such as 2048 × 1152."
BILLING_WORDS = {
    "per_image": "billed per result",
    "per_token": "billed by the tokens it uses",
    "per_request": "billed per edit",
}


def service_and_models() -> tuple[str, tuple[str, ...]]:
    """The service Retouch talks to and the names ``RETOUCH_MODELS`` narrows the offer to.

    Read on every form, not once at import: a deployment's settings decide, and tests
    change them."""
    service = service_for(settings.OPENAI_BASE_URL, getattr(settings, "RETOUCH_SERVICE", "auto"))
    return service, tuple(getattr(settings, "RETOUCH_MODELS", ()) or ())


def model_choice_label(model: ModelCapabilities) -> str:
    """What a person reads in the picker: ``GPT Image 2 — Best quality``."""
    return f"{model.label} — {model.tagline}" if model.tagline else model.label


def _size_choices(caps: ModelCapabilities) -> list:
    """The size picker: ``auto`` where the model takes it, the presets (grouped by
    resolution for the grid models), and "Custom size…" for the grid."""
    choices: list = [("auto", "Automatic (the model decides)")] if "auto" in caps.sizes else []
    groups = size_preset_groups(caps)
    if caps.size_on_grid:
        choices += [(res, [(p.value, p.label) for p in items]) for res, items in groups.items()]
        choices.append((CUSTOM_SIZE, "Custom size…"))
    else:
        choices += [(p.value, p.label) for items in groups.values() for p in items]
    return choices


def _side_field(label: str) -> forms.IntegerField:
    # The browser's own checks are off (novalidate): min/max/step only make the arrows
    # and the number keyboard useful. The grid's rules are checked with check_size.
    return forms.IntegerField(
        label=label,
        required=False,
        error_messages={
            "invalid": f"Give the {label.lower()} as a whole number of pixels, such as 2048.",
        },
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


class EditForm(forms.Form):
    """Everything a person chooses for one edit, checked in plain words before
    anything is stored or sent upstream.

    The model picker offers what the configured service serves (``RETOUCH_MODELS``
    narrows it); the fields below it are the chosen model's own, so a setting the model
    would ignore is neither shown nor sent. Cheap checks first: every field, and each
    photo from its size and header. The photos' data (and the mask's pixels) is read
    last, only for a form that is otherwise valid (imaging.py: how, and under which bound).
    """

    model = forms.CharField(
        label="Model",
        widget=forms.Select,
        error_messages={"required": "Choose a model."},
    )
    prompt = forms.CharField(
        label="What should change?",
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "e.g. Put these items in a gift basket"}
        ),
        error_messages={"required": "Describe what should change in the photos."},
    )
    # Optional: without a photo the form creates an image from the prompt alone.
    images = MultipleImageField(
        label="Photos",
        required=False,
        help_text="Optional. Add photos to edit them, or leave empty to create a new image.",
    )
    apply_to = forms.ChoiceField(
        label="With several photos",
        choices=APPLY_TO_CHOICES,
        required=False,
        initial=TOGETHER,
        widget=forms.RadioSelect,
    )
    mask = forms.FileField(
        label="Mask (optional PNG: transparent where the first photo may change)",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/png"}),
    )

    # "Edit this result": the edit starts from an earlier result (its first photo).
    parent = forms.IntegerField(required=False, widget=forms.HiddenInput)
    parent_result = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, base_result=None, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.base_result = base_result
        if base_result is not None:
            self.fields["images"].required = False
            self.initial.setdefault("parent", base_result.edit_id)
            self.initial.setdefault("parent_result", base_result.position)
        self.service, self.only = service_and_models()
        self.offered = offered_models(self.service, self.only)
        self.default_model = default_model(self.service, self.only)
        self.model_choices = [(m.name, model_choice_label(m)) for m in self.offered]
        self.fields["model"].widget.choices = self.model_choices
        self.fields["model"].initial = self.default_model
        chosen = (self.data.get("model") if self.is_bound else None) or self.initial.get("model")
        # A model that is not offered here (posted by hand, or an earlier edit's) is
        # refused by clean_model; the fields shown meanwhile are the default model's.
        name = chosen if any(m.name == chosen for m in self.offered) else self.default_model
        self.capabilities = MODELS[name]
        self._add_option_fields()
        self._initial_custom_size()
        self.image_facts: list[ImageFacts] = []

    def _add_option_fields(self) -> None:
        caps = self.capabilities
        plural = "" if caps.max_n == 1 else "s"
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
                    "max_value": f"{caps.label} makes at most {caps.max_n} result{plural} "
                    f"per edit; ask for {caps.max_n} or fewer.",
                    "min_value": "Ask for at least 1 result.",
                    "invalid": "Give the number of results as a whole number, such as 2.",
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
                choices=_choices(caps.input_fidelities, blank="Default"), required=False
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
            self.fields["size_width"] = _side_field("Width")
            self.fields["size_height"] = _side_field("Height")

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
    def offer_key(self) -> str:
        """What the model picker depends on, for the cache of the drawn form."""
        return f"{self.service}:{','.join(name for name, _ in self.model_choices)}"

    @property
    def model_facts(self) -> str:
        """The chosen model in a few words: ``up to 16 photos · no mask · …``."""
        caps = self.capabilities
        facts = ["one photo" if caps.max_images == 1 else f"up to {caps.max_images} photos"]
        facts.append("takes a mask" if caps.takes_mask else "no mask")
        facts.append("one result" if caps.max_n == 1 else f"up to {caps.max_n} results")
        if caps.size_on_grid:
            facts.append("sizes up to 4K")
        elif caps.size_rule == "none":
            facts.append("the model picks the size")
        if caps.billing in BILLING_WORDS:
            facts.append(BILLING_WORDS[caps.billing])
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
            return SIDES_AS_NUMBERS, False
        w, h = int(width), int(height)
        problem = check_size(self.capabilities, format_size(w, h))
        if problem:
            return problem, False
        return f"{w} × {h} works ({resolution_of(w, h)}).", True

    @property
    def is_blank(self) -> bool:
        """Nothing submitted, carried over or started from: the form every new edit
        starts with, the same for everyone, so its HTML can be drawn once and reused."""
        return not self.is_bound and not self.initial and self.base_result is None

    @property
    def shows_default_options(self) -> bool:
        """The options as every fresh form of this model shows them (nothing submitted or
        carried over from an earlier edit), so their HTML can be drawn once and reused."""
        names = [*self.option_names, "size_width", "size_height"]
        return not self.is_bound and not any(name in self.initial for name in names)

    @property
    def is_generation(self) -> bool:
        """No photo posted and no earlier result to start from: the image is created from
        the prompt alone (``images/generations``). Read from the posted files, as the
        model's check runs before the photos are cleaned."""
        if not self.is_bound or self.base_result is not None:
            return False
        files = self.files.getlist("images") if hasattr(self.files, "getlist") else None
        return not (files if files is not None else self.files.get("images"))

    def clean_model(self):
        name = self.cleaned_data["model"]
        problem = check_offered(name, self.service, self.only)
        if problem:
            raise ValidationError(problem, code="not_offered")
        if self.is_generation and not MODELS[name].generates:
            raise ValidationError(cannot_generate(MODELS[name]), code="cannot_generate")
        return name

    def clean_images(self):
        files = self.cleaned_data["images"]
        if self.is_generation:
            return []
        caps = self.capabilities
        errors = []
        facts = []
        for upload in files:
            try:
                facts.append(
                    read_header(
                        upload,
                        upload.name,
                        size=upload.size,
                        max_bytes=min(
                            caps.max_image_bytes, settings.RETOUCH_MAX_UPLOAD_MB * 1024 * 1024
                        ),
                        max_pixels=settings.RETOUCH_MAX_PIXELS,
                    )
                )
            except ValidationError as exc:
                errors.append(exc)
        if errors:
            raise ValidationError(errors)
        names = [upload.name for upload in files]
        if self.base_result is not None:
            base = self.base_result
            fmt = {v: k for k, v in CONTENT_TYPES.items()}.get(base.content_type, "PNG")
            facts.insert(0, ImageFacts(fmt, base.content_type, base.width, base.height, False))
            names.insert(0, "the earlier result")
        if self.applies_to_each:
            self._check_batch_size(len(facts))
        else:
            self._check_count(len(facts))
        if caps.square_only:
            for name, fact in zip(names, facts, strict=True):
                if fact.width != fact.height or fact.format != "PNG":
                    raise ValidationError(
                        f"{caps.label} needs a square PNG; “{name}” is a "
                        f"{fact.width}×{fact.height} {fact.format}.",
                        code="square",
                    )
        for name, fact in zip(names, facts, strict=True):
            if min(fact.width, fact.height) < caps.min_image_side:
                raise ValidationError(
                    f"“{name}” is {fact.width}×{fact.height} pixels; {caps.label} needs "
                    f"photos at least {caps.min_image_side} pixels on each side: choose a "
                    "larger photo.",
                    code="too_small",
                )
        self.image_facts = facts
        return files

    @property
    def applies_to_each(self) -> bool:
        """Apply to each photo separately: one edit per photo, grouped as a batch (with
        one photo it is just an edit). Read from the posted data: the photos' checks
        depend on it, and they run before the field itself is cleaned."""
        return self.is_bound and self.data.get("apply_to") == EACH

    @property
    def apply_to_options(self) -> list[tuple[str, str, str, bool]]:
        """The two choices with their one-line examples and which is checked."""
        chosen = EACH if self.applies_to_each else TOGETHER
        return [(v, label, APPLY_TO_EXAMPLES[v], v == chosen) for v, label in APPLY_TO_CHOICES]

    def _check_batch_size(self, count: int) -> None:
        limit = max_batch()
        if count > limit:
            raise ValidationError(
                f"A batch takes at most {limit} photos; you added {count}: remove "
                f"{count - limit}, or start a second batch with them.",
                code="count",
            )

    def _check_count(self, count: int) -> None:
        caps = self.capabilities
        if count > caps.max_images == 1:
            raise ValidationError(
                f"{caps.label} edits exactly one photo; you added {count}: keep one, or "
                "choose a model that takes several.",
                code="count",
            )
        if count > caps.max_images:
            raise ValidationError(
                f"{caps.label} takes at most {caps.max_images} photos; you added {count}: "
                f"remove {count - caps.max_images}.",
                code="count",
            )
        if count < caps.min_images:
            raise ValidationError(
                f"{caps.label} needs at least {caps.min_images} photos; you added {count}.",
                code="count",
            )

    def clean_mask(self):
        mask = self.cleaned_data.get("mask")
        if not mask:
            return None
        if self.is_generation:
            raise ValidationError(
                "A mask marks the part of a photo to change: add that photo, or remove the "
                "mask to create a new image.",
                code="mask_without_photo",
            )
        caps = self.capabilities
        if not caps.takes_mask:
            other = self.mask_alternative
            instead = f"choose {other.label}, which does" if other else "leave the mask out"
            raise ValidationError(
                f"{caps.label} does not take a mask: remove it, or {instead}.", code="no_mask"
            )
        facts = read_header(
            mask,
            mask.name,
            size=mask.size,
            max_bytes=caps.mask_max_bytes,
            max_pixels=settings.RETOUCH_MAX_PIXELS,
        )
        check_mask_header(facts)
        self.mask_facts = facts
        return mask

    def clean(self):
        cleaned = super().clean()
        self._clean_size(cleaned)
        mask = cleaned.get("mask")
        if mask and self.image_facts:
            # Applied to each photo, the mask must fit every one of them.
            photos = self.image_facts if self.applies_to_each else self.image_facts[:1]
            mask_size = (self.mask_facts.width, self.mask_facts.height)
            for fact in photos:
                if mask_size != (fact.width, fact.height):
                    which = "every photo" if self.applies_to_each else "the first photo"
                    self.add_error(
                        "mask",
                        f"The mask is {mask_size[0]}×{mask_size[1]} pixels; it must be the "
                        f"same size as {which} ({fact.width}×{fact.height}).",
                    )
                    break
        if not self.errors:
            self._validate_for_upstream(cleaned)
        if not self.errors:
            self._check_data(cleaned)
        return cleaned

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
                        "Give both a width and a height for a custom size, or choose one "
                        "of the sizes listed.",
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

    def _check_data(self, cleaned) -> None:
        """The photos' data and the mask's pixels, read only once nothing cheaper refused
        the form: each read waits for one of the process's few decode slots."""
        uploads = cleaned["images"]
        facts = self.image_facts[-len(uploads) :] if uploads else []
        for upload, fact in zip(uploads, facts, strict=True):
            try:
                check_data(upload, upload.name, fact)
            except ValidationError as exc:
                self.add_error("images", exc)
        mask = cleaned.get("mask")
        if mask and not self.errors:
            try:
                check_mask_alpha(mask)
            except ValidationError as exc:
                self.add_error("mask", exc)

    def _validate_for_upstream(self, cleaned) -> None:
        """The client's own rules (per-model options, sizes, counts) before any upload."""
        if self.is_generation:
            request = GenerateRequest(cleaned["model"], cleaned["prompt"], **self.params())
            self._report(validate_generation, request)
            return
        with ExitStack() as stack:
            uploads = list(cleaned["images"])
            if self.base_result is not None:
                uploads.insert(0, stack.enter_context(self.base_result.file.open("rb")))
            images = [
                ImageInput(PurePosixPath(f.name).name, fact.content_type, f)
                for f, fact in zip(uploads, self.image_facts, strict=True)
            ]
            if not self.applies_to_each:
                self._validate_request(cleaned, images)
                return
            # Each photo is an edit of its own: the requests differ by their photo alone.
            for image in images:
                self._validate_request(cleaned, [image])
                if self.errors:
                    return

    def _validate_request(self, cleaned, images) -> None:
        mask = cleaned.get("mask")
        request = EditRequest(
            model=cleaned["model"],
            prompt=cleaned["prompt"],
            images=images,
            mask=ImageInput(mask.name, "image/png", mask) if mask else None,
            **self.params(),
        )
        self._report(validate, request)

    def _report(self, check, request) -> None:
        try:
            check(request)
        except InvalidEditRequest as exc:
            for field, messages in exc.errors.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)

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


class GalleryFilterForm(forms.Form):
    """The gallery's filters, read from the URL so that a filtered gallery can be
    bookmarked and shared. Anything invalid is ignored (and explained), never an error
    page."""

    q = forms.CharField(
        label="Prompt contains",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "e.g. sky"}),
    )
    member = forms.ChoiceField(label="Made by", required=False)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *Status.choices]
    )
    model = forms.ChoiceField(label="Model", required=False)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    starred = forms.BooleanField(label="Starred by me", required=False)

    def __init__(self, data, *, team, user=None):
        super().__init__(data, label_suffix="", auto_id="filter-%s")
        self.user = user
        members = team.memberships.select_related("user").order_by("user__username")
        usernames = [m.user.get_username() for m in members]
        self.fields["member"].choices = [("", "Anyone"), *[(u, u) for u in usernames]]
        self.fields["model"].choices = [("", "Any model")] + [
            (m.name, m.label) for m in MODELS.values()
        ]

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def criteria(self) -> dict:
        """Keyword arguments for `EditQuerySet.matching()`, from the valid fields only."""
        if not self.is_bound:
            return {}
        self.is_valid()
        data = self.cleaned_data
        criteria = {
            "text": data.get("q", ""),
            "member": data.get("member", ""),
            "status": data.get("status", ""),
            "model": data.get("model", ""),
            "starred_by": self.user if data.get("starred") and self.user else None,
        }
        # Whole days in the site's time zone: "to" includes the day it names.
        if data.get("since"):
            criteria["created_from"] = _start_of(data["since"])
        if data.get("until") and "until" not in self.errors:
            criteria["created_before"] = _start_of(data["until"] + timedelta(days=1))
        return criteria

    @property
    def is_active(self) -> bool:
        return any(self.criteria().values())


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
