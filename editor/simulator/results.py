"""Drawing results as a remote service would, and the success bodies that carry them."""

from __future__ import annotations

import base64
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from PIL import Image

from . import imaging
from .validation import EditJob


def lower_thread_priority() -> None:
    """Let the calling thread's drawing yield the CPU to everything else on this machine.

    The simulator stands in for a service on other machines. Run next to Retouch, its
    drawing of results (tens of ms each, a few hundred for 4K) must not slow down answering
    requests or the app under test. Linux keeps a nice value per thread; elsewhere this does
    nothing.
    """
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def at_low_priority[T](work: Callable[[], T]) -> T:
    """Run ``work`` in a short-lived thread at lower priority and wait for its result.

    A thread of its own because a server thread cannot raise its priority back afterwards.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        lower_thread_priority()
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed back to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="simulator-draw", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def draw_final(job: EditJob) -> list[Image.Image]:
    """The job's results drawn (at the drawing scale), at low priority."""
    return at_low_priority(lambda: imaging.draw(job.sources, job.mask, job.render_spec()))


def render_final(job: EditJob) -> list[bytes]:
    """The job's results drawn and encoded, at low priority."""
    return at_low_priority(lambda: imaging.render(job.sources, job.mask, job.render_spec()))


def edit_body(job: EditJob, images: list[bytes], store: Callable[[bytes, str], str]) -> dict:
    """The body OpenAI would send: ``created``, ``data``, ``usage`` and the settings used.

    nano-banana answers the gateway's way: one URL, ``created`` 0, nothing else (it is
    billed per request, so there is no token usage).
    """
    if job.rules.url_only:
        return {"created": 0, "data": [{"url": store(data, job.output_format)} for data in images]}
    items = []
    for index, data in enumerate(images):
        item: dict[str, Any]
        if job.response_format == "url":
            item = {"url": store(data, job.output_format)}
        else:
            item = {"b64_json": base64.b64encode(data).decode("ascii")}
        item["revised_prompt"] = (
            job.prompt if index == 0 else f"{job.prompt} (variation {index + 1})"
        )
        items.append(item)
    return {
        "created": int(time.time()),
        "data": items,
        "usage": job.usage(),
        "size": job.size,
        "quality": job.quality,
        "output_format": job.output_format,
        "background": job.background,
    }
