"""ImagesClient over real HTTP against the simulator, and the error mapping behind it.

Every error of the API contract is provoked here and checked for what the worker relies on
(``code``, ``status``, ``retryable``, ``retry_after``, ``trace_id``) and for what a person
reads (``message`` in plain words).
"""

from __future__ import annotations

import base64
import email.utils
import io
import json
import pickle
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from editor.upstream import (
    Accepted,
    EditRequest,
    EditResult,
    ImageInput,
    ImagesClient,
    InvalidEditRequest,
    TaskInfo,
    UpstreamError,
    parse_callback,
)
from editor.upstream.errors import error_from_body, error_from_http, parse_retry_after
from editor.upstream.parsing import sniff_image_type


def encode(mode: str, size: tuple[int, int], fmt: str, color=(200, 40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color if mode == "RGB" else (*color, 255)).save(buf, fmt)
    return buf.getvalue()


PNG = encode("RGB", (64, 64), "PNG")
JPEG = encode("RGB", (64, 64), "JPEG")
WEBP = encode("RGB", (64, 64), "WEBP")


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


# -- error mapping and body parsing, without a server -------------------------------------


def gateway_body(code: str, message: str = "upstream said no", trace_id: str = "trace-1") -> bytes:
    return json.dumps(
        {"success": False, "error": {"code": code, "message": message}, "trace_id": trace_id}
    ).encode()


def openai_body(type_: str, code: str | None = None, param: str | None = None) -> bytes:
    error = {"message": "OpenAI said no", "type": type_, "param": param, "code": code}
    return json.dumps({"error": error}).encode()


@pytest.mark.parametrize(
    ("status", "body", "code", "retryable"),
    [
        (400, gateway_body("token_mismatched"), "token_mismatched", False),
        (400, gateway_body("api_not_implemented"), "api_not_implemented", False),
        (400, openai_body("invalid_request_error", param="size"), "invalid_request_error", False),
        (401, gateway_body("invalid_token"), "invalid_token", False),
        (403, openai_body("invalid_request_error"), "invalid_request_error", False),
        (429, gateway_body("too_many_requests"), "too_many_requests", True),
        (429, openai_body("insufficient_quota", "insufficient_quota"), "insufficient_quota", False),
        (500, gateway_body("api_error", "fetch failed"), "api_error", True),
        (502, b"", "bad_gateway", True),
        (503, b"Service Unavailable", "service_unavailable", True),
        (504, b"<html><body><h1>504 Gateway Time-out</h1></body></html>", "gateway_timeout", True),
        (418, b"teapot", "http_error", False),
        (599, b"", "http_error", True),
    ],
)
def test_error_mapping_from_status_and_body(status, body, code, retryable):
    err = error_from_http(status, {}, body, request_id="req-1")
    assert (err.code, err.status, err.retryable) == (code, status, retryable)
    assert err.request_id == "req-1"
    assert_plain(err.message)


def test_openai_insufficient_quota_in_type_only_is_still_not_retryable():
    err = error_from_http(429, {}, openai_body("insufficient_quota"))
    assert err.code == "insufficient_quota"
    assert not err.retryable
    assert "quota or credit" in err.message


def test_401_message_tells_an_administrator_to_check_the_key():
    err = error_from_http(401, {}, gateway_body("invalid_token"))
    assert "administrator" in err.message
    assert "OPENAI_API_KEY" in err.message


def test_400_naming_the_mask_gets_a_mask_message():
    err = error_from_http(400, {}, openai_body("invalid_request_error", param="mask"))
    assert "mask" in err.message
    assert err.param == "mask"
    err = error_from_http(400, {}, gateway_body("bad_request", "'mask' has no alpha channel"))
    assert "mask" in err.message


def test_gateway_trace_id_and_raw_message_are_kept():
    err = error_from_http(500, {}, gateway_body("api_error", "fetch failed", "trace-9"))
    assert err.trace_id == "trace-9"
    assert err.detail == "fetch failed"
    assert "fetch failed" in str(err)
    assert "trace-9" in str(err)


def test_html_error_page_keeps_its_words_not_its_markup():
    page = b"<html><head><style>h1{}</style></head><body><h1>502 Bad Gateway</h1>nginx</body>"
    err = error_from_http(502, {}, page)
    assert err.detail == "502 Bad Gateway nginx"
    assert "<" not in str(err)


def test_retry_after_delta_seconds():
    assert parse_retry_after({"Retry-After": "12"}) == 12.0
    assert parse_retry_after({"retry-after": " 1.5 "}) == 1.5


def test_retry_after_http_date_is_converted_to_seconds_from_now():
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(30, abs=1)


def test_retry_after_in_the_past_is_zero_and_garbage_is_none():
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None
    assert parse_retry_after({"Retry-After": "-5"}) == 0.0


def test_openai_retry_after_ms_header_is_understood():
    assert parse_retry_after({"retry-after-ms": "2500"}) == 2.5


def test_unknown_code_without_status_still_gets_a_plain_message():
    err = error_from_body({"success": False, "error": {"code": "weird_new_thing"}})
    assert err.code == "weird_new_thing"
    assert err.retryable is False
    assert_plain(err.message)


def test_upstream_error_survives_pickling_for_task_queues():
    err = error_from_http(429, {"Retry-After": "3"}, gateway_body("too_many_requests"))
    copy = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert copy.as_dict() == err.as_dict()


def test_parse_callback_reads_the_nested_success_body():
    payload = {
        "success": True,
        "task_id": "task-1",
        "trace_id": "trace-1",
        "data": {
            "created": 1721626477,
            "data": [{"b64_json": b64(PNG), "revised_prompt": "a pink sky"}],
            "usage": {"total_tokens": 3},
            "output_format": "png",
        },
    }
    for form in (payload, json.dumps(payload), json.dumps(payload).encode()):
        result = parse_callback(form)
        assert result.task_id == "task-1"
        assert result.trace_id == "trace-1"
        assert result.created == 1721626477
        assert result.usage == {"total_tokens": 3}
        assert result.output_format == "png"
        assert result.request_id is None
        [image] = result.images
        assert image.data == PNG
        assert image.content_type == "image/png"
        assert image.revised_prompt == "a pink sky"


def test_parse_callback_also_accepts_the_synchronous_shape():
    result = parse_callback({"created": 1, "data": [{"b64_json": b64(JPEG)}], "task_id": "t"})
    assert result.images[0].content_type == "image/jpeg"
    assert result.task_id == "t"


def test_parse_callback_failure_body_raises_with_trace_id():
    body = {
        "success": False,
        "task_id": "task-1",
        "trace_id": "trace-2",
        "error": {"code": "api_error", "message": "fetch failed"},
    }
    with pytest.raises(UpstreamError) as info:
        parse_callback(body)
    assert info.value.code == "api_error"
    assert info.value.trace_id == "trace-2"
    assert info.value.retryable is True
    assert info.value.status is None
    assert_plain(info.value.message)


def test_parse_callback_failure_nested_in_data_raises():
    body = {"success": True, "trace_id": "t3", "data": {"error": {"code": "moderation_blocked"}}}
    with pytest.raises(UpstreamError) as info:
        parse_callback(body)
    assert (info.value.code, info.value.trace_id, info.value.retryable) == (
        "moderation_blocked",
        "t3",
        False,
    )
    assert "safety" in info.value.message


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2]",
        "",
        {"success": True},
        {"success": True, "data": {"data": []}},
        {"data": [{"b64_json": "!!!not base64!!!"}]},
        {"data": [{"b64_json": b64(b"plain text, not an image")}]},
        {"data": [{"neither": 1}]},
        {"data": ["string item"]},
    ],
)
def test_parse_callback_junk_is_malformed_response(payload):
    with pytest.raises(UpstreamError) as info:
        parse_callback(payload)
    assert info.value.code == "malformed_response"
    assert_plain(info.value.message)


def test_sniffed_content_types():
    assert sniff_image_type(PNG) == "image/png"
    assert sniff_image_type(JPEG) == "image/jpeg"
    assert sniff_image_type(WEBP) == "image/webp"
    assert sniff_image_type(b"GIF89a") is None


# -- against the simulator -----------------------------------------------------------------


@pytest.fixture
def client(sim):
    with ImagesClient(sim.base_url, sim.token or "sk-test", timeout=(5, 30)) as c:
        yield c


def expect_error(client: ImagesClient, req: EditRequest | None = None) -> UpstreamError:
    with pytest.raises(UpstreamError) as info:
        client.edit(req or edit_request())
    err = info.value
    assert_plain(err.message)
    assert err.code in str(err)
    return err


def test_b64_success_returns_decodable_images_and_every_id(sim, client):
    result = client.edit(edit_request())
    assert isinstance(result, EditResult)
    [image] = result.images
    assert image.content_type == "image/png"
    assert image.url is None
    assert image.revised_prompt == "Make the sky pink"
    with Image.open(io.BytesIO(image.data)) as decoded:
        assert decoded.size == (1024, 1024)
    assert result.request_id == sim.edit_requests[-1].headers["x-request-id"]
    assert result.trace_id and result.task_id
    assert result.usage["total_tokens"] > 0
    assert abs(result.created - time.time()) < 60
    assert result.elapsed is not None
    assert (result.size, result.quality, result.output_format) == ("1024x1024", "low", "png")
    assert result.background == "opaque"
    assert 0 < result.duration < 30


def test_url_results_are_downloaded_and_keep_their_url(sim, client):
    result = client.edit(edit_request(response_format="url", n=2, output_format="webp"))
    assert len(result.images) == 2
    for image in result.images:
        assert image.url.startswith(sim.root_url + "/_sim/files/")
        assert image.content_type == "image/webp"
        with Image.open(io.BytesIO(image.data)) as decoded:
            assert decoded.format == "WEBP"


def test_several_images_go_as_repeated_image_brackets_for_gpt_image_1(sim, client):
    jpeg = ImageInput("b.jpg", "image/jpeg", io.BytesIO(JPEG))
    webp = ImageInput("c.webp", "image/webp", io.BytesIO(WEBP))
    client.edit(edit_request(images=[png_input("a.png"), jpeg, webp]))
    files = sim.edit_requests[-1].files
    assert [(f["field"], f["filename"], f["format"]) for f in files] == [
        ("image[]", "a.png", "PNG"),
        ("image[]", "b.jpg", "JPEG"),
        ("image[]", "c.webp", "WEBP"),
    ]
    assert [f["content_type"] for f in files] == ["image/png", "image/jpeg", "image/webp"]
    assert files[0]["size"] == len(PNG)


def test_dall_e_2_sends_a_single_image_field(sim, client):
    result = client.edit(
        EditRequest(model="dall-e-2", prompt="A hat", images=[png_input()], size="256x256")
    )
    assert len(result.images) == 1
    [sent] = sim.edit_requests[-1].files
    assert sent["field"] == "image"


def test_mask_is_sent_as_its_own_part(sim, client):
    mask = ImageInput("mask.png", "image/png", io.BytesIO(mask_png()))
    client.edit(edit_request(mask=mask))
    files = sim.edit_requests[-1].files
    assert [f["field"] for f in files] == ["image[]", "mask"]
    assert files[1]["has_alpha"] is True
    assert files[1]["filename"] == "mask.png"


def test_every_set_option_is_sent_as_text_and_unset_ones_are_omitted(sim, client):
    client.edit(
        edit_request(
            n=2,
            size="1536x1024",
            quality="medium",
            background="transparent",
            output_format="webp",
            output_compression=70,
            input_fidelity="high",
            response_format="b64_json",
            user="user-42",
        )
    )
    fields = sim.edit_requests[-1].fields
    assert fields == {
        "model": ["gpt-image-1"],
        "prompt": ["Make the sky pink"],
        "n": ["2"],
        "size": ["1536x1024"],
        "quality": ["medium"],
        "background": ["transparent"],
        "output_format": ["webp"],
        "output_compression": ["70"],
        "input_fidelity": ["high"],
        "response_format": ["b64_json"],
        "user": ["user-42"],
    }
    client.edit(EditRequest(model="gpt-image-1", prompt="Hi", images=[png_input()]))
    assert sim.edit_requests[-1].fields == {"model": ["gpt-image-1"], "prompt": ["Hi"]}


def test_bearer_token_and_request_id_headers_are_sent(sim, client):
    result = client.edit(edit_request())
    headers = sim.edit_requests[-1].headers
    assert headers["authorization"] == f"Bearer {sim.token or 'sk-test'}"
    assert re.fullmatch(r"[0-9a-f-]{36}", headers["x-request-id"])
    assert headers["x-client-request-id"] == headers["x-request-id"]
    assert headers["accept"] == "application/json"
    assert headers["user-agent"].startswith("Retouch/")
    assert headers["content-type"].startswith("multipart/form-data; boundary=")
    assert result.request_id == headers["x-request-id"]
    client.edit(edit_request())
    assert sim.edit_requests[-1].headers["x-request-id"] != headers["x-request-id"]


def test_files_are_rewound_so_a_retry_sends_them_whole(sim, client):
    image = png_input()
    image.fileobj.seek(10)
    client.edit(edit_request(images=[image]))
    client.edit(edit_request(images=[image]))
    assert [r.files[0]["size"] for r in sim.edit_requests] == [len(PNG), len(PNG)]


def test_invalid_request_is_rejected_before_anything_is_sent(sim, client):
    with pytest.raises(InvalidEditRequest) as info:
        client.edit(edit_request(prompt=" ", n=20))
    assert set(info.value.errors) == {"prompt", "n"}
    assert sim.edit_requests == []


def test_edit_refuses_a_callback_url_and_submit_requires_one(sim, client):
    with pytest.raises(InvalidEditRequest):
        client.edit(edit_request(callback_url="https://retouch.example/hook"))
    with pytest.raises(InvalidEditRequest):
        client.submit(edit_request())
    assert sim.edit_requests == []


def test_base_urls_of_every_service_shape_are_accepted(sim):
    for base in (sim.base_url + "/", sim.root_url + "/v1"):
        with ImagesClient(base, sim.token or "sk-test") as c:
            assert c.edits_url.endswith(("/openai/images/edits", "/v1/images/edits"))
            assert c.edit(edit_request()).images
    assert [r.path for r in sim.edit_requests] == ["/openai/images/edits", "/v1/images/edits"]


# -- callback mode and the Tasks API -------------------------------------------------------


def callback_url() -> str:
    # Nobody listens there: the simulator records the payload it tried to deliver anyway.
    return f"http://127.0.0.1:{closed_port()}/hooks/secret-token"


def submit_and_wait(sim, client, **overrides) -> tuple[Accepted, dict]:
    accepted = client.submit(edit_request(callback_url=callback_url(), **overrides))
    assert sim.wait_for_callbacks(1, timeout=10)
    return accepted, sim.callbacks[0]["payload"]


def test_submit_returns_the_task_id_and_sends_callback_url(sim, client):
    url = callback_url()
    accepted = client.submit(edit_request(callback_url=url))
    assert isinstance(accepted, Accepted)
    assert accepted.task_id
    assert accepted.request_id == sim.edit_requests[-1].headers["x-request-id"]
    assert sim.edit_requests[-1].fields["callback_url"] == [url]


def test_callback_body_parses_into_the_same_result_as_a_synchronous_edit(sim, client):
    accepted, payload = submit_and_wait(sim, client)
    result = parse_callback(json.dumps(payload).encode())
    assert result.task_id == accepted.task_id
    assert result.trace_id == payload["trace_id"]
    assert result.usage["total_tokens"] > 0
    with Image.open(io.BytesIO(result.images[0].data)) as decoded:
        assert decoded.size == (1024, 1024)


def test_callback_with_url_results_is_downloaded_through_the_client(sim, client):
    _accepted, payload = submit_and_wait(sim, client, response_format="url")
    result = client.parse_callback(payload)
    assert result.images[0].url.startswith(sim.root_url)
    assert result.images[0].content_type == "image/png"
    assert parse_callback(payload).images[0].data == result.images[0].data


def test_failed_callback_raises_with_the_gateway_code_and_trace_id(sim, client):
    sim.push_fault("callback", mode="fail", code="api_error", message="fetch failed")
    _accepted, payload = submit_and_wait(sim, client)
    with pytest.raises(UpstreamError) as info:
        parse_callback(payload)
    err = info.value
    assert (err.code, err.detail, err.retryable) == ("api_error", "fetch failed", True)
    assert err.trace_id == payload["trace_id"]
    assert_plain(err.message)


def test_retrieve_returns_the_finished_task_with_its_result(sim, client):
    accepted, _payload = submit_and_wait(sim, client)
    info = client.retrieve(accepted.task_id)
    assert isinstance(info, TaskInfo)
    assert info.id == accepted.task_id
    assert info.finished and info.error is None
    assert info.type == "images_edits"
    assert info.created_at <= info.started_at <= info.finished_at
    assert info.elapsed is not None
    assert info.result.task_id == accepted.task_id
    assert info.result.images[0].content_type == "image/png"
    assert sim.requests[-1].headers["authorization"].startswith("Bearer ")


def test_retrieve_finds_a_task_whose_callback_was_lost(sim, client):
    sim.push_fault("callback", mode="lost")
    accepted = client.submit(edit_request(callback_url=callback_url()))
    info = None
    for _ in range(100):  # at most ~10 s
        info = client.retrieve(accepted.task_id)
        if info.finished:
            break
        time.sleep(0.1)
    assert info.finished and info.result.images
    assert sim.callbacks == []


def test_retrieve_of_an_unfinished_task_has_no_result_yet(sim, client):
    sim.set_latency(5)
    accepted = client.submit(edit_request(callback_url=callback_url()))
    info = client.retrieve(accepted.task_id)
    assert (info.finished, info.result, info.error, info.finished_at) == (False, None, None, None)


def test_retrieve_of_a_failed_task_carries_the_error(sim, client):
    sim.push_fault("callback", mode="fail", code="too_many_requests", message="busy")
    accepted, _payload = submit_and_wait(sim, client)
    info = client.retrieve(accepted.task_id)
    assert info.finished and info.result is None
    assert (info.error.code, info.error.retryable) == ("too_many_requests", True)
    assert info.error.trace_id == info.trace_id


def test_retrieve_of_an_unknown_id_is_none(sim, client):
    assert client.retrieve("no-such-task") is None


def test_retrieve_batch_returns_known_tasks_in_order_and_skips_unknown(sim, client):
    first = client.submit(edit_request(callback_url=callback_url()))
    second = client.submit(edit_request(callback_url=callback_url()))
    third = client.submit(edit_request(callback_url=callback_url()))
    assert sim.wait_for_callbacks(3, timeout=15)
    ids = [second.task_id, "missing", first.task_id, third.task_id, first.task_id]
    infos = client.retrieve_batch(ids, page_size=2)
    assert [i.id for i in infos] == [second.task_id, first.task_id, third.task_id]
    assert all(i.finished and i.result.images for i in infos)
    batch_calls = [r for r in sim.requests if r.fields.get("action") == ["retrieve_batch"]]
    assert len(batch_calls) == 2
    assert client.retrieve_batch([]) == []


class _StingyTasksApi(BaseHTTPRequestHandler):
    """A Tasks API that returns one item per page whatever limit is asked for."""

    tasks = [{"id": f"t{i}", "trace_id": f"trace-{i}", "created_at": 1.0} for i in range(5)]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        selected = [t for t in self.tasks if t["id"] in body["ids"]]
        page = selected[body["offset"] : body["offset"] + 1]
        out = json.dumps({"items": page, "count": len(selected)}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args) -> None:
        pass


def test_retrieve_batch_pages_with_offset_when_the_service_returns_short_pages():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StingyTasksApi)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/openai"
        with ImagesClient(base, "sk-test", timeout=(2, 5)) as c:
            infos = c.retrieve_batch(["t3", "t1", "nope", "t4"], page_size=12)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert [i.id for i in infos] == ["t3", "t1", "t4"]
    assert all(not i.finished and i.result is None for i in infos)


def test_tasks_api_errors_are_upstream_errors(sim):
    with ImagesClient(sim.base_url, "sk-wrong") as c, pytest.raises(UpstreamError) as info:
        c.retrieve("anything")
    assert (info.value.code, info.value.status) == ("invalid_token", 401)


# -- every error of the contract -----------------------------------------------------------


def test_400_gateway_bad_request_is_not_retryable_and_keeps_trace_id(sim, client):
    # A real validation failure: the mask is not the size of the image.
    mask = ImageInput("mask.png", "image/png", io.BytesIO(mask_png((32, 32))))
    err = expect_error(client, edit_request(mask=mask))
    assert (err.code, err.status, err.retryable, err.retry_after) == (
        "bad_request",
        400,
        False,
        None,
    )
    assert err.trace_id
    assert "mask" in err.message
    assert "32x32" in err.detail


@pytest.mark.parametrize("code", ["token_mismatched", "api_not_implemented"])
def test_400_gateway_codes_are_not_retryable(sim, client, code):
    sim.push_fault("http", status=400, code=code, message="nope")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable) == (code, 400, False)
    assert err.trace_id


def test_400_openai_shape_keeps_type_and_param(sim, client):
    sim.push_fault(
        "openai_error",
        status=400,
        type="invalid_request_error",
        param="image",
        message="Invalid image file or mode for image 1",
    )
    err = expect_error(client)
    assert (err.code, err.status, err.retryable, err.param) == (
        "invalid_request_error",
        400,
        False,
        "image",
    )
    assert err.detail == "Invalid image file or mode for image 1"
    assert "one of the images" in err.message


def test_401_wrong_token_tells_an_administrator_to_check_the_key(sim):
    with ImagesClient(sim.base_url, "sk-wrong") as c:
        err = expect_error(c)
    assert (err.code, err.status, err.retryable) == ("invalid_token", 401, False)
    assert "OPENAI_API_KEY" in err.message
    assert "sk-wrong" not in str(err) + repr(c)


def test_403_is_not_retryable(sim, client):
    sim.push_fault(
        "openai_error", status=403, type="invalid_request_error", message="org not verified"
    )
    err = expect_error(client)
    assert (err.status, err.retryable) == (403, False)
    assert "not allow" in err.message


def test_429_with_retry_after_is_retryable_and_carries_delay(sim, client):
    sim.push_fault("http", status=429, code="too_many_requests", retry_after=7)
    err = expect_error(client)
    assert (err.code, err.status, err.retryable, err.retry_after) == (
        "too_many_requests",
        429,
        True,
        7.0,
    )
    assert err.trace_id
    assert err.message == (
        "The image service is busy right now (too many requests). Retouch will try again shortly."
    )


def test_429_retry_after_as_http_date_is_seconds_from_now(sim, client):
    sim.push_fault(
        "http", status=429, retry_after=email.utils.formatdate(time.time() + 120, usegmt=True)
    )
    err = expect_error(client)
    assert err.retryable
    assert 110 <= err.retry_after <= 121


def test_429_insufficient_quota_is_not_retryable(sim, client):
    sim.push_fault(
        "openai_error",
        status=429,
        type="insufficient_quota",
        code="insufficient_quota",
        message="You exceeded your current quota",
    )
    err = expect_error(client)
    assert (err.code, err.status, err.retryable) == ("insufficient_quota", 429, False)
    assert "quota or credit" in err.message


def test_500_api_error_is_retryable(sim, client):
    sim.push_fault("http", status=500, code="api_error", message="fetch failed")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable, err.detail) == (
        "api_error",
        500,
        True,
        "fetch failed",
    )
    assert err.trace_id


@pytest.mark.parametrize(("status", "code"), [(502, "bad_gateway"), (503, "service_unavailable")])
def test_502_and_503_html_pages_are_retryable(sim, client, status, code):
    sim.push_fault("bare", status=status, body=f"<html><body><h1>{status} Oops</h1></body></html>")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable, err.trace_id) == (code, status, True, None)
    assert err.detail == f"{status} Oops"
    assert err.request_id


def test_504_html_page_is_retryable_and_hints_at_callbacks(sim, client):
    sim.push_fault("bare", status=504, body="<html><h1>504 Gateway Time-out</h1></html>")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable) == ("gateway_timeout", 504, True)
    assert "callback" in err.message


def test_413_too_large_upload_is_not_retryable(sim, client):
    limit, sim.max_body_bytes = sim.max_body_bytes, 100
    try:
        err = expect_error(client)
    finally:
        sim.max_body_bytes = limit
    assert (err.status, err.retryable) == (413, False)


def test_timeout_when_the_service_hangs(sim):
    sim.push_fault("hang", seconds=3)
    with ImagesClient(sim.base_url, sim.token or "sk-test", timeout=(2, 0.3)) as c:
        started = time.monotonic()
        err = expect_error(c)
    assert time.monotonic() - started < 2
    assert (err.code, err.status, err.retryable) == ("timeout", None, True)
    assert err.request_id


def test_connection_refused_is_a_retryable_connect_error():
    with ImagesClient(f"http://127.0.0.1:{closed_port()}/openai", "sk-test") as c:
        err = expect_error(c)
    assert (err.code, err.status, err.retryable) == ("connect_error", None, True)
    assert "could not reach" in err.message


def test_disconnect_without_an_answer_is_retryable(sim, client):
    sim.push_fault("disconnect")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable) == ("connection_lost", None, True)


def test_malformed_json_on_200_is_a_retryable_malformed_response(sim, client):
    sim.push_fault("malformed")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable) == ("malformed_response", 200, True)
    assert err.request_id


def test_gateway_failure_inside_a_200_is_still_an_error(sim, client):
    body = json.dumps(
        {"success": False, "error": {"code": "api_error", "message": "x"}, "trace_id": "t-200"}
    )
    sim.push_fault("bare", status=200, body=body, content_type="application/json")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable, err.trace_id) == ("api_error", 200, True, "t-200")


def test_html_page_with_status_200_is_a_malformed_response(sim, client):
    sim.push_fault("bare", status=200, body="<html><body>Please log in to the Wi-Fi</body></html>")
    err = expect_error(client)
    assert (err.code, err.status, err.retryable) == ("malformed_response", 200, True)


def test_url_result_that_cannot_be_downloaded_is_download_failed(sim, client):
    missing = f"{sim.root_url}/_sim/files/{'0' * 32}.png"
    for url in (missing, f"http://127.0.0.1:{closed_port()}/x.png"):
        with pytest.raises(UpstreamError) as info:
            client.parse_callback(
                {"success": True, "trace_id": "tr", "data": {"data": [{"url": url}]}}
            )
        err = info.value
        assert (err.code, err.retryable, err.trace_id) == ("download_failed", True, "tr")
        assert_plain(err.message)


def test_url_result_over_the_download_cap_is_too_large(sim):
    with ImagesClient(sim.base_url, sim.token or "sk-test", max_download_bytes=1000) as c:
        err = expect_error(c, edit_request(response_format="url"))
    assert (err.code, err.retryable) == ("too_large", False)


def test_non_http_result_urls_are_never_fetched(client):
    with pytest.raises(UpstreamError) as info:
        client.parse_callback({"data": [{"url": "file:///etc/passwd"}]})
    assert info.value.code == "download_failed"
