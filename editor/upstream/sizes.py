"""Result sizes: the gpt-image-2 grid, its presets, and the nearest size that works.

The gpt-image-2 family (at the gateway) takes ``auto`` or any ``WIDTHxHEIGHT`` within the
documented limits (``api-contract.md``, "Today's models"): both sides multiples of 16, the
longer side at most 3840, 655,360 to 8,294,400 pixels, and an aspect ratio of at most 3:1.
Everything here is plain arithmetic on those rules, so a form can check a custom size and
suggest a better one before anything is uploaded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

STEP = 16
MAX_SIDE = 3840
MIN_PIXELS = 655_360
MAX_PIXELS = 8_294_400
MAX_RATIO = 3

_SIZE = re.compile(r"^([1-9][0-9]{0,5})x([1-9][0-9]{0,5})$")
_LOOSE_SIZE = re.compile(r"^\s*([0-9]{1,6})\s*[x×X*]\s*([0-9]{1,6})\s*(?:px)?\s*$")

# Resolution groups, smallest first, as the picker shows them. "Small" is for the fixed
# sizes of older models below the grid's minimum (dall-e-2's 256² and 512²).
RESOLUTIONS = ("Small", "1K", "2K", "4K")
# What a person reads for each resolution (the keys above are values, never shown as such).
RESOLUTION_LABELS = {
    "Small": gettext_lazy("Small"),
    "1K": "1K",
    "2K": "2K",
    "4K": "4K",
}
SHAPE_LABELS = {
    "square": gettext_lazy("Square"),
    "landscape": gettext_lazy("Landscape"),
    "portrait": gettext_lazy("Portrait"),
    "16:9": gettext_lazy("Widescreen 16:9"),
    "9:16": gettext_lazy("Tall 9:16"),
}

# The presets the gateway documents for the gpt-image-2 family, as (resolution, shape,
# width, height). Every one of them passes ``grid_problem``.
GRID_PRESETS: tuple[tuple[str, str, int, int], ...] = (
    ("1K", "square", 1024, 1024),
    ("1K", "landscape", 1536, 1024),
    ("1K", "portrait", 1024, 1536),
    ("1K", "16:9", 1792, 1024),
    ("1K", "9:16", 1024, 1792),
    ("2K", "square", 2048, 2048),
    ("2K", "landscape", 2048, 1536),
    ("2K", "portrait", 1536, 2048),
    ("2K", "16:9", 2048, 1152),
    ("2K", "9:16", 1152, 2048),
    ("4K", "square", 2880, 2880),
    ("4K", "landscape", 3264, 2448),
    ("4K", "portrait", 2448, 3264),
    ("4K", "16:9", 3840, 2160),
    ("4K", "9:16", 2160, 3840),
)
# What a grid model's ``sizes`` lists: ``auto`` first, then every preset.
GRID_SIZES: tuple[str, ...] = ("auto", *(f"{w}x{h}" for _, _, w, h in GRID_PRESETS))


@dataclass(frozen=True)
class SizePreset:
    """One size a picker offers: ``value`` is what the form posts (``"2048x1152"``)."""

    value: str
    width: int
    height: int
    resolution: str
    shape: str

    @property
    def label(self) -> str:
        """``"Widescreen 16:9 · 2048 by 1152"`` (a multiplication sign for "by"); the
        resolution is the heading of the group."""
        return f"{SHAPE_LABELS[self.shape]} · {self.width} × {self.height}"


def format_size(width: int, height: int) -> str:
    return f"{width}x{height}"


def parse_size(value: object) -> tuple[int, int] | None:
    """``(width, height)`` of a size written exactly as the API wants it (``"2048x1152"``),
    or None for anything else (``auto`` included)."""
    match = _SIZE.match(value) if isinstance(value, str) else None
    return (int(match[1]), int(match[2])) if match else None


def read_size(text: object) -> tuple[int, int] | None:
    """Like ``parse_size`` but forgiving of how people type: ``" 2048 X 1152 px"``, or with
    a multiplication sign.

    For a form's custom-size field; send ``format_size(*read_size(text))``, never the text.
    """
    match = _LOOSE_SIZE.match(text) if isinstance(text, str) else None
    return (int(match[1]), int(match[2])) if match else None


def grid_problem(width: int, height: int) -> str | None:
    """The first grid rule ``width`` by ``height`` breaks, in words that finish the sentence
    "this size …" (in the active language), or None when the size is on the grid."""
    rule = _broken_rule(width, height)
    if rule is None:
        return None
    if rule == "side":
        return _("can have a longer side of at most %(pixels)s pixels") % {
            "pixels": f"{MAX_SIDE:,}"
        }
    if rule == "few":
        return _("needs at least %(pixels)s pixels (816 × 816 for a square)") % {
            "pixels": f"{MIN_PIXELS:,}"
        }
    if rule == "many":
        return _("can have at most %(pixels)s pixels (3840 × 2160)") % {"pixels": f"{MAX_PIXELS:,}"}
    if rule == "ratio":
        return _("can be at most three times as long as it is wide")
    return _("needs both sides to be multiples of 16")


def _broken_rule(width: int, height: int) -> str | None:
    longer, shorter = max(width, height), min(width, height)
    # The coarse limits first: a size far off the grid hears about its area or shape, not
    # about rounding to 16.
    if longer > MAX_SIDE:
        return "side"
    if width * height < MIN_PIXELS:
        return "few"
    if width * height > MAX_PIXELS:
        return "many"
    if longer > MAX_RATIO * shorter:
        return "ratio"
    if width % STEP or height % STEP:
        return "step"
    return None


def on_grid(width: int, height: int) -> bool:
    return _broken_rule(width, height) is None


def nearest_grid_size(width: int, height: int) -> tuple[int, int]:
    """The size on the grid closest to ``width`` by ``height`` in shape and in area.

    Aims first at the asked-for shape (its ratio clamped to 3:1) and area (clamped to the
    pixel limits), then picks among every valid width the height closest to that aim; the
    distance is measured in ratios, so a large and a small size are treated alike.
    """
    width, height = max(int(width), 1), max(int(height), 1)
    ratio = min(max(width / height, 1 / MAX_RATIO), MAX_RATIO)
    area = min(max(width * height, MIN_PIXELS), MAX_PIXELS)
    aim_w, aim_h = math.sqrt(area * ratio), math.sqrt(area / ratio)
    if max(aim_w, aim_h) > MAX_SIDE:
        scale = MAX_SIDE / max(aim_w, aim_h)
        aim_w, aim_h = aim_w * scale, aim_h * scale

    best: tuple[float, int, int] | None = None
    for w in range(STEP, MAX_SIDE + 1, STEP):
        # The heights that work with this width form one interval.
        low = max(STEP, math.ceil(w / MAX_RATIO), math.ceil(MIN_PIXELS / w))
        high = min(MAX_SIDE, MAX_RATIO * w, MAX_PIXELS // w)
        low, high = _round_up(low), high - high % STEP
        if low > high:
            continue
        target = min(max(aim_h, low), high)
        for h in {_clamp(math.floor(target / STEP) * STEP, low, high), _round_up(target)}:
            if not low <= h <= high:
                continue
            distance = abs(math.log(w / aim_w)) + abs(math.log(h / aim_h))
            if best is None or distance < best[0]:
                best = (distance, w, h)
    assert best is not None  # 1024 x 1024 alone guarantees a candidate
    return best[1], best[2]


def resolution_of(width: int, height: int) -> str:
    """``"1K"``, ``"2K"`` or ``"4K"`` (``"Small"`` below the grid's minimum), by pixel count:
    up to 2 MP is 1K (1792x1024), up to 4.2 MP is 2K (2048x2048), beyond is 4K."""
    pixels = width * height
    if pixels < MIN_PIXELS:
        return "Small"
    if pixels <= 2 * 1024 * 1024:
        return "1K"
    if pixels <= 2048 * 2048:
        return "2K"
    return "4K"


def shape_of(width: int, height: int) -> str:
    """``square``, ``16:9``/``9:16`` (1.7:1 and longer, as 1792x1024 is), else
    ``landscape`` or ``portrait``."""
    if width == height:
        return "square"
    ratio = width / height
    if ratio >= 1.7:
        return "16:9"
    if ratio <= 1 / 1.7:
        return "9:16"
    return "landscape" if width > height else "portrait"


def presets_for(sizes: tuple[str, ...], grid: bool) -> list[SizePreset]:
    """The presets of a model: the documented grid presets, or its fixed sizes, in order."""
    if grid:
        return [
            SizePreset(format_size(w, h), w, h, res, shape) for res, shape, w, h in GRID_PRESETS
        ]
    presets = []
    for value in sizes:
        parsed = parse_size(value)
        if parsed:
            w, h = parsed
            presets.append(SizePreset(value, w, h, resolution_of(w, h), shape_of(w, h)))
    return presets


def group_by_resolution(presets: list[SizePreset]) -> dict[str, list[SizePreset]]:
    """``{"1K": [...], "2K": [...], "4K": [...]}``: resolutions that have presets, smallest
    first; within each, the presets in the order given."""
    groups: dict[str, list[SizePreset]] = {res: [] for res in RESOLUTIONS}
    for preset in presets:
        groups[preset.resolution].append(preset)
    return {res: items for res, items in groups.items() if items}


def _round_up(value: float) -> int:
    return math.ceil(value / STEP) * STEP


def _clamp(value: int, low: int, high: int) -> int:
    return min(max(value, low), high)
