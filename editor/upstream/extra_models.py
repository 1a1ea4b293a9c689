"""A deployment's own model entries (``RETOUCH_EXTRA_MODELS``), read and checked at start-up.

The setting is JSON, or the path of a JSON file: one entry, or a list of them, each an
object with the field names of ``ModelCapabilities`` (lists for its tuples). ``"like"``
names an entry to start from, so a new model is usually a few lines::

    [{"like": "gpt-image-2", "name": "gpt-image-3", "label": "GPT Image 3",
      "tagline": "Newest", "description": "The gateway's newest model."},
     {"like": "dall-e-2", "name": "dall-e-2", "services": ["openai", "gateway"]}]

An entry with a built-in name replaces the built-in one (the second line offers dall-e-2
at the gateway too). Anything wrong stops start-up with a sentence naming the entry and
the field, so a typo never turns into a model that fails at the service.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from . import sizes
from .catalogue import MODELS
from .modelspec import ModelCapabilities, entry_problems

SETTING = "RETOUCH_EXTRA_MODELS"
_HINTS = get_type_hints(ModelCapabilities)
_FIELDS = tuple(f.name for f in fields(ModelCapabilities))


def load_extra_models(raw: Any) -> tuple[ModelCapabilities, ...]:
    """The entries ``raw`` describes: JSON text, a path to a JSON file, or the already
    parsed list or object; empty for None or blank. ValueError, in words an operator can
    act on, for anything that is not a usable entry."""
    data = _read(raw)
    if data is None:
        return ()
    items = data if isinstance(data, list) else [data]
    known = dict(MODELS)
    models: list[ModelCapabilities] = []
    for position, item in enumerate(items, start=1):
        model = _entry(item, position, known)
        if any(m.name == model.name for m in models):
            raise ValueError(f"{SETTING} describes the model “{model.name}” twice.")
        known[model.name] = model
        models.append(model)
    return tuple(models)


def _read(raw: Any) -> Any:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if not text.startswith(("[", "{")):
        path = Path(text).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(
                f"{SETTING} is neither JSON nor a JSON file Retouch can read ({path}: "
                f"{exc.strerror or exc})."
            ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{SETTING} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None


def _entry(item: Any, position: int, known: dict[str, ModelCapabilities]) -> ModelCapabilities:
    where = f"{SETTING}, entry {position}"
    if not isinstance(item, dict):
        raise ValueError(f"{where} must be a JSON object with at least a name and a label.")
    name = item.get("name")
    if isinstance(name, str):
        where = f"{SETTING}, entry “{name}”"
    unknown = sorted(set(item) - set(_FIELDS) - {"like"})
    if unknown:
        raise ValueError(
            f"{where} has fields Retouch does not know: {', '.join(unknown)}. "
            f"The fields are: {', '.join(_FIELDS)}, and like."
        )
    values = {key: _value(where, key, value) for key, value in item.items() if key != "like"}
    like = item.get("like")
    if like is not None:
        if like not in known:
            raise ValueError(f"{where} is like “{like}”, a model Retouch does not know.")
        base = known[like]
    else:
        missing = [key for key in ("name", "label") if key not in values]
        if missing:
            raise ValueError(f"{where} needs {' and '.join(missing)} (or like, to copy one).")
        base = ModelCapabilities(name=values["name"], label=values["label"])
    values = {**_size_defaults(values), **values}
    model = replace(base, **values)
    problems = entry_problems(model)
    if problems:
        raise ValueError(f"{where}: {' '.join(problems)}")
    return model


def _size_defaults(values: dict[str, Any]) -> dict[str, Any]:
    """A grid entry offers the documented presets unless it lists its own sizes; an entry
    without sizes has none."""
    if "sizes" in values:
        return {}
    rule = values.get("size_rule")
    if rule == "grid":
        return {"sizes": sizes.GRID_SIZES, "default_size": "auto"}
    if rule == "none":
        return {"sizes": (), "default_size": ""}
    return {}


def _value(where: str, key: str, value: Any) -> Any:
    hint = _HINTS[key]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"{where}: '{key}' must be true or false.")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{where}: '{key}' must be a whole number.")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{where}: '{key}' must be text.")
    # tuple[str, ...]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"{where}: '{key}' must be a list of texts, such as [\"gateway\"].")
