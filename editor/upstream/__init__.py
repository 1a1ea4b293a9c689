"""Client for the OpenAI Images Edits API (directly or through the AceData Cloud gateway).

Plain Python with no Django imports: the app works with the typed results and the single
``UpstreamError`` exported here and never sees the wire format.
"""

from .capabilities import (
    DEFAULT_MODEL,
    MODELS,
    InvalidEditRequest,
    ModelCapabilities,
    get_model,
    validate,
)
from .client import ImagesClient
from .errors import UpstreamError
from .parsing import CallbackTaskId, parse_callback
from .result_hosts import DEFAULT_RESULT_HOSTS
from .schema import Accepted, EditRequest, EditResult, ImageInput, ResultImage, TaskInfo

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_RESULT_HOSTS",
    "MODELS",
    "Accepted",
    "CallbackTaskId",
    "EditRequest",
    "EditResult",
    "ImageInput",
    "ImagesClient",
    "InvalidEditRequest",
    "ModelCapabilities",
    "ResultImage",
    "TaskInfo",
    "UpstreamError",
    "get_model",
    "parse_callback",
    "validate",
]
