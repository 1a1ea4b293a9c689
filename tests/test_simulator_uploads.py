"""Reading request bodies: sizes, encodings and shapes of multipart/form-data from any client."""

from __future__ import annotations

import io

import requests
from requests_toolbelt import MultipartEncoder

from editor.simulator.server import Simulator

from .simulator_helpers import (
    AUTH,
    JPEG,
    SOURCE,
    assert_gateway_error,
    edit,
    png_file,
    stored_png,
)


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


def test_a_body_that_is_neither_multipart_nor_json_is_400(sim):
    response = requests.post(
        sim.base_url + "/images/edits",
        data="prompt=x",
        headers={**AUTH, "Content-Type": "text/plain"},
        timeout=5,
    )
    body = assert_gateway_error(response, 400, "bad_request")
    assert "multipart/form-data or application/json" in body["error"]["message"]


def test_a_truncated_multipart_body_is_400(sim):
    response = requests.post(
        sim.base_url + "/images/edits",
        data=b'--xyz\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhello',
        headers={**AUTH, "Content-Type": "multipart/form-data; boundary=xyz"},
        timeout=5,
    )
    body = assert_gateway_error(response, 400, "bad_request")
    assert "closing boundary" in body["error"]["message"]


def test_a_requests_toolbelt_multipart_encoder_body_is_parsed(sim):
    encoder = MultipartEncoder(
        fields=[
            ("model", "gpt-image-1"),
            ("prompt", "from the toolbelt"),
            ("image[]", ("one.png", io.BytesIO(SOURCE), "image/png")),
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
    png = SOURCE
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


def test_file_bytes_that_look_like_the_boundary_survive_the_parser(sim):
    boundary = "b0undary"
    tricky = SOURCE + b"\r\n--" + boundary[:-1].encode() + b"\r\n\r\n--" + b"\r\n"
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
