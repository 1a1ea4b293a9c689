"""The edit form over the model catalogue: the picker offers what the service serves, each
model shows only what it takes, and every invalid combination is refused in one plain
sentence naming the fix, before anything is stored or sent."""

import io
import re

import pytest
from django.urls import reverse
from django_tasks_db.models import DBTaskResult
from PIL import Image

from editor.edits.models import Edit, SourceImage
from editor.upstream import MODELS

from .factories import HTMX, image_bytes, post_edit, succeeded_edit, upload
from .queue import run_queue

pytestmark = pytest.mark.django_db

GRID = [m.name for m in MODELS.values() if m.size_rule == "grid"]
LISTED = [m.name for m in MODELS.values() if m.size_rule == "list"]
NO_SIZE = [m.name for m in MODELS.values() if m.size_rule == "none"]
MASKED = [m.name for m in MODELS.values() if m.takes_mask]
UNMASKED = [m.name for m in MODELS.values() if not m.takes_mask]
ONE_PHOTO = [m.name for m in MODELS.values() if m.max_images == 1]
TAKES_N = [m.name for m in MODELS.values() if m.accepts("n")]


def chosen(models: str) -> tuple[str, str]:
    """The model picker's selected option: its value and its label (the options also
    carry each model's minimum photo side for upload.js)."""
    match = re.search(r'<option value="([^"]+)"[^>]* selected>([^<]*)</option>', models)
    assert match, "no model is selected"
    return match.group(1), match.group(2)


def mask_png(size=(64, 64)) -> bytes:
    """Opaque, with a fully transparent square: a mask the API takes."""
    image = Image.new("RGBA", size, (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (10, 10, 20, 20))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def photos(model: str, count: int = 1) -> list:
    """Photos the model takes (dall-e-2: square PNGs)."""
    return [upload(f"photo-{i}.png", image_bytes((96, 96))) for i in range(count)]


def options_html(client, model: str, **extra) -> str:
    response = client.get(reverse("edit_options"), {"model": model, **extra})
    assert response.status_code == 200
    return response.content.decode()


def assert_refused_and_nothing_sent(response, sentence: str, sim) -> None:
    """Refused in words next to the form; no edit, photo or task stored, and the
    service never hears of it."""
    assert response.status_code in (200, 400)
    html = response.content.decode()
    assert sentence in html, html[html.find("errorlist") - 200 :][:1200]
    assert Edit.objects.count() == SourceImage.objects.count() == 0
    assert DBTaskResult.objects.count() == 0
    run_queue()
    assert sim.edit_requests == []


def sent_for(edit_count: int, sim):
    """Run the queue and return what the service received for the last edit."""
    run_queue()
    assert Edit.objects.count() == edit_count
    assert Edit.objects.latest("pk").status == "succeeded", Edit.objects.latest("pk").error_message
    return sim.edit_requests[-1]


# --- refused, one sentence each ------------------------------------------------------------

REFUSED = [
    pytest.param(
        "gpt-image-2",
        {"size": "custom", "size_width": "2000", "size_height": "1000"},
        "GPT Image 2 cannot make 2000x1000: the size needs both sides to be multiples of 16; "
        "the nearest it can make is 2000x1008.",
        id="custom-size-off-the-grid",
    ),
    pytest.param(
        "gpt-image-2",
        {"size": "2000x1000"},
        "the nearest it can make is 2000x1008.",
        id="size-off-the-grid-without-javascript",
    ),
    pytest.param(
        "gpt-image-2.5-flare",
        {"size": "custom", "size_width": "4096", "size_height": "4096"},
        "can have a longer side of at most 3,840 pixels; the nearest it can make is",
        id="custom-size-too-large",
    ),
    pytest.param(
        "gpt-image-2",
        {"size": "custom", "size_width": "3840", "size_height": "1024"},
        "can be at most three times as long as it is wide",
        id="custom-size-too-long",
    ),
    pytest.param(
        "gpt-image-2",
        {"size": "custom", "size_width": "2048"},
        "Give both a width and a height for a custom size, or choose one of the sizes listed.",
        id="custom-size-without-height",
    ),
    pytest.param(
        "gpt-image-2",
        {"size": "custom", "size_width": "wide", "size_height": "1024"},
        "Give the width as a whole number of pixels, such as 2048.",
        id="custom-size-not-a-number",
    ),
    pytest.param(
        "gpt-image-1",
        {"size": "2048x2048"},
        "GPT Image 1 takes a size of auto, 1024x1024, 1536x1024 or 1024x1536, not “2048x2048”.",
        id="size-not-in-a-fixed-list",
    ),
    pytest.param(
        "gpt-image-2",
        {"mask": "yes"},
        "GPT Image 2 does not take a mask: remove it, or choose GPT Image 2 (official), "
        "which does.",
        id="mask-for-a-model-without-one",
    ),
    pytest.param(
        "nano-banana",
        {"mask": "yes"},
        "Nano Banana does not take a mask: remove it, or choose",
        id="mask-for-nano-banana",
    ),
    pytest.param(
        "nano-banana-pro",
        {"photos": 2},
        "Nano Banana Pro edits exactly one photo; you added 2: keep one, or choose a model "
        "that takes several.",
        id="two-photos-for-a-one-photo-model",
    ),
    pytest.param(
        "gpt-image-2",
        {"photos": 17},
        "GPT Image 2 takes at most 16 photos; you added 17: remove 1.",
        id="seventeen-photos",
    ),
    pytest.param(
        "gpt-image-2",
        {"n": "11"},
        "GPT Image 2 makes at most 10 results per edit; ask for 10 or fewer.",
        id="n-above-the-limit",
    ),
    pytest.param(
        "gpt-image-1",
        {"n": "0"},
        "Ask for at least 1 result.",
        id="n-below-one",
    ),
    pytest.param(
        "gpt-image-9",
        {},
        "Retouch does not know the model “gpt-image-9”; choose one of: GPT Image 2, ",
        id="unknown-model-posted-by-hand",
    ),
    pytest.param(
        "gpt-image-2",
        {"small": (40, 30)},
        "“small.png” is 40×30 pixels; GPT Image 2 needs photos at least 64 pixels on each "
        "side: choose a larger photo.",
        id="photo-too-small",
    ),
    pytest.param(
        "dall-e-2",
        {"small": (96, 64)},
        "DALL·E 2 needs a square PNG; “small.png” is a 96×64 PNG.",
        id="dall-e-2-photo-not-square",
    ),
]


@pytest.mark.parametrize(("model", "posted", "sentence"), REFUSED)
def test_an_invalid_combination_is_refused_in_one_sentence_and_nothing_is_sent(
    alice_client, upstream, model, posted, sentence
):
    posted = dict(posted)
    images = photos(model, posted.pop("photos", 1))
    if "small" in posted:
        images = [upload("small.png", image_bytes(posted.pop("small")))]
    if posted.pop("mask", None):
        posted["mask"] = upload("mask.png", mask_png((96, 96)))
    response = post_edit(alice_client, images, model=model, **posted)
    assert_refused_and_nothing_sent(response, sentence, upstream)


def test_without_javascript_the_refusal_is_the_page_with_the_sentence_next_to_the_field(
    alice_client, upstream
):
    response = post_edit(
        alice_client, photos("gpt-image-2"), model="gpt-image-2", size="2000x1000", htmx=False
    )
    assert response.status_code == 400
    html = response.content.decode()
    check = html[html.index('id="size-check"') :]
    assert check.index("the nearest it can make is 2000x1008") < check.index("</div>")
    select = html[html.index('<select name="size"') :]
    assert 'aria-invalid="true"' in select[: select.index(">")]


# --- each rule both ways, over the whole catalogue -----------------------------------------


@pytest.mark.parametrize("model", MASKED)
def test_a_model_that_takes_a_mask_shows_the_mask_and_accepts_one(alice_client, upstream, model):
    assert 'name="mask"' in options_html(alice_client, model)
    mask = upload("mask.png", mask_png((96, 96)))
    response = post_edit(alice_client, photos(model), model=model, mask=mask)
    assert response.status_code == 200
    assert Edit.objects.get().mask
    sent = sent_for(1, upstream)
    assert [f["field"] for f in sent.files if f["field"] == "mask"] == ["mask"]


@pytest.mark.parametrize("model", UNMASKED)
def test_a_model_without_a_mask_hides_the_painter_and_refuses_one(alice_client, upstream, model):
    html = options_html(alice_client, model)
    assert 'name="mask"' not in html and "data-mask-painter" not in html
    assert "it takes no mask" in html
    mask = upload("mask.png", mask_png((96, 96)))
    response = post_edit(alice_client, photos(model), model=model, mask=mask)
    assert_refused_and_nothing_sent(response, "does not take a mask: remove it", upstream)


@pytest.mark.parametrize("model", ONE_PHOTO)
def test_a_one_photo_model_takes_one_and_refuses_two(alice_client, upstream, model):
    response = post_edit(alice_client, photos(model, 2), model=model)
    assert_refused_and_nothing_sent(response, "edits exactly one photo; you added 2", upstream)
    assert post_edit(alice_client, photos(model), model=model).status_code == 200
    sent = sent_for(1, upstream)
    assert len(sent.files) == 1


@pytest.mark.parametrize("model", TAKES_N)
def test_n_up_to_the_models_limit_is_sent_and_one_more_is_refused(alice_client, upstream, model):
    limit = MODELS[model].max_n
    too_many = post_edit(alice_client, photos(model), model=model, n=str(limit + 1))
    assert_refused_and_nothing_sent(too_many, f"ask for {limit} or fewer", upstream)
    assert 'max="10"' in options_html(alice_client, model)
    assert post_edit(alice_client, photos(model), model=model, n="2").status_code == 200
    assert sent_for(1, upstream).fields["n"] == ["2"]


@pytest.mark.parametrize("model", GRID)
def test_a_grid_model_takes_a_custom_size_on_the_grid_and_suggests_the_nearest_off_it(
    alice_client, upstream, model
):
    label = MODELS[model].label
    off = post_edit(
        alice_client,
        photos(model),
        model=model,
        size="custom",
        size_width="2050",
        size_height="1150",
    )
    assert_refused_and_nothing_sent(
        off, f"{label} cannot make 2050x1150: the size needs both sides to be multiples", upstream
    )
    on = post_edit(
        alice_client, photos(model), model=model, size="custom", size_width=2048, size_height=1152
    )
    assert on.status_code == 200
    assert Edit.objects.get().params["size"] == "2048x1152"
    assert sent_for(1, upstream).fields["size"] == ["2048x1152"]


@pytest.mark.parametrize("model", LISTED)
def test_a_fixed_list_model_keeps_its_list_and_refuses_other_sizes(alice_client, upstream, model):
    caps = MODELS[model]
    html = options_html(alice_client, model)
    assert "Custom size" not in html and 'name="size_width"' not in html
    for size in caps.sizes:
        assert f'value="{size}"' in html
    refused = post_edit(alice_client, photos(model), model=model, size="2048x1152")
    assert_refused_and_nothing_sent(refused, f"{caps.label} takes a size of", upstream)
    size = caps.sizes[-1]
    assert post_edit(alice_client, photos(model), model=model, size=size).status_code == 200
    assert sent_for(1, upstream).fields["size"] == [size]


@pytest.mark.parametrize("model", NO_SIZE)
def test_nano_banana_shows_no_options_and_sends_only_model_prompt_and_photo(
    alice_client, upstream, model
):
    html = options_html(alice_client, model)
    for name in ("size", "n", "quality", "background", "output_format", "mask"):
        assert f'name="{name}"' not in html
    assert "has no settings" in html
    # A script posting the fields anyway: they are ignored, never sent.
    response = post_edit(
        alice_client,
        photos(model),
        model=model,
        size="4096x4096",
        n="3",
        quality="high",
        response_format="b64_json",
    )
    assert response.status_code == 200
    assert Edit.objects.get().params == {}
    sent = sent_for(1, upstream)
    assert not {"n", "size", "quality", "response_format", "mask"} & set(sent.fields)
    assert sent.fields["model"] == [model]
    assert [f["field"] for f in sent.files] == ["image"]


# --- sizes: the ways a size may be posted --------------------------------------------------


@pytest.mark.parametrize(
    ("posted", "size"),
    [
        pytest.param({"size": "2048x1536"}, "2048x1536", id="a-preset"),
        pytest.param({"size": "auto"}, "auto", id="auto"),
        pytest.param({"size": "2000x1008"}, "2000x1008", id="on-the-grid-without-a-preset"),
        pytest.param(
            {"size": "custom", "size_width": "1600", "size_height": "1200"},
            "1600x1200",
            id="custom-width-and-height",
        ),
        pytest.param(
            {"size_width": "1600", "size_height": "1200"}, "1600x1200", id="width-and-height-alone"
        ),
        pytest.param(
            {"size": "3840x2160", "size_width": "1", "size_height": "1"},
            "3840x2160",
            id="a-preset-wins-over-hidden-custom-fields",
        ),
        pytest.param({}, "auto", id="nothing-posted-is-the-default"),
    ],
)
def test_a_grid_size_is_stored_and_sent_as_width_x_height(alice_client, upstream, posted, size):
    response = post_edit(alice_client, photos("gpt-image-2"), model="gpt-image-2", **posted)
    assert response.status_code == 200, response.content.decode()[:2000]
    assert Edit.objects.get().params["size"] == size
    assert sent_for(1, upstream).fields["size"] == [size]


def test_the_grid_size_picker_groups_presets_by_resolution_and_offers_a_custom_size(
    alice_client,
):
    html = options_html(alice_client, "gpt-image-2")
    groups = [html.index(f'<optgroup label="{res}">') for res in ("1K", "2K", "4K")]
    assert groups == sorted(groups)
    two_k = html[groups[1] : groups[2]]
    assert '<option value="2048x1536">Landscape · 2048 × 1536</option>' in two_k
    assert '<option value="2048x1152">Widescreen 16:9 · 2048 × 1152</option>' in two_k
    assert '<option value="auto" selected>Automatic (the model decides)</option>' in html
    assert '<option value="custom">Custom size…</option>' in html
    assert 'name="size_width"' in html and 'name="size_height"' in html
    assert 'step="16"' in html


def test_the_live_size_check_suggests_the_nearest_size_before_anything_is_uploaded(
    alice_client,
):
    def check(**sizes) -> str:
        response = alice_client.get(
            reverse("edit_options"),
            {"model": "gpt-image-2", "size": "custom", **sizes},
            HTTP_HX_REQUEST="true",
            HTTP_HX_TARGET="size-check",
        )
        return response.content.decode()

    assert "the nearest it can make is 2000x1008" in check(size_width="2000", size_height="1000")
    assert "size-problem" in check(size_width="2000", size_height="1000")
    assert "2000 × 1008 works (1K)" in check(size_width="2000", size_height="1008")
    assert "size-fits" in check(size_width="2000", size_height="1008")
    assert "4K" in check(size_width="3840", size_height="2160")
    assert check(size_width="2000") == ""  # still typing
    assert "whole numbers of pixels" in check(size_width="2k", size_height="1k")
    assert "<select" not in check(size_width="2000", size_height="1000")  # only the verdict


def test_reusing_an_edit_with_a_custom_size_fills_in_width_and_height(alice_client, alice):
    earlier = succeeded_edit(alice, model="gpt-image-2", params={"size": "2000x1008"})
    html = alice_client.get("/", {"reuse": earlier.pk}).content.decode()
    assert '<option value="custom" selected>Custom size…</option>' in html
    assert 'name="size_width" value="2000"' in html
    assert 'name="size_height" value="1008"' in html


# --- the picker ------------------------------------------------------------------------------


def picker(html: str) -> str:
    start = html.index('<select name="model"')
    return html[start : html.index("</select>", start)]


def test_at_the_gateway_the_picker_offers_its_models_and_preselects_gpt_image_2(
    alice_client, settings
):
    settings.OPENAI_BASE_URL = "https://api.acedata.cloud/openai"
    settings.RETOUCH_SERVICE = "auto"
    html = alice_client.get("/").content.decode()
    models = picker(html)
    assert chosen(models) == ("gpt-image-2", "GPT Image 2 — Best quality")
    assert ">GPT Image 2.5 Flare — Fastest</option>" in models
    assert ">GPT Image 2.5 Sunburst — Keeps faces and text</option>" in models
    assert 'value="nano-banana"' in models
    assert 'value="dall-e-2"' not in models and 'value="gpt-image-1-mini"' not in models
    # The chosen model's description sits under the select and describes it.
    assert 'aria-describedby="model-about"' in models
    about = html[html.index('id="model-about"') :][:600]
    assert "sharp results up to 4K" in about
    assert "up to 16 photos · no mask · up to 10 results" in about.lower()


def test_at_openai_the_picker_offers_openais_models_and_preselects_gpt_image_1_5(
    alice_client, settings
):
    settings.OPENAI_BASE_URL = "https://api.openai.com/v1"
    html = alice_client.get("/").content.decode()
    models = picker(html)
    assert chosen(models)[0] == "gpt-image-1.5"
    assert 'value="dall-e-2"' in models and 'value="gpt-image-1-mini"' in models
    assert 'value="gpt-image-2"' not in models and 'value="nano-banana"' not in models
    assert 'name="mask"' in html  # gpt-image-1.5 takes a mask


def test_a_model_the_service_does_not_serve_is_refused_by_name(alice_client, upstream, settings):
    settings.RETOUCH_SERVICE = "openai"
    response = post_edit(alice_client, photos("nano-banana"), model="nano-banana")
    assert_refused_and_nothing_sent(
        response, "Nano Banana is not offered at OpenAI; choose one of: GPT Image 1.5", upstream
    )


def test_retouch_models_narrows_the_picker_and_what_may_be_posted(alice_client, upstream, settings):
    settings.RETOUCH_MODELS = ("nano-banana", "gpt-image-2.5-flare")
    models = picker(alice_client.get("/").content.decode())
    assert models.count("<option") == 2
    # gpt-image-2 is not among them: the first one offered is preselected.
    assert chosen(models)[0] == "gpt-image-2.5-flare"
    response = post_edit(alice_client, photos("gpt-image-1"), model="gpt-image-1")
    assert_refused_and_nothing_sent(
        response, "GPT Image 1 is not offered at this service; choose one of:", upstream
    )


def test_the_drawn_form_follows_a_change_of_service(alice_client, settings):
    """The blank form is drawn once and reused: a different offer is drawn anew."""
    settings.OPENAI_BASE_URL = "https://api.acedata.cloud/openai"
    assert 'value="nano-banana"' in picker(alice_client.get("/").content.decode())
    settings.OPENAI_BASE_URL = "https://api.openai.com/v1"
    assert 'value="nano-banana"' not in picker(alice_client.get("/").content.decode())


def test_choosing_a_model_swaps_its_description_options_and_mask_together(alice_client):
    html = options_html(alice_client, "gpt-image-1")
    assert html.lstrip().startswith('<div id="model-parts"')
    assert 'id="model-about"' in html and "Options for GPT Image 1" in html
    assert 'name="mask"' in html and "data-mask-painter" in html
    assert 'name="input_fidelity"' in html


def test_a_refused_form_redraws_the_options_of_the_model_posted(alice_client, upstream):
    response = post_edit(alice_client, photos("gpt-image-2"), model="gpt-image-2", n="11")
    html = response.content.decode()
    assert chosen(picker(html))[0] == "gpt-image-2"
    assert 'name="n" value="11"' in html
    assert "Options for GPT Image 2" in html
    assert response["HX-Retarget"] == "#edit-form"


def test_htmx_requests_for_a_model_part_go_to_named_partials(alice_client):
    response = alice_client.get(
        reverse("edit_options"), {"model": "gpt-image-2"}, **{**HTMX, "HTTP_HX_TARGET": "x"}
    )
    assert response.content.decode().lstrip().startswith('<div id="model-parts"')
