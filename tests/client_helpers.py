"""What the ``test_client_*`` modules share: small images, edit requests, a client of the
simulator and the checks every error must pass."""

from __future__ import annotations

import base64
import io
import re
import socket

import pytest
from PIL import Image

from editor.upstream import (
    Accepted,
    EditRequest,
    ImageInput,
    ImagesClient,
    InvalidEditRequest,
    UpstreamError,
    validate,
)


def encode(mode: str, size: tuple[int, int], fmt: str, color=(200, 40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color if mode == "RGB" else (*color, 255)).save(buf, fmt)
    return buf.getvalue()


PNG = encode("RGB", (64, 64), "PNG")
JPEG = encode("RGB", (64, 64), "JPEG")
WEBP = encode("RGB", (64, 64), "WEBP")

# Every optional setting of gpt-image-1 at a valid value, as a form would send it.
EVERY_OPTION = {
    "n": 2,
    "size": "1536x1024",
    "quality": "medium",
    "background": "transparent",
    "output_format": "webp",
    "output_compression": 70,
    "input_fidelity": "high",
    "response_format": "b64_json",
    "user": "user-42",
}


def mask_png(size: tuple[int, int] = (64, 64)) -> bytes:
    """Opaque everywhere except a transparent square: the area that may change."""
    image = Image.new("RGBA", size, (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (16, 16, 48, 48))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png_input(name: str = "photo.png", data: bytes = PNG) -> ImageInput:
    return ImageInput(filename=name, content_type="image/png", fileobj=io.BytesIO(data))


def edit_request(**overrides) -> EditRequest:
    fields = {
        "model": "gpt-image-1",
        "prompt": "Make the sky pink",
        "images": [png_input()],
        "quality": "low",
        "size": "1024x1024",
    }
    fields.update(overrides)
    return EditRequest(**fields)


# A PNG's signature and nothing more: enough for validate(), which reads no pixels.
PNG_SIGNATURE_ONLY = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


def signature_only_png(
    name: str = "photo.png", content_type: str = "image/png", size: int | None = None
) -> ImageInput:
    """A photo as validate() sees it; `size` bytes of zeros instead when given."""
    data = PNG_SIGNATURE_ONLY if size is None else b"\0" * size
    return ImageInput(filename=name, content_type=content_type, fileobj=io.BytesIO(data))


def bare_edit_request(model: str = "gpt-image-1", **overrides) -> EditRequest:
    """An edit request with only the fields every model needs, for validate()."""
    fields = {"model": model, "prompt": "Make the sky pink", "images": [signature_only_png()]}
    fields.update(overrides)
    return EditRequest(**fields)


def errors_of(req: EditRequest) -> dict[str, list[str]]:
    """What validate() refuses in `req`, by field."""
    with pytest.raises(InvalidEditRequest) as info:
        validate(req)
    return info.value.errors


def assert_plain(message: str) -> None:
    """Words a person can act on: no JSON, markup, tracebacks or status jargon."""
    assert message
    assert message[0].isupper()
    assert message.rstrip().endswith(".")
    for marker in ("{", "}", "<", ">", "Traceback", "Exception", "HTTP", "json"):
        assert marker not in message, f"{marker!r} in {message!r}"
    # Wire codes such as invalid_token; the settings an administrator edits are upper case.
    assert not re.search(r"\b[a-z0-9]+_[a-z0-9_]+\b", message), message


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(name="client")
def sim_client(sim):
    """``client``: an ImagesClient of the simulator, for the test modules that import this."""
    with ImagesClient(sim.base_url, sim.token or "sk-test", timeout=(5, 30)) as c:
        yield c


def expect_error(client: ImagesClient, req: EditRequest | None = None) -> UpstreamError:
    with pytest.raises(UpstreamError) as info:
        client.edit(req or edit_request())
    err = info.value
    assert_plain(err.message)
    assert err.code in str(err)
    return err


def callback_url() -> str:
    # Nobody listens there: the simulator records the payload it tried to deliver anyway.
    return f"http://127.0.0.1:{closed_port()}/hooks/secret-token"


def submit_and_wait(sim, client, **overrides) -> tuple[Accepted, dict]:
    accepted = client.submit(edit_request(callback_url=callback_url(), **overrides))
    assert sim.wait_for_callbacks(1, timeout=10)
    return accepted, sim.callbacks[0]["payload"]
