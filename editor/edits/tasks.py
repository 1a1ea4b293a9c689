"""Background work, run by `manage.py db_worker`."""

import logging
from contextlib import ExitStack
from pathlib import PurePosixPath

from django.conf import settings
from django.tasks import task

from editor.upstream import EditRequest, ImageInput, UpstreamError

from .models import Edit
from .services import store_results, upstream_client

log = logging.getLogger(__name__)


def build_request(edit: Edit, stack: ExitStack) -> EditRequest:
    """The upstream request for an edit, with its stored files opened for streaming."""
    images = [
        ImageInput(
            filename=source.original_name or PurePosixPath(source.file.name).name,
            content_type=source.content_type,
            fileobj=stack.enter_context(source.file.storage.open(source.file.name, "rb")),
        )
        for source in edit.sources.all()
    ]
    mask = None
    if edit.mask:
        mask = ImageInput(
            "mask.png", "image/png", stack.enter_context(edit.mask.storage.open(edit.mask.name))
        )
    params = dict(edit.params)
    response_format = settings.OPENAI_RESPONSE_FORMAT
    if not response_format and params.get("n", 1) > 1 and not _is_openai(settings.OPENAI_BASE_URL):
        # The gateway returns several results only as URLs; OpenAI itself refuses
        # response_format for gpt-image models, so it is only sent where needed.
        response_format = "url"
    if response_format:
        params["response_format"] = response_format
    return EditRequest(
        model=edit.model,
        prompt=edit.prompt,
        images=images,
        mask=mask,
        user=f"retouch-user-{edit.created_by_id}" if edit.created_by_id else None,
        **params,
    )


def _is_openai(base_url: str) -> bool:
    return "api.openai.com" in base_url


@task()
def run_edit(edit_id: int) -> str:
    edit = Edit.objects.filter(pk=edit_id).first()
    if edit is None:
        return "missing"
    if not edit.mark_running():
        return "not-queued"
    with ExitStack() as stack:
        client = stack.enter_context(upstream_client())
        try:
            request = build_request(edit, stack)
            result = client.edit(request)
        except UpstreamError as exc:
            log.warning("Edit %s failed upstream: %s", edit.pk, exc)
            edit.mark_failed(
                exc.code,
                exc.message,
                exc.detail,
                trace_id=exc.trace_id or "",
                request_id=exc.request_id or "",
            )
            return "failed"
        except Exception as exc:
            log.exception("Edit %s failed unexpectedly", edit.pk)
            edit.mark_failed(
                "internal_error",
                "Something went wrong inside Retouch while sending this edit. Try again; if "
                "it keeps failing, tell your administrator.",
                repr(exc),
            )
            return "failed"
    try:
        store_results(edit, result)
    except Exception as exc:
        log.exception("Edit %s: could not store results", edit.pk)
        edit.mark_failed(
            "store_failed",
            "The edit finished but Retouch could not save the result. Try again.",
            repr(exc),
            trace_id=result.trace_id or "",
            request_id=result.request_id or "",
        )
        return "failed"
    return "succeeded"
