"""Client for the OpenAI Images Edits and Generations API (directly or through the AceData
Cloud gateway).

Plain Python but for ``django.utils.translation`` (the words people read are marked for
translation and translated only when shown, never at import: the settings import the model
catalogue): the app works with the typed results and the single ``UpstreamError`` exported
here and never sees the wire format.
"""

from .capabilities import (
    DEFAULT_MODEL,
    MODELS,
    InvalidEditRequest,
    ModelCapabilities,
    get_model,
    validate,
    validate_generation,
)
from .catalogue import (
    RECOMMENDED,
    add_models,
    can_stream,
    check_offered,
    check_size,
    default_model,
    offered_models,
    parse_model_names,
    parse_service_setting,
    response_format_for,
    service_for,
    size_preset_groups,
    size_presets,
)
from .client import ImagesClient
from .edit_stream import EditStream, PartialImage
from .errors import UpstreamError
from .extra_models import load_extra_models
from .parsing import CallbackTaskId, parse_callback
from .result_hosts import DEFAULT_RESULT_HOSTS
from .schema import (
    Accepted,
    EditRequest,
    EditResult,
    GenerateRequest,
    ImageInput,
    ResultImage,
    TaskInfo,
)

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_RESULT_HOSTS",
    "MODELS",
    "RECOMMENDED",
    "Accepted",
    "CallbackTaskId",
    "EditRequest",
    "EditResult",
    "EditStream",
    "GenerateRequest",
    "ImageInput",
    "ImagesClient",
    "InvalidEditRequest",
    "ModelCapabilities",
    "PartialImage",
    "ResultImage",
    "TaskInfo",
    "UpstreamError",
    "add_models",
    "can_stream",
    "check_offered",
    "check_size",
    "default_model",
    "get_model",
    "load_extra_models",
    "offered_models",
    "parse_callback",
    "parse_model_names",
    "parse_service_setting",
    "response_format_for",
    "service_for",
    "size_preset_groups",
    "size_presets",
    "validate",
    "validate_generation",
]
