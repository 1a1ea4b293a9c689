"""The API simulator over real HTTP: the contract it fakes, its faults and its controls.

Everything goes through ``requests`` to a live server; nothing here is mocked, because the
simulator is the test double for the rest of the suite and must behave like the wire.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from PIL import Image
from requests_toolbelt import MultipartEncoder

from editor.simulator.server import Simulator

AUTH = {"Authorization": "Bearer sk-test"}
ROOT = Path(__file__).resolve().parent.parent


def image_bytes(
    size: tuple[int, int] = (64, 48),
    color: tuple[int, ...] = (200, 60, 40),
    *,
    fmt: str = "PNG",
    mode: str = "RGB",
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, fmt)
    return out.getvalue()


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
    return (field, (name, data if data is not None else image_bytes(), "image/png"))


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


@pytest.fixture
def receiver():
    """A local HTTP server that keeps every callback POSTed to it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.daemon_threads = True
    server.received = []
    server.lock = threading.Lock()
    server.answer_status = 200
    server.url = f"http://127.0.0.1:{server.server_port}/hooks/s3cret"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


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


# --- authentication and routing ----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": "Basic c2stdGVzdA=="}],
    ids=["missing", "wrong-token", "not-bearer"],
)
def test_edits_without_the_right_bearer_token_get_401_invalid_token(sim, headers):
    response = edit(sim, headers=headers)
    assert_gateway_error(response, 401, "invalid_token")
    assert sim.edit_requests[-1].status == 401


def test_tasks_without_the_right_bearer_token_get_401(sim):
    response = requests.post(
        sim.base_url + "/tasks", json={"action": "retrieve", "id": "x"}, timeout=5
    )
    assert_gateway_error(response, 401, "invalid_token")


def test_simulator_without_a_token_accepts_any_bearer_but_not_none():
    with Simulator(token=None) as open_sim:
        assert edit(open_sim, headers={"Authorization": "Bearer anything"}).status_code == 200
        assert edit(open_sim, headers={}).status_code == 401


@pytest.mark.parametrize("path", ["/v1/images/edits", "/openai/images/edits"])
def test_both_edit_paths_answer(sim, path):
    response = edit(sim, path=path)
    assert response.status_code == 200
    assert response.json()["success"] is True
    assert sim.edit_requests[-1].path == path


def test_unknown_route_is_a_404_in_gateway_shape(sim):
    response = requests.get(sim.root_url + "/openai/images/generations", timeout=5)
    assert_gateway_error(response, 404, "not_found")


def test_get_on_the_edit_endpoint_is_405(sim):
    response = requests.get(sim.base_url + "/images/edits", headers=AUTH, timeout=5)
    assert_gateway_error(response, 405, "method_not_allowed")


# --- x-request-id --------------------------------------------------------------------------------


def test_x_request_id_sent_by_the_client_is_echoed(sim):
    response = edit(sim, headers={**AUTH, "x-request-id": "my-request-42"})
    assert response.headers["x-request-id"] == "my-request-42"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/openai/images/edits"), ("GET", "/_sim/health"), ("GET", "/nowhere")],
)
def test_x_request_id_is_generated_on_every_response(sim, method, path):
    response = requests.request(method, sim.root_url + path, timeout=5)
    assert re.fullmatch(r"req_[0-9a-f]{32}", response.headers["x-request-id"])


def test_each_request_on_a_kept_alive_connection_gets_its_own_request_id(sim):
    with requests.Session() as session:
        first = session.get(sim.root_url + "/_sim/health", timeout=5)
        second = session.get(sim.root_url + "/_sim/health", timeout=5)
        echoed = session.get(
            sim.root_url + "/_sim/health", headers={"x-request-id": "r3"}, timeout=5
        )
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert echoed.headers["x-request-id"] == "r3"


# --- validation ----------------------------------------------------------------------------------

SQUARE = image_bytes((64, 64))
GIF = image_bytes(fmt="GIF")
JPEG = image_bytes(fmt="JPEG")
RGB_MASK = image_bytes((64, 48), (0, 0, 0))
SMALL_MASK = mask_bytes((32, 24), (0, 0, 16, 24))

VALIDATION_CASES = [
    ("missing-prompt", {"prompt": None}, None, "'prompt'"),
    ("blank-prompt", {"prompt": "   "}, None, "'prompt'"),
    ("long-prompt-dalle", {"model": "dall-e-2", "prompt": "x" * 1001},
     [png_file("image", SQUARE)], "'prompt'"),
    ("long-prompt-gpt", {"prompt": "x" * 32001}, None, "32000"),
    ("unknown-model", {"model": "dall-e-3"}, None, "'model'"),
    ("no-image", {}, [], "'image[]'"),
    ("seventeen-images", {}, [png_file() for _ in range(17)], "at most 16"),
    ("dalle-two-images", {"model": "dall-e-2"},
     [png_file("image[]", SQUARE), png_file("image[]", SQUARE)], "exactly one"),
    ("undecodable", {}, [png_file(data=b"this is not a picture")], "not a valid image"),
    ("gif", {}, [("image[]", ("a.gif", GIF, "image/gif"))], "GIF"),
    ("dalle-not-square", {"model": "dall-e-2"}, [png_file("image")], "square"),
    ("dalle-jpeg", {"model": "dall-e-2"},
     [("image", ("a.jpg", image_bytes((64, 64), fmt="JPEG"), "image/jpeg"))], "PNG"),
    ("mask-jpeg", {}, [png_file(), ("mask", ("m.jpg", JPEG, "image/jpeg"))], "'mask'"),
    ("mask-without-alpha", {}, [png_file(), png_file("mask", RGB_MASK)], "alpha"),
    ("mask-other-size", {}, [png_file(), png_file("mask", SMALL_MASK)], "same size"),
    ("n-zero", {"n": "0"}, None, "'n'"),
    ("n-eleven", {"n": "11"}, None, "'n'"),
    ("n-not-a-number", {"n": "two"}, None, "'n'"),
    ("size-gpt", {"size": "2048x2048"}, None, "'size'"),
    ("size-dalle", {"model": "dall-e-2", "size": "1536x1024"},
     [png_file("image", SQUARE)], "'size'"),
    ("quality-gpt", {"quality": "ultra"}, None, "'quality'"),
    ("quality-dalle", {"model": "dall-e-2", "quality": "high"},
     [png_file("image", SQUARE)], "'quality'"),
    ("background", {"background": "sparkly"}, None, "'background'"),
    ("background-dalle", {"model": "dall-e-2", "background": "opaque"},
     [png_file("image", SQUARE)], "'background'"),
    ("output-format", {"output_format": "gif"}, None, "'output_format'"),
    ("output-compression", {"output_format": "jpeg", "output_compression": "101"}, None,
     "'output_compression'"),
    ("input-fidelity", {"input_fidelity": "max"}, None, "'input_fidelity'"),
    ("transparent-jpeg", {"background": "transparent", "output_format": "jpeg"}, None,
     "'background'"),
    ("response-format", {"response_format": "binary"}, None, "'response_format'"),
    ("callback-url", {"callback_url": "ftp://example.com/x"}, None, "'callback_url'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "files", "named"),
    [case[1:] for case in VALIDATION_CASES],
    ids=[case[0] for case in VALIDATION_CASES],
)
def test_invalid_requests_get_400_naming_the_field(sim, fields, files, named):
    body = assert_gateway_error(edit(sim, fields, files), 400, "bad_request")
    assert named in body["error"]["message"]
    assert sim.edit_requests[-1].status == 400


def test_dall_e_2_image_of_4_mb_is_rejected(sim):
    big = stored_png((1200, 1200))
    assert len(big) >= 4 * 1024 * 1024
    response = edit(sim, {"model": "dall-e-2"}, [png_file("image", big)])
    body = assert_gateway_error(response, 400, "bad_request")
    assert "4 MB" in body["error"]["message"]


def test_mask_over_4_mb_is_rejected(sim):
    big_mask = stored_png((1100, 1100), "RGBA")
    assert len(big_mask) > 4 * 1024 * 1024
    response = edit(sim, files=[png_file(), png_file("mask", big_mask)])
    body = assert_gateway_error(response, 400, "bad_request")
    assert "'mask'" in body["error"]["message"] and "4 MB" in body["error"]["message"]


def test_image_of_50_mb_is_rejected_after_streaming_it_to_disk(sim):
    huge = b"\x89PNG\r\n\x1a\n" + bytes(50 * 1024 * 1024)
    response = edit(sim, files=[png_file(data=huge)], timeout=30)
    body = assert_gateway_error(response, 400, "bad_request")
    assert "50 MB" in body["error"]["message"]
    assert sim.edit_requests[-1].files[0]["size"] == len(huge)


def test_body_over_the_limit_gets_413_and_the_client_still_reads_it():
    with Simulator(token="sk-test", max_body_bytes=10_000) as small:
        response = edit(small, files=[png_file(data=stored_png((100, 100)))])
        assert_gateway_error(response, 413, "request_too_large")
        assert small.edit_requests[-1].status == 413
        assert edit(small).status_code == 200


def test_a_body_that_is_not_multipart_is_400(sim):
    response = requests.post(
        sim.base_url + "/images/edits", json={"prompt": "x"}, headers=AUTH, timeout=5
    )
    body = assert_gateway_error(response, 400, "bad_request")
    assert "multipart/form-data" in body["error"]["message"]


def test_a_truncated_multipart_body_is_400(sim):
    response = requests.post(
        sim.base_url + "/images/edits",
        data=b'--xyz\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhello',
        headers={**AUTH, "Content-Type": "multipart/form-data; boundary=xyz"},
        timeout=5,
    )
    body = assert_gateway_error(response, 400, "bad_request")
    assert "closing boundary" in body["error"]["message"]


# --- successful edits ----------------------------------------------------------------------------


def test_success_has_the_gateway_fields_and_a_decodable_png(sim):
    response = edit(sim)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert re.fullmatch(r"[0-9a-f-]{36}", body["task_id"])
    assert re.fullmatch(r"[0-9a-f-]{36}", body["trace_id"])
    assert isinstance(body["created"], int) and abs(body["created"] - time.time()) < 60
    assert isinstance(body["elapsed"], float)
    assert (body["size"], body["quality"], body["output_format"], body["background"]) == (
        "1024x1024",
        "medium",
        "png",
        "opaque",
    )
    assert body["data"][0]["revised_prompt"] == "make it look like a watercolour"
    [image] = result_images(response)
    assert (image.format, image.size) == ("PNG", (1024, 1024))


def test_the_result_is_visibly_edited_not_the_source(sim):
    [image] = result_images(edit(sim, files=[png_file(data=image_bytes(color=(200, 60, 40)))]))
    r, g, b = image.convert("RGB").getpixel((512, 400))
    assert abs(r - 200) + abs(g - 60) + abs(b - 40) > 30


@pytest.mark.parametrize("field", ["image", "image[]"])
def test_images_are_accepted_as_image_or_image_brackets(sim, field):
    response = edit(sim, files=[png_file(field), png_file(field)])
    assert response.status_code == 200
    assert [f["field"] for f in sim.edit_requests[-1].files] == [field, field]


def test_several_images_share_one_canvas(sim):
    red, blue = image_bytes(color=(255, 0, 0)), image_bytes(color=(0, 0, 255))
    response = edit(sim, {"size": "1536x1024"}, [png_file(data=red), png_file(data=blue)])
    [image] = result_images(response)
    left = image.convert("RGB").getpixel((380, 500))
    right = image.convert("RGB").getpixel((1150, 500))
    assert left[0] > left[2] and right[2] > right[0]


def test_url_results_are_served_without_auth_with_their_content_type(sim):
    response = edit(sim, {"response_format": "url", "output_format": "webp"})
    [item] = response.json()["data"]
    assert "b64_json" not in item
    assert re.fullmatch(re.escape(sim.root_url) + r"/_sim/files/[0-9a-f]{32}\.webp", item["url"])
    served = requests.get(item["url"], timeout=5)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(served.content)).format == "WEBP"
    assert sim.served_files() == [item["url"].rsplit("/", 1)[1]]


def test_unknown_served_file_is_404(sim):
    response = requests.get(sim.root_url + "/_sim/files/" + "0" * 32 + ".png", timeout=5)
    assert response.status_code == 404


def test_mask_limits_the_edit_to_its_transparent_area(sim):
    source = image_bytes((200, 200), (10, 120, 200))
    mask = mask_bytes((200, 200), (0, 0, 100, 200))  # left half may change
    response = edit(sim, files=[png_file(data=source), png_file("mask", mask)])
    [image] = result_images(response)
    rgb = image.convert("RGB")
    assert rgb.getpixel((900, 300)) == (10, 120, 200)
    assert rgb.getpixel((900, 1000)) == (10, 120, 200)  # the banner stays in the masked half
    assert rgb.getpixel((100, 300)) != (10, 120, 200)


@pytest.mark.parametrize(
    ("source_size", "expected"),
    [((300, 200), (1536, 1024)), ((200, 300), (1024, 1536)), ((210, 200), (1024, 1024))],
)
def test_size_auto_follows_the_first_images_aspect(sim, source_size, expected):
    response = edit(sim, {"size": "auto"}, [png_file(data=image_bytes(source_size))])
    assert response.json()["size"] == "{}x{}".format(*expected)
    assert result_images(response)[0].size == expected


@pytest.mark.parametrize("size", ["256x256", "512x512"])
def test_dall_e_2_sizes_are_honoured(sim, size):
    response = edit(sim, {"model": "dall-e-2", "size": size}, [png_file("image", SQUARE)])
    assert response.json()["quality"] == "standard"
    assert "x".join(map(str, result_images(response)[0].size)) == size


def test_gpt_image_2_accepts_a_custom_size(sim):
    response = edit(sim, {"model": "gpt-image-2", "size": "768x512"})
    assert result_images(response)[0].size == (768, 512)


def test_default_model_is_gpt_image_1_rules(sim):
    response = edit(sim, {"model": None, "prompt": "y" * 5000})
    assert response.status_code == 200


@pytest.mark.parametrize(("output_format", "pillow"), [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_output_format_is_honoured(sim, output_format, pillow):
    response = edit(sim, {"output_format": output_format})
    assert response.json()["output_format"] == output_format
    assert result_images(response)[0].format == pillow


def test_output_compression_changes_the_file_size(sim):
    def size_at(compression: str) -> int:
        fields = {"output_format": "jpeg", "output_compression": compression}
        return len(base64.b64decode(edit(sim, fields).json()["data"][0]["b64_json"]))

    assert size_at("5") < size_at("95")


@pytest.mark.parametrize("output_format", ["png", "webp"])
def test_transparent_background_gives_an_image_with_transparent_pixels(sim, output_format):
    response = edit(sim, {"background": "transparent", "output_format": output_format})
    assert response.json()["background"] == "transparent"
    image = result_images(response)[0].convert("RGBA")
    assert image.getpixel((0, 0))[3] == 0
    assert image.getpixel((512, 512))[3] == 255


def test_opaque_result_has_no_transparency(sim):
    image = result_images(edit(sim, {"background": "opaque"}))[0]
    assert "A" not in image.getbands()


def test_n_results_are_each_a_little_different(sim):
    response = edit(sim, {"n": "3"})
    images = [image.convert("RGB").tobytes() for image in result_images(response)]
    assert len(images) == 3 and len(set(images)) == 3
    assert response.json()["usage"]["output_tokens"] == 3 * 1056


def test_usage_is_deterministic_and_grows_with_prompt_images_and_quality(sim):
    base = edit(sim).json()["usage"]
    assert edit(sim).json()["usage"] == base
    assert base["total_tokens"] == base["input_tokens"] + base["output_tokens"]
    details = base["input_tokens_details"]
    assert base["input_tokens"] == details["text_tokens"] + details["image_tokens"]
    longer = edit(sim, {"prompt": "make it look like a watercolour" * 10}).json()["usage"]
    assert longer["input_tokens_details"]["text_tokens"] > details["text_tokens"]
    two = edit(sim, files=[png_file(), png_file()]).json()["usage"]
    assert two["input_tokens_details"]["image_tokens"] == 2 * details["image_tokens"]
    high = edit(sim, {"quality": "high"}).json()["usage"]
    assert high["output_tokens"] > base["output_tokens"]


def test_latency_delays_the_answer(sim):
    sim.set_latency(0.3)
    started = time.monotonic()
    response = edit(sim)
    assert time.monotonic() - started >= 0.3
    assert response.json()["elapsed"] >= 0.3


def test_the_request_log_describes_fields_and_files(sim):
    edit(
        sim,
        {"user": "user-7", "size": "1024x1024"},
        [png_file(data=image_bytes((40, 30), (1, 2, 3, 4), mode="RGBA")), png_file()],
    )
    [record] = sim.requests
    assert (record.method, record.path, record.status) == ("POST", "/openai/images/edits", 200)
    assert record.fields["user"] == ["user-7"]
    assert record.headers["authorization"] == "Bearer sk-test"
    assert record.body_size == int(record.headers["content-length"])
    first = record.files[0]
    assert first["field"] == "image[]" and first["filename"] == "a.png"
    assert first["content_type"] == "image/png"
    assert (first["format"], first["width"], first["height"]) == ("PNG", 40, 30)
    assert (first["mode"], first["has_alpha"]) == ("RGBA", True)
    assert record.files[1]["has_alpha"] is False


def test_requests_is_a_snapshot_not_the_live_log(sim):
    edit(sim)
    snapshot = sim.requests
    snapshot[0].status = 999
    snapshot.clear()
    assert sim.requests[0].status == 200


# --- bodies from other encoders ----------------------------------------------------------------


def test_a_requests_toolbelt_multipart_encoder_body_is_parsed(sim):
    encoder = MultipartEncoder(
        fields=[
            ("model", "gpt-image-1"),
            ("prompt", "from the toolbelt"),
            ("image[]", ("one.png", io.BytesIO(image_bytes()), "image/png")),
            ("image[]", ("two.jpg", io.BytesIO(JPEG), "image/jpeg")),
        ]
    )
    response = requests.post(
        sim.base_url + "/images/edits",
        data=encoder,
        headers={**AUTH, "Content-Type": encoder.content_type},
        timeout=10,
    )
    assert response.status_code == 200
    record = sim.edit_requests[-1]
    assert record.fields["prompt"] == ["from the toolbelt"]
    assert [f["format"] for f in record.files] == ["PNG", "JPEG"]


def test_a_chunked_body_is_parsed(sim):
    boundary = "chunkychunky"
    png = image_bytes()
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nchunked\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image[]"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + png
        + f"\r\n--{boundary}--\r\n".encode()
    )

    def pieces():
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    response = requests.post(
        sim.base_url + "/images/edits",
        data=pieces(),
        headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=10,
    )
    assert response.status_code == 200
    record = sim.edit_requests[-1]
    assert record.headers["transfer-encoding"] == "chunked"
    assert record.fields["prompt"] == ["chunked"]
    assert record.files[0]["size"] == len(png)


# --- faults --------------------------------------------------------------------------------------


def test_http_fault_answers_in_gateway_shape_with_retry_after_then_is_used_up(sim):
    sim.push_fault("http", status=429, retry_after=7)
    response = edit(sim)
    assert_gateway_error(response, 429, "too_many_requests")
    assert response.headers["Retry-After"] == "7"
    assert edit(sim).status_code == 200


@pytest.mark.parametrize(
    ("status", "code"), [(500, "api_error"), (502, "upstream_error"), (504, "upstream_error")]
)
def test_http_fault_default_codes_follow_the_status(sim, status, code):
    sim.push_fault("http", status=status)
    assert_gateway_error(edit(sim), status, code)


def test_http_fault_takes_a_custom_code_and_message(sim):
    sim.push_fault("http", status=400, code="token_mismatched", message="nope")
    body = assert_gateway_error(edit(sim), 400, "token_mismatched")
    assert body["error"]["message"] == "nope"


def test_faults_are_used_in_the_order_pushed(sim):
    sim.push_fault("http", status=500)
    sim.push_fault("http", status=503)
    assert [edit(sim).status_code for _ in range(3)] == [500, 503, 200]


def test_openai_error_fault_uses_openais_shape(sim):
    sim.push_fault(
        "openai_error",
        status=400,
        type="invalid_request_error",
        code="invalid_image",
        param="mask",
        message="Invalid mask",
    )
    response = edit(sim)
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "Invalid mask",
            "type": "invalid_request_error",
            "param": "mask",
            "code": "invalid_image",
        }
    }


def test_bare_fault_sends_an_html_page(sim):
    page = "<html><body><h1>504 Gateway Time-out</h1></body></html>"
    sim.push_fault("bare", status=504, body=page)
    response = edit(sim)
    assert response.status_code == 504
    assert response.headers["Content-Type"] == "text/html"
    assert response.text == page


def test_hang_fault_makes_the_client_time_out_and_is_logged(sim):
    sim.push_fault("hang", seconds=2)
    with pytest.raises(requests.ReadTimeout):
        edit(sim, timeout=0.3)
    assert sim.edit_requests[-1].status is None


def test_hang_fault_answers_normally_after_the_wait(sim):
    sim.push_fault("hang", seconds=0.3)
    started = time.monotonic()
    response = edit(sim)
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_a_hanging_request_does_not_keep_the_server_from_stopping():
    hung = Simulator(token="sk-test").start()
    hung.push_fault("hang", seconds=30)
    errors = []

    def call() -> None:
        try:
            edit(hung, timeout=10)
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    assert wait_until(lambda: len(hung.edit_requests) == 1)
    started = time.monotonic()
    hung.stop()
    thread.join(timeout=5)
    assert time.monotonic() - started < 3
    assert not thread.is_alive() and errors


def test_malformed_fault_sends_truncated_json(sim):
    sim.push_fault("malformed")
    response = edit(sim)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    with pytest.raises(ValueError):
        response.json()


def test_disconnect_fault_closes_without_an_answer(sim):
    sim.push_fault("disconnect")
    with pytest.raises(requests.ConnectionError):
        edit(sim)
    assert sim.edit_requests[-1].status is None
    assert edit(sim).status_code == 200


def test_tasks_requests_do_not_use_up_faults(sim):
    sim.push_fault("http", status=500)
    assert tasks_call(sim, {"action": "retrieve", "id": "nope"}).status_code == 200
    assert edit(sim).status_code == 500


def test_a_callback_fault_waits_for_a_callback_request(sim, receiver):
    sim.push_fault("callback", mode="lost")
    assert edit(sim).status_code == 200  # a synchronous edit leaves it queued
    assert [f.kind for f in sim.faults] == ["callback"]
    submit_with_callback(sim, receiver.url)
    assert sim.faults == []


def test_unknown_fault_kind_is_refused(sim):
    with pytest.raises(ValueError, match="unknown fault kind"):
        sim.push_fault("gremlins")
    with pytest.raises(ValueError, match="mode"):
        sim.push_fault("callback", mode="sometimes")


# --- callback mode -------------------------------------------------------------------------------


def test_callback_mode_answers_at_once_and_posts_the_nested_result(sim, receiver):
    sim.set_latency(1.5)
    started = time.monotonic()
    task_id = submit_with_callback(sim, receiver.url)
    assert time.monotonic() - started < 1.5  # the answer does not wait for the edit
    assert sim.wait_for_callbacks(1, timeout=10)
    assert time.monotonic() - started >= 1.5  # the result does
    [delivery] = sim.callbacks
    assert (delivery["url"], delivery["status"]) == (receiver.url, 200)
    [received] = receiver.received
    assert received["path"] == "/hooks/s3cret"
    payload = received["payload"]
    assert payload == delivery["payload"]
    assert (payload["success"], payload["task_id"]) == (True, task_id)
    assert re.fullmatch(r"[0-9a-f-]{36}", payload["trace_id"])
    inner = payload["data"]
    assert isinstance(inner["created"], int)
    assert inner["usage"]["total_tokens"] > 0
    image = Image.open(io.BytesIO(base64.b64decode(inner["data"][0]["b64_json"])))
    assert image.size == (1024, 1024)


def test_callback_duplicate_posts_the_same_body_twice(sim, receiver):
    sim.push_fault("callback", mode="duplicate")
    submit_with_callback(sim, receiver.url)
    assert sim.wait_for_callbacks(2, timeout=10)
    assert len(receiver.received) == 2
    assert receiver.received[0]["payload"] == receiver.received[1]["payload"]


def test_callback_lost_never_posts_but_the_task_still_finishes(sim, receiver):
    sim.push_fault("callback", mode="lost")
    task_id = submit_with_callback(sim, receiver.url)

    def finished() -> bool:
        return "response" in tasks_call(sim, {"action": "retrieve", "id": task_id}).json()

    assert wait_until(finished)
    assert not sim.wait_for_callbacks(1, timeout=0.3)
    assert receiver.received == []
    task = tasks_call(sim, {"action": "retrieve", "id": task_id}).json()
    assert task["response"]["success"] is True
    assert task["finished_at"] >= task["started_at"]


def test_callback_late_arrives_after_the_delay(sim, receiver):
    sim.push_fault("callback", mode="late", delay=0.5)
    task_id = submit_with_callback(sim, receiver.url)
    assert sim.wait_for_callbacks(1, timeout=10)
    task = tasks_call(sim, {"action": "retrieve", "id": task_id}).json()
    assert receiver.received[0]["at"] - task["finished_at"] >= 0.45


def test_callback_fail_delivers_the_failure_body_and_stores_it(sim, receiver):
    sim.push_fault("callback", mode="fail", code="api_error", message="fetch failed")
    task_id = submit_with_callback(sim, receiver.url)
    assert sim.wait_for_callbacks(1, timeout=10)
    payload = receiver.received[0]["payload"]
    assert payload["success"] is False
    assert payload["task_id"] == task_id and payload["trace_id"]
    assert payload["error"] == {"code": "api_error", "message": "fetch failed"}
    assert "data" not in payload
    task = tasks_call(sim, {"action": "retrieve", "id": task_id}).json()
    assert task["response"] == payload


def test_callback_status_is_recorded_even_when_the_receiver_fails(sim, receiver):
    receiver.answer_status = 500
    submit_with_callback(sim, receiver.url)
    assert sim.wait_for_callbacks(1, timeout=10)
    assert sim.callbacks[0]["status"] == 500


def test_callback_to_an_unreachable_url_is_recorded_with_no_status(sim):
    submit_with_callback(sim, f"http://127.0.0.1:{closed_port()}/hook")
    assert sim.wait_for_callbacks(1, timeout=10)
    assert sim.callbacks[0]["status"] is None


def test_a_reset_drops_callbacks_still_on_their_way(sim, receiver):
    sim.set_latency(0.3)
    submit_with_callback(sim, receiver.url)
    sim.reset()
    time.sleep(0.5)
    assert sim.callbacks == [] and receiver.received == []


# --- tasks API -----------------------------------------------------------------------------------


def test_task_is_retrievable_by_id_and_trace_id_with_its_fields(sim, receiver):
    task_id = submit_with_callback(sim, receiver.url, {"user": "user-9"})
    assert sim.wait_for_callbacks(1, timeout=10)
    task = tasks_call(sim, {"action": "retrieve", "id": task_id}).json()
    assert (task["id"], task["type"]) == (task_id, "images_edits")
    assert task["request"]["prompt"] == "make it look like a watercolour"
    assert task["request"]["user"] == "user-9"
    assert task["request"]["callback_url"] == receiver.url
    assert task["created_at"] <= task["started_at"] <= task["finished_at"]
    assert task["elapsed"] >= 0
    assert task["response"] == sim.callbacks[0]["payload"]
    by_trace = tasks_call(sim, {"action": "retrieve", "trace_id": task["trace_id"]}).json()
    assert by_trace == task


def test_unfinished_task_has_no_response_yet(sim, receiver):
    sim.set_latency(1)
    task_id = submit_with_callback(sim, receiver.url)
    task = tasks_call(sim, {"action": "retrieve", "id": task_id}).json()
    assert "response" not in task and task["finished_at"] is None


@pytest.mark.parametrize("key", ["id", "trace_id"])
def test_unknown_task_is_an_empty_object(sim, key):
    response = tasks_call(sim, {"action": "retrieve", key: "no-such-task"})
    assert (response.status_code, response.json()) == (200, {})


def test_synchronous_edits_are_not_stored_as_tasks(sim):
    edit(sim)
    response = tasks_call(sim, {"action": "retrieve_batch"})
    assert response.json() == {"items": [], "count": 0}


def test_retrieve_batch_filters_by_ids_and_trace_ids_on_both_paths(sim, receiver):
    ids = [submit_with_callback(sim, receiver.url) for _ in range(3)]
    assert sim.wait_for_callbacks(3, timeout=10)
    response = tasks_call(sim, {"action": "retrieve_batch", "ids": ids[:2]}, path="/v1/tasks")
    body = response.json()
    assert body["count"] == 2
    assert {item["id"] for item in body["items"]} == set(ids[:2])
    trace_id = body["items"][0]["trace_id"]
    by_trace = tasks_call(sim, {"action": "retrieve_batch", "trace_ids": [trace_id]}).json()
    assert [item["trace_id"] for item in by_trace["items"]] == [trace_id]


def test_retrieve_batch_pages_with_offset_and_a_default_limit_of_12(sim, receiver):
    fields = {"model": "dall-e-2", "size": "256x256"}
    ids = []
    for _ in range(13):
        response = edit(sim, {"callback_url": receiver.url, **fields}, [png_file("image", SQUARE)])
        ids.append(response.json()["task_id"])
    first = tasks_call(sim, {"action": "retrieve_batch", "ids": ids}).json()
    assert (first["count"], len(first["items"])) == (13, 12)
    rest = tasks_call(sim, {"action": "retrieve_batch", "ids": ids, "offset": 12}).json()
    seen = [item["id"] for item in first["items"] + rest["items"]]
    assert sorted(seen) == sorted(ids)
    assert sim.wait_for_callbacks(13, timeout=10)


@pytest.mark.parametrize(
    "body",
    [{"action": "explode"}, {"action": "retrieve"}, {"action": "retrieve_batch", "limit": "x"}],
)
def test_bad_tasks_requests_get_400(sim, body):
    assert_gateway_error(tasks_call(sim, body), 400, "bad_request")


def test_tasks_requests_are_logged_with_their_json_keys(sim):
    tasks_call(sim, {"action": "retrieve_batch", "ids": ["a", "b"], "limit": 5})
    [record] = sim.requests
    assert record.path == "/openai/tasks" and record.status == 200
    assert record.fields == {"action": ["retrieve_batch"], "ids": ["a", "b"], "limit": ["5"]}
    assert sim.edit_requests == []


# --- control endpoints ---------------------------------------------------------------------------


def test_health_endpoint(sim):
    response = requests.get(sim.root_url + "/_sim/health", timeout=5)
    assert (response.status_code, response.json()) == (200, {"ok": True})


def test_latency_can_be_set_over_http_and_reset_restores_it(sim):
    response = requests.post(sim.root_url + "/_sim/latency", json={"seconds": 0.25}, timeout=5)
    assert response.status_code == 200
    assert sim.latency == 0.25
    requests.post(sim.root_url + "/_sim/reset", timeout=5)
    assert sim.latency == 0.0


def test_faults_can_be_queued_over_http(sim):
    faults = [{"kind": "http", "status": 503}, {"kind": "bare", "status": 502, "body": "x"}]
    response = requests.post(sim.root_url + "/_sim/faults", json={"faults": faults}, timeout=5)
    assert response.json() == {"ok": True, "queued": 2}
    assert [edit(sim).status_code for _ in range(3)] == [503, 502, 200]


def test_a_bad_fault_list_over_http_is_400_and_queues_nothing(sim):
    faults = [{"kind": "http", "status": 503}, {"kind": "gremlins"}]
    response = requests.post(sim.root_url + "/_sim/faults", json={"faults": faults}, timeout=5)
    assert response.status_code == 400
    assert sim.faults == []


def test_requests_and_callbacks_are_listed_over_http(sim, receiver):
    submit_with_callback(sim, receiver.url)
    assert sim.wait_for_callbacks(1, timeout=10)
    listed = requests.get(sim.root_url + "/_sim/requests", timeout=5).json()
    assert [(r["path"], r["status"]) for r in listed] == [("/openai/images/edits", 200)]
    assert listed[0]["files"][0]["format"] == "PNG"
    callbacks = requests.get(sim.root_url + "/_sim/callbacks", timeout=5).json()
    assert [c["status"] for c in callbacks] == [200]
    assert callbacks[0]["payload"]["success"] is True


def test_reset_over_http_clears_everything(sim, receiver):
    sim.push_fault("http", status=500)
    edit(sim, {"response_format": "url"}, [png_file()])
    sim.push_fault("http", status=500)
    requests.post(sim.root_url + "/_sim/reset", timeout=5)
    assert (sim.requests, sim.faults, sim.callbacks, sim.tasks) == ([], [], [], [])
    assert edit(sim).status_code == 200


def test_served_files_are_forgotten_on_reset(sim):
    url = edit(sim, {"response_format": "url"}).json()["data"][0]["url"]
    sim.reset()
    assert requests.get(url, timeout=5).status_code == 404


# --- the command line ----------------------------------------------------------------------------


def test_cli_prints_its_url_answers_health_and_exits_cleanly_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "editor.simulator", "--port", "0", "--token", "", "--latency", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        assert ready, "the simulator printed nothing within 15 s"
        line = proc.stdout.readline().decode()
        match = re.fullmatch(
            r"Retouch API simulator listening on (http://127\.0\.0\.1:\d+)/openai\n", line
        )
        assert match, line
        root = match[1]
        assert requests.get(root + "/_sim/health", timeout=5).json() == {"ok": True}
        response = requests.post(
            root + "/v1/images/edits",
            data={"prompt": "cli"},
            files=[png_file()],
            headers={"Authorization": "Bearer whatever"},
            timeout=10,
        )
        assert response.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        proc.stdout.close()
        proc.stderr.close()


def test_file_bytes_that_look_like_the_boundary_survive_the_parser(sim):
    boundary = "b0undary"
    tricky = image_bytes() + b"\r\n--" + boundary[:-1].encode() + b"\r\n\r\n--" + b"\r\n"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nx\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image[]"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + tricky
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = requests.post(
        sim.base_url + "/images/edits",
        data=body,
        headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert sim.edit_requests[-1].files[0]["size"] == len(tricky)
