from contextlib import ExitStack
from pathlib import PurePosixPath

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from editor.upstream import (
    MODELS,
    EditRequest,
    GenerateRequest,
    ImageInput,
    InvalidEditRequest,
    check_offered,
    default_model,
    offered_models,
    validate,
    validate_generation,
)
from editor.upstream.capabilities import cannot_generate

from .form_options import (
    ModelOptions,
    model_choice_label,
    service_and_models,
)
from .imaging import (
    CONTENT_TYPES,
    ImageFacts,
    check_data,
    check_mask_alpha,
    check_mask_header,
    read_header,
)
from .models import max_batch

ACCEPT = "image/png,image/jpeg,image/webp"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    widget = MultipleFileInput(attrs={"accept": ACCEPT})

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        if not files and self.required:
            raise ValidationError(_("Add at least one photo to edit."), code="required")
        return [super(MultipleImageField, self).clean(f, initial) for f in files]


# With several photos: one picture made from all of them, or one edit per photo (a batch).
TOGETHER, EACH = "together", "each"
APPLY_TO_CHOICES = [
    (TOGETHER, gettext_lazy("Combine them into one picture")),
    (EACH, gettext_lazy("Apply to each photo separately")),
]
APPLY_TO_EXAMPLES = {
    TOGETHER: gettext_lazy("For example: put these items together in a gift basket."),
    EACH: gettext_lazy(
        "For example: put each product on a white background, one result per photo."
    ),
}


class EditForm(ModelOptions, forms.Form):
    """Everything a person chooses for one edit, checked in plain words before
    anything is stored or sent upstream.

    The model picker offers what the configured service serves (``RETOUCH_MODELS``
    narrows it); the fields below it are the chosen model's own, so a setting the model
    would ignore is neither shown nor sent. Cheap checks first: every field, and each
    photo from its size and header. The photos' data (and the mask's pixels) is read
    last, only for a form that is otherwise valid (imaging.py: how, and under which bound).
    """

    model = forms.CharField(
        label=gettext_lazy("Model"),
        widget=forms.Select,
        error_messages={"required": gettext_lazy("Choose a model.")},
    )
    prompt = forms.CharField(
        label=gettext_lazy("What should change?"),
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": gettext_lazy("e.g. Put these items in a gift basket")}
        ),
        error_messages={"required": gettext_lazy("Describe what should change in the photos.")},
    )
    # Optional: without a photo the form creates an image from the prompt alone.
    images = MultipleImageField(
        label=gettext_lazy("Photos"),
        required=False,
        help_text=gettext_lazy(
            "Optional. Add photos to edit them, or leave empty to create a new image."
        ),
    )
    apply_to = forms.ChoiceField(
        label=gettext_lazy("With several photos"),
        choices=APPLY_TO_CHOICES,
        required=False,
        initial=TOGETHER,
        widget=forms.RadioSelect,
    )
    mask = forms.FileField(
        label=gettext_lazy("Mask (optional PNG: transparent where the first photo may change)"),
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
        # The picker's options with what the browser checks before any upload (upload.js).
        self.model_options = [
            (m.name, label, m.min_image_side, m.label)
            for m, (_name, label) in zip(self.offered, self.model_choices, strict=True)
        ]
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

    @property
    def is_blank(self) -> bool:
        """Nothing submitted, carried over or started from: the form every new edit
        starts with, the same for everyone, so its HTML can be drawn once and reused."""
        return not self.is_bound and not self.initial and self.base_result is None

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
            names.insert(0, _("the earlier result"))
        if self.applies_to_each:
            self._check_batch_size(len(facts))
        else:
            self._check_count(len(facts))
        if caps.square_only:
            for name, fact in zip(names, facts, strict=True):
                if fact.width != fact.height or fact.format != "PNG":
                    raise ValidationError(
                        _("%(model)s needs a square PNG; “%(name)s” is a %(size)s %(format)s.")
                        % {
                            "model": caps.label,
                            "name": name,
                            "size": f"{fact.width}×{fact.height}",
                            "format": fact.format,
                        },
                        code="square",
                    )
        for name, fact in zip(names, facts, strict=True):
            if min(fact.width, fact.height) < caps.min_image_side:
                raise ValidationError(
                    _(
                        "“%(name)s” is %(size)s pixels; %(model)s needs photos at least "
                        "%(side)s pixels on each side: choose a larger photo."
                    )
                    % {
                        "name": name,
                        "size": f"{fact.width}×{fact.height}",
                        "model": caps.label,
                        "side": caps.min_image_side,
                    },
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
                _(
                    "A batch takes at most %(limit)s photos; you added %(count)s: remove "
                    "%(extra)s, or start a second batch with them."
                )
                % {"limit": limit, "count": count, "extra": count - limit},
                code="count",
            )

    def _check_count(self, count: int) -> None:
        caps = self.capabilities
        if count > caps.max_images == 1:
            raise ValidationError(
                _(
                    "%(model)s edits exactly one photo; you added %(count)s: keep one, or "
                    "choose a model that takes several."
                )
                % {"model": caps.label, "count": count},
                code="count",
            )
        if count > caps.max_images:
            raise ValidationError(
                _(
                    "%(model)s takes at most %(limit)s photos; you added %(count)s: "
                    "remove %(extra)s."
                )
                % {
                    "model": caps.label,
                    "limit": caps.max_images,
                    "count": count,
                    "extra": count - caps.max_images,
                },
                code="count",
            )
        if count < caps.min_images:
            raise ValidationError(
                ngettext(
                    "%(model)s needs at least %(limit)s photo; you added %(count)s.",
                    "%(model)s needs at least %(limit)s photos; you added %(count)s.",
                    caps.min_images,
                )
                % {"model": caps.label, "limit": caps.min_images, "count": count},
                code="count",
            )

    def clean_mask(self):
        mask = self.cleaned_data.get("mask")
        if not mask:
            return None
        if self.is_generation:
            raise ValidationError(
                _(
                    "A mask marks the part of a photo to change: add that photo, or remove "
                    "the mask to create a new image."
                ),
                code="mask_without_photo",
            )
        caps = self.capabilities
        if not caps.takes_mask:
            other = self.mask_alternative
            if other:
                message = _(
                    "%(model)s does not take a mask: remove it, or choose %(other)s, which does."
                ) % {"model": caps.label, "other": other.label}
            else:
                message = _("%(model)s does not take a mask: remove it, or leave the mask out.") % {
                    "model": caps.label
                }
            raise ValidationError(message, code="no_mask")
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
                    sizes = {
                        "mask": f"{mask_size[0]}×{mask_size[1]}",
                        "photo": f"{fact.width}×{fact.height}",
                    }
                    if self.applies_to_each:
                        message = _(
                            "The mask is %(mask)s pixels; it must be the same size as every "
                            "photo (%(photo)s)."
                        )
                    else:
                        message = _(
                            "The mask is %(mask)s pixels; it must be the same size as the "
                            "first photo (%(photo)s)."
                        )
                    self.add_error("mask", message % sizes)
                    break
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
