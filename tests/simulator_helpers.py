"""What the ``test_simulator_*`` modules share: requests to a live simulator, a callback
receiver, and the checks every gateway error must pass.

Those tests go through real HTTP and mock nothing: the simulator is the test double for the
rest of the suite and must behave like the wire.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from PIL import Image

from editor.simulator.server import Simulator

from .factories import image_bytes

AUTH = {"Authorization": "Bearer sk-test"}
ROOT = Path(__file__).resolve().parent.parent
# The default source: not square, so that dall-e-2's square rule can be tested with it.
SOURCE = image_bytes((64, 48))
SQUARE = image_bytes((64, 64))
JPEG = image_bytes((64, 48), fmt="JPEG")


def mask_bytes(size: tuple[int, int], transparent_box: tuple[int, int, int, int]) -> bytes:
    """An opaque RGBA mask with one fully transparent box (the area that may change)."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), transparent_box)
    out = io.BytesIO()
    mask.save(out, "PNG")
    return out.getvalue()


def stored_png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    """An uncompressed PNG, so its byte size is predictable (about width*height*channels)."""
    out = io.BytesIO()
    Image.new(mode, size).save(out, "PNG", compress_level=0)
    return out.getvalue()


def png_file(field: str = "image[]", data: bytes | None = None, name: str = "a.png"):
    return (field, (name, data if data is not None else SOURCE, "image/png"))


def edit(
    sim: Simulator,
    fields: dict | None = None,
    files: list | None = None,
    *,
    path: str = "/openai/images/edits",
    headers: dict | None = None,
    timeout: float = 10,
) -> requests.Response:
    data = {"model": "gpt-image-1", "prompt": "make it look like a watercolour"}
    data.update(fields or {})
    data = {k: v for k, v in data.items() if v is not None}
    return requests.post(
        sim.root_url + path,
        data=data,
        files=files if files is not None else [png_file()],
        headers=AUTH if headers is None else headers,
        timeout=timeout,
    )


def result_images(response: requests.Response) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(base64.b64decode(item["b64_json"])))
        for item in response.json()["data"]
    ]


def json_edit(
    sim: Simulator, body: dict, *, path: str = "/openai/images/edits", timeout: float = 10
) -> requests.Response:
    """An edits request with a JSON body (images by URL)."""
    payload = {"model": "gpt-image-2", "prompt": "make it look like a watercolour", **body}
    return requests.post(sim.root_url + path, json=payload, headers=AUTH, timeout=timeout)


def stream_edit(
    sim: Simulator, fields: dict | None = None, files: list | None = None, *, timeout: float = 10
) -> requests.Response:
    """A streamed edits request (``stream=true``, 2 partial images), its body left unread."""
    data = {
        "model": "gpt-image-1",
        "prompt": "make it look like a watercolour",
        "stream": "true",
        "partial_images": "2",
        **(fields or {}),
    }
    return requests.post(
        sim.root_url + "/openai/images/edits",
        data={k: v for k, v in data.items() if v is not None},
        files=files if files is not None else [png_file()],
        headers=AUTH,
        stream=True,
        timeout=timeout,
    )


def generate(
    sim: Simulator,
    body: dict | None = None,
    *,
    path: str = "/openai/images/generations",
    headers: dict | None = None,
    stream: bool = False,
    timeout: float = 10,
) -> requests.Response:
    """A generations request (JSON, no images); a ``None`` in ``body`` drops that key."""
    payload = {"model": "gpt-image-2", "prompt": "a lighthouse at dusk", **(body or {})}
    return requests.post(
        sim.root_url + path,
        json={k: v for k, v in payload.items() if v is not None},
        headers=AUTH if headers is None else headers,
        stream=stream,
        timeout=timeout,
    )


def read_events(response: requests.Response, into: list | None = None) -> list[dict]:
    """Server-sent events parsed by hand, per the SSE rules: ``event``, ``data`` (the JSON
    decoded, or the raw text when it is not JSON) and ``at`` (when it arrived). ``into``
    keeps what arrived when the stream breaks (the read raises)."""
    events = [] if into is None else into
    event, data = None, []
    for raw in response.iter_lines(chunk_size=None, decode_unicode=False):
        line = raw.decode("utf-8")
        if not line:
            if data:
                text = "\n".join(data)
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = text
                events.append({"event": event, "data": parsed, "at": time.monotonic()})
            event, data = None, []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    return events


def decode_b64(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def tasks_call(sim: Simulator, body: dict, path: str = "/openai/tasks") -> requests.Response:
    return requests.post(sim.root_url + path, json=body, headers=AUTH, timeout=10)


def assert_gateway_error(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert re.fullmatch(r"[0-9a-f-]{36}", body["trace_id"])
    return body


# --- a tiny callback receiver ------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length))
        with self.server.lock:
            self.server.received.append({"path": self.path, "payload": payload, "at": time.time()})
        status = self.server.answer_status
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def callback_receiver():
    """A local HTTP server that keeps every callback POSTed to it (the ``receiver`` fixture)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.daemon_threads = True
    server.received = []
    server.lock = threading.Lock()
    server.answer_status = 200
    server.url = f"http://127.0.0.1:{server.server_port}/hooks/s3cret"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def assert_one_rate_limit_then_success(sim: Simulator, send, retry_after: int) -> None:
    """A pushed 429 fault answers the next request in the gateway's shape with Retry-After;
    used up, it lets the request after succeed. `send(sim)` makes the request."""
    sim.push_fault("http", status=429, retry_after=retry_after)
    response = send(sim)
    assert_gateway_error(response, 429, "too_many_requests")
    assert response.headers["Retry-After"] == str(retry_after)
    assert send(sim).status_code == 200


def submit_with_callback(sim: Simulator, url: str, fields: dict | None = None) -> str:
    response = edit(sim, {"callback_url": url, **(fields or {})})
    assert response.status_code == 200
    assert set(response.json()) == {"task_id"}
    return response.json()["task_id"]


def closed_port() -> int:
    """A localhost port nothing listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.02) + 1):
        if predicate():
            return True
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return predicate()
