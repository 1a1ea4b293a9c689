"""The body of a generation (``images/generations``): JSON, never multipart, since it carries
no files.

Numbers go as numbers and ``stream`` as a boolean, as OpenAI's SDK sends them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .modelspec import OPTIONS, ModelCapabilities
from .schema import GenerateRequest

JSON_TYPE = "application/json"


def generation_body(
    req: GenerateRequest,
    model: ModelCapabilities,
    *,
    callback: bool,
    extra: Iterable[tuple[str, Any]] = (),
) -> bytes:
    """The JSON body for ``req`` (validated by the caller), with ``extra`` fields that say
    how the answer is to come (``stream``, ``partial_images``)."""
    body: dict[str, Any] = {"model": req.model, "prompt": req.prompt}
    for name in OPTIONS:
        value = getattr(req, name, None)
        if value is not None and name in model.generation_options:
            body[name] = value
    # The app's own id, not a setting: left out where the model takes only model and
    # prompt (nano-banana), rather than refused.
    if req.user is not None and model.takes_user:
        body["user"] = req.user
    if callback and req.callback_url:
        body["callback_url"] = req.callback_url
    body.update(extra)
    return json.dumps(body).encode()
