from contextlib import ExitStack
from datetime import date, datetime, time, timedelta
from pathlib import PurePosixPath

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from editor.upstream import MODELS, EditRequest, ImageInput, InvalidEditRequest, validate

from .imaging import (
    CONTENT_TYPES,
    ImageFacts,
    check_data,
    check_mask_alpha,
    check_mask_header,
    read_header,
)
from .models import Status

DEFAULT_MODEL = "gpt-image-1"
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


class EditForm(forms.Form):
    """Everything a person chooses for one edit, checked in plain words before
    anything is stored or sent upstream.

    Cheap checks first: every field, and each photo from its size and header. The photos'
    data (and the mask's pixels) is read last, only for a form that is otherwise valid
    (imaging.py: how, and under which bound).
    """

    model = forms.ChoiceField(label="Model", choices=[])
    prompt = forms.CharField(
        label="What should change?",
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "e.g. Put these items in a gift basket"}
        ),
        error_messages={"required": "Describe what should change in the photos."},
    )
    images = MultipleImageField(label="Photos")
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
        self.fields["model"].choices = [(m.name, m.label) for m in MODELS.values()]
        self.fields["model"].initial = DEFAULT_MODEL
        chosen = (self.data.get("model") if self.is_bound else None) or self.initial.get("model")
        self.capabilities = MODELS.get(chosen) or MODELS[DEFAULT_MODEL]
        self._add_option_fields()
        self.image_facts: list[ImageFacts] = []

    def _add_option_fields(self) -> None:
        caps = self.capabilities
        fields = {
            "size": lambda: forms.ChoiceField(
                choices=_choices(caps.sizes), initial=caps.default_size
            ),
            "quality": lambda: forms.ChoiceField(
                choices=_choices(caps.qualities),
                initial="auto" if "auto" in caps.qualities else caps.qualities[0],
            ),
            "n": lambda: forms.IntegerField(min_value=1, max_value=caps.max_n, initial=1),
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
                choices=_choices(["low", "high"], blank="Default"), required=False
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

    @property
    def option_names(self) -> list[str]:
        return [name for name in self.capabilities.options if name in self.fields]

    @property
    def option_fields(self) -> list:
        return [self[name] for name in self.option_names]

    @property
    def is_blank(self) -> bool:
        """Nothing submitted, carried over or started from: the form every new edit
        starts with, the same for everyone, so its HTML can be drawn once and reused."""
        return not self.is_bound and not self.initial and self.base_result is None

    @property
    def shows_default_options(self) -> bool:
        """The options as every fresh form of this model shows them (nothing submitted or
        carried over from an earlier edit), so their HTML can be drawn once and reused."""
        return not self.is_bound and not any(name in self.initial for name in self.option_names)

    def clean_images(self):
        files = self.cleaned_data["images"]
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
        count = len(facts)
        if not caps.min_images <= count <= caps.max_images:
            if caps.min_images == caps.max_images:
                raise ValidationError(
                    f"{caps.label} edits exactly {caps.max_images} photo; you added {count}.",
                    code="count",
                )
            raise ValidationError(
                f"{caps.label} takes {caps.min_images} to {caps.max_images} photos; "
                f"you added {count}.",
                code="count",
            )
        if caps.square_only:
            for name, fact in zip(names, facts, strict=True):
                if fact.width != fact.height or fact.format != "PNG":
                    raise ValidationError(
                        f"{caps.label} needs a square PNG; “{name}” is a "
                        f"{fact.width}×{fact.height} {fact.format}.",
                        code="square",
                    )
        self.image_facts = facts
        return files

    def clean_mask(self):
        mask = self.cleaned_data.get("mask")
        if not mask:
            return None
        facts = read_header(
            mask,
            mask.name,
            size=mask.size,
            max_bytes=self.capabilities.mask_max_bytes,
            max_pixels=settings.RETOUCH_MAX_PIXELS,
        )
        check_mask_header(facts)
        self.mask_facts = facts
        return mask

    def clean(self):
        cleaned = super().clean()
        mask = cleaned.get("mask")
        if mask and self.image_facts:
            first = self.image_facts[0]
            if (self.mask_facts.width, self.mask_facts.height) != (first.width, first.height):
                self.add_error(
                    "mask",
                    f"The mask is {self.mask_facts.width}×{self.mask_facts.height} pixels; it "
                    f"must be the same size as the first photo ({first.width}×{first.height}).",
                )
        if not self.errors:
            self._validate_for_upstream(cleaned)
        if not self.errors:
            self._check_data(cleaned)
        return cleaned

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
        with ExitStack() as stack:
            uploads = list(cleaned["images"])
            if self.base_result is not None:
                uploads.insert(0, stack.enter_context(self.base_result.file.open("rb")))
            images = [
                ImageInput(PurePosixPath(f.name).name, fact.content_type, f)
                for f, fact in zip(uploads, self.image_facts, strict=True)
            ]
            self._validate_request(cleaned, images)

    def _validate_request(self, cleaned, images) -> None:
        mask = cleaned.get("mask")
        request = EditRequest(
            model=cleaned["model"],
            prompt=cleaned["prompt"],
            images=images,
            mask=ImageInput(mask.name, "image/png", mask) if mask else None,
            **self.params(),
        )
        try:
            validate(request)
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
