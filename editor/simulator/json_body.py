"""Edits requests sent as JSON (``Content-Type: application/json``) with images by URL, and
generations requests (always JSON, never with images).

The gateway documents a JSON body whose ``image`` is a URL or a list of URLs. The simulator
fetches no one else's URLs: an image must be one it serves itself (``/_sim/files/``, where
results and ``Simulator.put_file`` sources live); any other address is refused with 400, as
the gateway refuses a URL it cannot fetch.
"""

from __future__ import annotations

import io
import json
import posixpath
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .validation import BadRequest, Upload

FILES_PATH = "/_sim/files/"
LOCAL_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def fields_of(body: Any) -> dict[str, list[str]]:
    """The JSON object as form fields (``n: 2`` reads like the form field ``n=2``)."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object.")
    if "mask" in body:
        raise BadRequest("'mask' is accepted only in a multipart/form-data request, as a file.")
    return {
        name: field_values(value)
        for name, value in body.items()
        if name != "image" and value is not None
    }


def generation_fields(body: Any) -> dict[str, list[str]]:
    """A generations body as form fields; it creates from the prompt alone, so no images."""
    for name in ("image", "mask"):
        if isinstance(body, dict) and name in body:
            raise BadRequest(
                f"'{name}' is not taken by images/generations, which creates from the prompt "
                "alone; send images to images/edits."
            )
    return fields_of(body)


def field_values(value: Any) -> list[str]:
    """A JSON value as a form field's values: a list item by item, strings as they are,
    anything else as its JSON text."""
    items = value if isinstance(value, list) else [value]
    return [item if isinstance(item, str) else json.dumps(item) for item in items]


def image_urls(body: dict[str, Any]) -> list[str]:
    value = body.get("image")
    urls = value if isinstance(value, list) else [] if value is None else [value]
    if not all(isinstance(url, str) and url for url in urls):
        raise BadRequest("'image' must be a URL or a list of URLs.")
    return urls


def fetch_images(
    urls: list[str],
    host: str,
    port: int,
    read_file: Callable[[str], tuple[bytes, str] | None],
) -> list[Upload]:
    """The images behind ``urls`` as uploads; only the simulator's own files are fetched."""
    uploads = []
    for position, url in enumerate(urls, start=1):
        name = _own_file(url, host, port)
        if name is None:
            raise BadRequest(
                f"'image' #{position} ({url}) cannot be fetched: this service fetches only "
                f"its own {FILES_PATH} URLs."
            )
        stored = read_file(name)
        if stored is None:
            raise BadRequest(f"'image' #{position} ({url}) cannot be fetched: 404 Not Found.")
        data, content_type = stored
        uploads.append(Upload("image", name, content_type, io.BytesIO(data), len(data)))
    return uploads


def _own_file(url: str, host: str, port: int) -> str | None:
    try:
        parts = urlsplit(url)
        url_port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    ours = parts.hostname in LOCAL_NAMES | {host} and url_port == port
    if parts.scheme != "http" or not ours or not parts.path.startswith(FILES_PATH):
        return None
    name = parts.path[len(FILES_PATH) :]
    return name if name and posixpath.basename(name) == name else None
