"""Several edits in one download: their results and a manifest.csv saying how each
file was made, streamed as one zip."""

import csv
import io
import json
from collections.abc import Iterable, Iterator

from django.utils import timezone

from .media import open_stream
from .zipstream import Entry, stream_zip

MANIFEST_COLUMNS = [
    "file_name",
    "prompt",
    "model",
    "parameters",
    "created_by",
    "created_at",
    "edit_id",
    "trace_id",
    "task_id",
    "request_id",
    "picked",  # "yes" for the team's pick, "no" for its other results, empty if none
]


# A cell starting with one of these is a formula to spreadsheet programs; OWASP's advice
# (CSV injection) is to make such cells text with a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _as_text(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def manifest_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: _as_text(value) for key, value in row.items()} for row in rows)
    # A BOM so that spreadsheet programs open the prompts' accents correctly.
    return ("\ufeff" + out.getvalue()).encode()


def result_entry(edit, result, name: str) -> Entry:
    """One result as a zip entry, opened only when the stream reaches it and read as it
    arrives (from a bucket too: media.open_stream)."""
    return (
        name,
        lambda f=result.file: open_stream(f),
        edit.finished_at or edit.created_at,
    )


def _picked(edit, result) -> str:
    if edit.picked_result_id is None:
        return ""
    return "yes" if result.pk == edit.picked_result_id else "no"


def bulk_zip(edits: Iterable, *, everything: bool = False) -> Iterator[bytes]:
    """The zip of the results of `edits` (which must have `results` prefetched): of an
    edit with a pick, the pick alone unless `everything`."""
    entries = []
    rows = []
    for edit in edits:
        for result in edit.results_to_download(everything=everything):
            result.edit = edit
            name = f"{edit.pk}-{result.download_name()}"
            entries.append(result_entry(edit, result, name))
            rows.append(
                {
                    "file_name": name,
                    "prompt": edit.prompt,
                    "model": edit.model,
                    "parameters": json.dumps(edit.params, sort_keys=True),
                    "created_by": edit.created_by.get_username() if edit.created_by else "",
                    "created_at": edit.created_at.isoformat(),
                    "edit_id": edit.pk,
                    "trace_id": edit.trace_id,
                    "task_id": edit.task_id,
                    "request_id": edit.request_id,
                    "picked": _picked(edit, result),
                }
            )
    entries.append(("manifest.csv", manifest_csv(rows), timezone.now()))
    return stream_zip(entries)
