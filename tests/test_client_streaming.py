"""ImagesClient.edit_stream over real HTTP against the simulator: the partial images as they
arrive, the result, the fields sent, and a stream that breaks or reports an error; the SSE
reader itself on awkward chunkings; and a plain answer read from a spooled file."""

from __future__ import annotations

import base64
import io
import json
import time

import pytest
from PIL import Image

from editor.upstream import (
    EditStream,
    ImagesClient,
    InvalidEditRequest,
    PartialImage,
    parsing,
    transport,
)
from editor.upstream.sse import EventTooLarge, read_events
from editor.upstream.transport import SpooledAnswer

from .client_helpers import (
    PNG,
    assert_plain,
    edit_request,
    sim_client,  # noqa: F401 - the ``client`` fixture
)


def run(stream: EditStream) -> list[PartialImage]:
    return list(stream)


def test_partials_arrive_before_the_result_and_the_result_is_the_final_image(sim, client):
    sim.set_latency(1.2)
    stream = client.edit_stream(edit_request(size="1536x1024"), partial_images=2)
    started = time.monotonic()
    seen: list[tuple[PartialImage, float]] = []
    for partial in stream:
        assert stream.result is None  # not before the completed event
        seen.append((partial, time.monotonic() - started))
    done = time.monotonic() - started
    assert [p.index for p, _ in seen] == [0, 1]
    # Each preview is handed over as it arrives: a quarter and half of the latency.
    assert seen[0][1] < 0.8 and seen[1][1] < 1.0 < done
    for partial, _ in seen:
        assert partial.content_type == "image/png"
        assert Image.open(io.BytesIO(partial.data)).size == (1536, 1024)
    result = stream.result
    assert stream.partials == 2
    [image] = result.images
    assert Image.open(io.BytesIO(image.data)).size == (1536, 1024)
    assert image.data not in {p.data for p, _ in seen}
    assert (result.size, result.quality, result.output_format) == ("1536x1024", "low", "png")
    assert result.usage["output_tokens"] > 200
    assert result.request_id == sim.edit_requests[-1].headers["x-request-id"]
    assert result.created and abs(result.created - time.time()) < 60


def test_the_stream_fields_are_sent_with_the_edit(sim, client):
    run(client.edit_stream(edit_request(), partial_images=3))
    sent = sim.edit_requests[-1]
    assert sent.fields["stream"] == ["true"]
    assert sent.fields["partial_images"] == ["3"]
    assert sent.headers["accept"] == "text/event-stream"
    assert sent.events[-1] == "image_edit.completed"


@pytest.mark.parametrize(
    "overrides, partials",
    [({}, 0), ({"n": 2, "response_format": "url"}, 2), ({"response_format": "url"}, 2)],
    ids=["no-previews", "several-results", "links"],
)
def test_an_edit_that_cannot_stream_is_sent_plain(sim, client, overrides, partials):
    stream = client.edit_stream(edit_request(**overrides), partial_images=partials)
    assert run(stream) == []
    assert stream.result.images
    assert "stream" not in sim.edit_requests[-1].fields


def test_more_than_three_partials_are_refused_before_sending(sim, client):
    with pytest.raises(InvalidEditRequest):
        client.edit_stream(edit_request(), partial_images=4)
    assert sim.edit_requests == []


@pytest.mark.parametrize(
    "kind, options, code",
    [
        ("disconnect", {}, "connection_lost"),
        ("http", {"status": 500}, "api_error"),
        ("openai_error", {"type": "server_error"}, "server_error"),
        ("malformed", {}, "malformed_response"),
    ],
)
def test_a_stream_broken_after_a_partial_raises_a_retryable_error(sim, client, kind, options, code):
    sim.push_fault(kind, after_partials=1, **options)
    stream = client.edit_stream(edit_request(), partial_images=2)
    seen = []
    with pytest.raises(Exception) as info:
        for partial in stream:
            seen.append(partial.index)
    err = info.value
    assert [type(err).__name__, err.code, err.retryable] == ["UpstreamError", code, True]
    assert_plain(err.message)
    assert seen == [0]
    assert stream.result is None


def test_a_stalled_stream_times_out(sim):
    sim.push_fault("hang", after_partials=1, seconds=5)
    with ImagesClient(sim.base_url, "sk-test", timeout=(5, 0.5)) as client:
        stream = client.edit_stream(edit_request(), partial_images=2)
        with pytest.raises(Exception) as info:
            run(stream)
    assert (info.value.code, info.value.retryable) == ("timeout", True)


def test_a_refused_streamed_edit_fails_before_any_partial(sim, client):
    sim.push_fault("http", status=400, code="invalid_request_error", message="bad size")
    with pytest.raises(Exception) as info:
        run(client.edit_stream(edit_request(), partial_images=2))
    assert info.value.retryable is False


# -- the SSE reader ------------------------------------------------------------------------


def sse_bytes() -> bytes:
    big = base64.b64encode(PNG * 400).decode()  # long enough to be spooled to disk
    return (
        ": a comment\r\n"
        "event: image_edit.partial_image\r\n"
        'data: {"type": "image_edit.partial_image",\r\n'
        f'data: "b64_json": "{big}"}}\r\n'
        "\r\n"
        "id: 7\n"
        "retry: 10\n"
        "data\n"
        "data:second\n"
        "\n"
        "event: ignored without data\n"
        "\n"
        "event: done\rdata: {}\r\r"
        "data: cut off at the end"
    ).encode()


def events_of(chunks) -> list[tuple[str, bytes]]:
    return [(e.type, e.data.read()) for e in read_events(chunks, max_event_bytes=10**8)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 65536, 10**8])
def test_the_sse_reader_gives_the_same_events_however_the_stream_is_cut(size):
    raw = sse_bytes()
    events = events_of(raw[i : i + size] for i in range(0, len(raw), size))
    assert [kind for kind, _ in events] == ["image_edit.partial_image", "message", "done"]
    first = json.loads(events[0][1])
    assert base64.b64decode(first["b64_json"]) == PNG * 400
    assert events[1][1] == b"\nsecond"
    assert events[2][1] == b"{}"


def test_the_sse_reader_refuses_an_event_past_its_limit():
    raw = b"data: " + b"A" * 5000 + b"\n\n"
    with pytest.raises(EventTooLarge):
        list(read_events([raw], max_event_bytes=4096))


# -- a plain answer, spooled ----------------------------------------------------------------


def test_a_large_plain_answer_is_spooled_to_disk_and_decoded_from_there(sim, client, monkeypatch):
    spooled: list[SpooledAnswer] = []
    real = parsing.spooled_object
    # The simulator's flat pictures are small; a 4K photo's answer is ~15 MB.
    monkeypatch.setattr(transport, "SPOOL_IN_MEMORY_BYTES", 4096)

    def spy(answer):
        spooled.append(answer)
        return real(answer)

    monkeypatch.setattr(parsing, "spooled_object", spy)
    result = client.edit(edit_request(size="1536x1024", quality="high"))
    assert Image.open(io.BytesIO(result.images[0].data)).size == (1536, 1024)
    [answer] = spooled
    assert answer.body.closed  # closed once parsed
    assert answer.body._rolled  # the answer was larger than the in-memory part


def test_a_plain_answer_that_is_not_json_is_malformed(sim, client):
    sim.push_fault("bare", status=200, body="<html>hello</html>", content_type="text/html")
    with pytest.raises(Exception) as info:
        client.edit(edit_request())
    assert info.value.code == "malformed_response"
    assert "<html>" in info.value.detail
