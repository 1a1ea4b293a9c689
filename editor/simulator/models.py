"""The models the simulator serves and what each one takes, as data.

Written from the API contract's "Today's models" table, not imported from ``editor.upstream``:
the fake service keeps its own list, so that the client and its test double cannot share a
misunderstanding. A new model is one entry in ``MODELS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
DALLE_SIZES = ("256x256", "512x512", "1024x1024")
GPT_QUALITIES = ("low", "medium", "high", "auto")
DALLE_QUALITIES = ("standard",)
# The request fields the rules know; a model refuses the ones it does not take (400), so that
# a client sending a model something it would ignore is caught in tests. Other fields
# (``user`` and ``callback_url`` aside, which every model takes) pass unnoticed.
OPTION_FIELDS = ("background", "output_format", "output_compression", "input_fidelity")
STREAM_FIELDS = ("stream", "partial_images")
KNOWN_FIELDS = ("n", "size", "quality", "response_format", *OPTION_FIELDS, *STREAM_FIELDS)
ALL_FIELDS = frozenset({*KNOWN_FIELDS, "mask"})

# The gpt-image-2 size grid.
GRID_SIDE_STEP = 16
GRID_MAX_SIDE = 3840
GRID_MIN_PIXELS = 655_360
GRID_MAX_PIXELS = 8_294_400
GRID_MAX_RATIO = 3
GRID_RULE = (
    "auto or WIDTHxHEIGHT with both sides multiples of 16, the longer side at most 3840, "
    "655,360 to 8,294,400 pixels and an aspect ratio of at most 3:1"
)
SIZE_PATTERN = re.compile(r"^(\d{1,5})x(\d{1,5})$")


@dataclass(frozen=True)
class Model:
    """What one model takes and how it answers.

    ``sizes`` is the fixed list of sizes, or ``None`` for any size on the gpt-image-2 grid.
    ``takes`` are the optional fields (and ``mask``) it accepts; the others are refused.
    """

    takes: frozenset[str] = ALL_FIELDS
    max_images: int = 16
    max_prompt: int = 32000
    max_n: int = 10
    sizes: tuple[str, ...] | None = GPT_SIZES
    qualities: tuple[str, ...] = GPT_QUALITIES
    # dall-e-2: exactly one square PNG under 4 MB.
    square_png: bool = False
    # The gateway's gpt-image-2 family: base64 results only with n=1, URLs otherwise.
    b64_only_single: bool = False
    # nano-banana: one result, always a URL, ``created`` 0, no token usage (billed per request).
    url_only: bool = False
    # A hint added to the message when the request carries a field this model refuses.
    hint: str = ""


GPT_IMAGE_1 = Model()
GPT_IMAGE_2 = Model(
    takes=ALL_FIELDS - {"mask"},
    sizes=None,
    b64_only_single=True,
    hint="masks need the model's :official variant",
)
GPT_IMAGE_2_OFFICIAL = replace(GPT_IMAGE_2, takes=ALL_FIELDS, hint="")
NANO_BANANA = Model(
    takes=frozenset(),
    max_images=1,  # the contract names a single ``image``
    max_n=1,
    url_only=True,
    hint="nano-banana models take only model, prompt and image",
)
DALL_E_2 = Model(
    takes=frozenset({"n", "size", "quality", "response_format", "mask"}),
    max_images=1,
    max_prompt=1000,
    sizes=DALLE_SIZES,
    qualities=DALLE_QUALITIES,
    square_png=True,
)

MODELS: dict[str, Model] = {
    "gpt-image-2": GPT_IMAGE_2,
    "gpt-image-2:reverse": GPT_IMAGE_2,
    "gpt-image-2:official": GPT_IMAGE_2_OFFICIAL,
    "gpt-image-2.5-flare": GPT_IMAGE_2,
    "gpt-image-2.5-flare:official": GPT_IMAGE_2_OFFICIAL,
    "gpt-image-2.5-sunburst": GPT_IMAGE_2,
    "gpt-image-2.5-sunburst:official": GPT_IMAGE_2_OFFICIAL,
    "gpt-image-1.5": GPT_IMAGE_1,
    "gpt-image-1": GPT_IMAGE_1,
    "gpt-image-1-mini": GPT_IMAGE_1,
    "nano-banana": NANO_BANANA,
    "nano-banana-2": NANO_BANANA,
    "nano-banana-pro": NANO_BANANA,
    "dall-e-2": DALL_E_2,
}
DEFAULT_MODEL = "gpt-image-1"


def grid_problem(width: int, height: int) -> str | None:
    """Why ``width`` x ``height`` is off the gpt-image-2 grid, or None when it is on it."""
    if width % GRID_SIDE_STEP or height % GRID_SIDE_STEP:
        return "both sides must be multiples of 16"
    if max(width, height) > GRID_MAX_SIDE:
        return "the longer side must be at most 3840"
    if not GRID_MIN_PIXELS <= width * height <= GRID_MAX_PIXELS:
        return f"it has {width * height:,} pixels; 655,360 to 8,294,400 are allowed"
    if max(width, height) > GRID_MAX_RATIO * min(width, height):
        return "the aspect ratio must be at most 3:1"
    return None


def auto_size(width: int, height: int) -> tuple[int, int]:
    """The 1K size ``auto`` picks for a first image of this shape."""
    ratio = width / height
    if ratio >= 1.25:
        return 1536, 1024
    if ratio <= 0.8:
        return 1024, 1536
    return 1024, 1024
