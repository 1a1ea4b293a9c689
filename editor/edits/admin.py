"""Staff look-ups for support: find an edit by any id the service or a person quotes
(trace id, task id, x-request-id), by prompt or by who made it. What the service
recorded is read-only here; deleting goes through services.delete_edit, so the files
go with the rows."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy

from .models import Edit, ResultImage, SourceImage
from .services import delete_edit

# Media has no public URL (MEDIA_URL is None), so files are shown as links to the
# app's own permission-checked views rather than with Django's file widgets.
IMAGE_FIELDS = ["position", "stored_file", "content_type", "width", "height", "size_bytes"]


class ImageInline(admin.TabularInline):
    extra = 0
    can_delete = False
    view_name = ""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=gettext_lazy("File"))
    def stored_file(self, image) -> str:
        url = reverse(self.view_name, args=[image.edit_id, image.position])
        return format_html('<a href="{}">{}</a>', url, image.file.name)


class SourceImageInline(ImageInline):
    model = SourceImage
    view_name = "edit_source"
    fields = [*IMAGE_FIELDS, "original_name"]
    readonly_fields = fields


class ResultImageInline(ImageInline):
    model = ResultImage
    view_name = "edit_result"
    fields = [*IMAGE_FIELDS, "revised_prompt"]
    readonly_fields = fields


@admin.register(Edit)
class EditAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "short_prompt",
        "team",
        "created_by",
        "kind",
        "model",
        "status",
        "created_at",
    ]
    list_filter = ["kind", "status", "model", "created_at"]
    list_select_related = ["team", "created_by"]
    search_fields = [
        "=pk",
        "trace_id",
        "task_id",
        "request_id",
        "prompt",
        "created_by__username",
        "created_by__email",
    ]
    search_help_text = gettext_lazy(
        "Trace id, task id, request id (x-request-id), prompt or username."
    )
    date_hierarchy = "created_at"
    raw_id_fields = ["team", "created_by", "parent"]
    exclude = ["mask"]
    readonly_fields = [
        "mask_file",
        "trace_id",
        "task_id",
        "request_id",
        "upstream_created",
        "upstream_elapsed",
        "usage",
        "attempts",
        "created_at",
        "started_at",
        "finished_at",
        "updated_at",
        # Picks are made in the app, where they are logged; a select of every result
        # (and every user) would also make this page as slow as the table is long.
        "picked_result",
        "picked_by",
        "picked_at",
    ]
    inlines = [SourceImageInline, ResultImageInline]

    @admin.display(description=gettext_lazy("Mask"))
    def mask_file(self, edit: Edit) -> str:
        if not edit.mask:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("edit_mask", args=[edit.pk]), edit.mask.name
        )

    @admin.display(description=gettext_lazy("Prompt"), ordering="prompt")
    def short_prompt(self, edit: Edit) -> str:
        return edit.prompt[:60]

    def has_add_permission(self, request) -> bool:
        return False  # edits are made through the app, with their images

    def delete_model(self, request, obj: Edit) -> None:
        delete_edit(obj, by=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for edit in queryset.select_related("team"):
            delete_edit(edit, by=request.user)
