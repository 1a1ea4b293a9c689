"""The model catalogue: every model of today's table as data, what each service offers, the
gpt-image-2 size grid, and validate() per model, each rule both ways."""

from __future__ import annotations

import json
import random

import pytest

from editor.upstream import (
    MODELS,
    ModelCapabilities,
    catalogue,
    get_model,
    load_extra_models,
    validate,
)
from editor.upstream.modelspec import entry_problems
from editor.upstream.sizes import GRID_PRESETS, nearest_grid_size, on_grid

from .client_helpers import bare_edit_request as request
from .client_helpers import errors_of
from .client_helpers import signature_only_png as image

# name: (services, takes a mask, most photos, size rule, max n, billing, result kinds)
TABLE = {
    "gpt-image-2": ("gateway", False, 16, "grid", 10, "per_image", "b64_json url"),
    "gpt-image-2:reverse": ("gateway", False, 16, "grid", 10, "per_image", "b64_json url"),
    "gpt-image-2:official": ("gateway", True, 16, "grid", 10, "per_token", "b64_json url"),
    "gpt-image-2.5-flare": ("gateway", False, 16, "grid", 10, "per_image", "b64_json url"),
    "gpt-image-2.5-flare:official": ("gateway", True, 16, "grid", 10, "per_token", "b64_json url"),
    "gpt-image-2.5-sunburst": ("gateway", False, 16, "grid", 10, "per_image", "b64_json url"),
    "gpt-image-2.5-sunburst:official": (
        "gateway",
        True,
        16,
        "grid",
        10,
        "per_token",
        "b64_json url",
    ),
    "gpt-image-1.5": ("gateway openai", True, 16, "list", 10, "per_token", "b64_json url"),
    "gpt-image-1": ("gateway openai", True, 16, "list", 10, "per_token", "b64_json url"),
    "gpt-image-1-mini": ("openai", True, 16, "list", 10, "per_token", "b64_json url"),
    "nano-banana": ("gateway", False, 1, "none", 1, "per_request", "url"),
    "nano-banana-2": ("gateway", False, 1, "none", 1, "per_request", "url"),
    "nano-banana-pro": ("gateway", False, 1, "none", 1, "per_request", "url"),
    "dall-e-2": ("openai", True, 1, "list", 10, "per_image", "url b64_json"),
}
GATEWAY_ONLY = [name for name, row in TABLE.items() if row[0] == "gateway"]


def assert_one_plain_sentence(message: str) -> None:
    assert message[0].isupper() and message.endswith(".")
    assert message.count(". ") == 0, message
    assert "{" not in message and "Error" not in message


@pytest.fixture
def restore_models():
    """Tests that add models leave the catalogue as they found it."""
    saved = dict(MODELS)
    yield
    MODELS.clear()
    MODELS.update(saved)


# -- the entries -----------------------------------------------------------------------------


def test_every_model_of_todays_table_is_one_consistent_entry():
    assert set(MODELS) == set(TABLE)
    for model in MODELS.values():
        assert isinstance(model, ModelCapabilities)
        assert entry_problems(model) == [], model.name
        assert model.label and model.tagline and model.description.endswith(".")
        assert model.min_image_side >= 64


@pytest.mark.parametrize("name", TABLE)
def test_each_entry_says_what_the_contract_says(name):
    services, mask, most, rule, max_n, billing, kinds = TABLE[name]
    model = get_model(name)
    assert model.services == tuple(services.split())
    assert model.takes_mask is mask
    assert model.max_images == most
    assert model.size_rule == rule
    assert model.max_n == max_n
    assert model.billing == billing
    assert model.response_formats == tuple(kinds.split())


def test_the_gpt_image_2_family_returns_base64_only_for_one_result():
    for name in TABLE:
        assert (get_model(name).b64_json_max_n == 1) is name.startswith("gpt-image-2")


def test_nano_banana_takes_no_settings_and_always_answers_with_a_link():
    for name in ("nano-banana", "nano-banana-2", "nano-banana-pro"):
        model = get_model(name)
        assert model.options == ()
        assert model.always_url
        assert model.image_field == "image"


@pytest.mark.parametrize(
    ("name", "service", "streams"),
    [
        ("gpt-image-1", "openai", True),
        ("gpt-image-1.5", "openai", True),
        ("gpt-image-1-mini", "openai", True),
        ("gpt-image-1", "gateway", True),
        ("gpt-image-2:official", "gateway", True),
        ("gpt-image-2", "gateway", False),
        ("gpt-image-2.5-flare", "gateway", False),
        ("nano-banana", "gateway", False),
        ("dall-e-2", "openai", False),
        ("gpt-image-1-mini", "gateway", False),  # not served there at all
        ("gpt-image-2", "unknown", False),
        ("gpt-image-1", "unknown", True),
    ],
)
def test_which_models_stream_partial_images_where(name, service, streams):
    assert catalogue.can_stream(name, service) is streams


# -- which service, which models -------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "override", "service"),
    [
        ("https://api.acedata.cloud/openai", "auto", "gateway"),
        ("https://api.acedata.cloud/v1", None, "gateway"),
        ("https://API.openai.com/v1", "", "openai"),
        ("http://127.0.0.1:8001/openai", "auto", "unknown"),
        ("https://proxy.example/v1", "openai", "openai"),
        ("https://api.openai.com/v1", "gateway", "gateway"),
        ("https://api.acedata.cloud.evil.example/openai", "auto", "unknown"),
        ("", "auto", "unknown"),
    ],
)
def test_the_service_is_told_from_the_base_url_unless_overridden(base_url, override, service):
    assert catalogue.service_for(base_url, override) == service


def test_an_unknown_service_setting_is_refused_naming_the_choices():
    assert catalogue.parse_service_setting(" OpenAI ") == "openai"
    assert catalogue.parse_service_setting(None) == "auto"
    with pytest.raises(ValueError, match="auto, gateway or openai"):
        catalogue.parse_service_setting("azure")


def test_each_service_offers_the_models_it_serves():
    gateway = [m.name for m in catalogue.offered_models("gateway")]
    openai = [m.name for m in catalogue.offered_models("openai")]
    assert gateway[0] == "gpt-image-2"
    assert "gpt-image-1-mini" not in gateway and "dall-e-2" not in gateway
    assert set(gateway) == set(GATEWAY_ONLY) | {"gpt-image-1", "gpt-image-1.5"}
    assert openai == ["gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini", "dall-e-2"]
    assert [m.name for m in catalogue.offered_models("unknown")] == list(MODELS)


def test_retouch_models_narrows_the_offer():
    only = catalogue.parse_model_names(" nano-banana , gpt-image-2,,nano-banana ")
    assert only == ("nano-banana", "gpt-image-2")
    assert [m.name for m in catalogue.offered_models("gateway", only)] == [
        "gpt-image-2",
        "nano-banana",
    ]
    # A name the service does not serve stays out.
    assert catalogue.offered_models("openai", ("nano-banana",)) == []
    assert catalogue.parse_model_names("") == ()


def test_retouch_models_with_an_unknown_name_is_refused():
    with pytest.raises(ValueError, match="gpt-9000"):
        catalogue.parse_model_names("gpt-image-2, gpt-9000")


@pytest.mark.parametrize(
    ("service", "only", "default"),
    [
        ("gateway", (), "gpt-image-2"),
        ("openai", (), "gpt-image-1.5"),
        ("unknown", (), "gpt-image-2"),
        ("gateway", ("nano-banana", "gpt-image-1"), "gpt-image-1"),
        ("openai", ("dall-e-2",), "dall-e-2"),
    ],
)
def test_the_default_is_the_services_recommended_model_when_offered(service, only, default):
    assert catalogue.default_model(service, only) == default


def test_a_model_posted_by_hand_that_is_not_offered_gets_one_sentence():
    assert catalogue.check_offered("gpt-image-2", "gateway") is None
    message = catalogue.check_offered("gpt-image-2", "openai")
    assert "not offered at OpenAI" in message and "GPT Image 1.5" in message
    assert_one_plain_sentence(message)
    assert "does not know" in catalogue.check_offered("gpt-9000", "gateway")


# -- sizes -----------------------------------------------------------------------------------


def test_gpt_image_2_presets_come_grouped_by_resolution_and_shape():
    groups = catalogue.size_preset_groups("gpt-image-2")
    assert list(groups) == ["1K", "2K", "4K"]
    for presets in groups.values():
        assert [p.shape for p in presets] == ["square", "landscape", "portrait", "16:9", "9:16"]
    assert [p.value for p in groups["4K"]] == [
        "2880x2880", "3264x2448", "2448x3264", "3840x2160", "2160x3840",
    ]  # fmt: skip
    assert groups["2K"][3].label == "Widescreen 16:9 · 2048 × 1152"
    assert all(on_grid(w, h) for _, _, w, h in GRID_PRESETS)
    assert "auto" in get_model("gpt-image-2").sizes


def test_fixed_size_models_offer_their_list_and_nano_banana_none():
    assert [p.value for p in catalogue.size_presets("gpt-image-1")] == [
        "1024x1024",
        "1536x1024",
        "1024x1536",
    ]
    assert list(catalogue.size_preset_groups("dall-e-2")) == ["Small", "1K"]
    assert catalogue.size_presets("nano-banana") == []


@pytest.mark.parametrize(
    "size", ["auto", "1024x1024", "2048x1152", "3840x2160", "2880x2880", "816x816", "3456x1152"]
)
def test_sizes_on_the_grid_pass(size):
    assert catalogue.check_size("gpt-image-2", size) is None
    assert validate(request("gpt-image-2", size=size))


@pytest.mark.parametrize(
    ("size", "reason", "nearest"),
    [
        ("1920x1080", "multiples of 16", "1920x1088"),
        ("4096x4096", "at most 3,840", "2880x2880"),
        ("800x800", "at least 655,360 pixels", "816x816"),
        ("3840x2400", "at most 8,294,400 pixels", "3648x2272"),
        ("3840x1024", "three times", "3440x1152"),
    ],
)
def test_a_size_off_the_grid_is_refused_with_the_nearest_that_works(size, reason, nearest):
    message = catalogue.check_size("gpt-image-2", size)
    assert reason in message
    assert message.endswith(f"the nearest it can make is {nearest}.")
    assert_one_plain_sentence(message)
    assert errors_of(request("gpt-image-2", size=size)) == {"size": [message]}


def test_sizes_typed_loosely_are_answered_with_how_to_write_them():
    assert catalogue.check_size("gpt-image-2", "2048 × 1152") == (
        "Write the size as 2048x1152, without spaces or units."
    )
    assert "such as 2048x1152" in catalogue.check_size("gpt-image-2", "big")


def test_the_nearest_size_is_always_on_the_grid_and_a_valid_size_is_its_own_nearest():
    rng = random.Random(7)
    for _ in range(300):
        w, h = rng.randint(1, 9000), rng.randint(1, 9000)
        assert on_grid(*nearest_grid_size(w, h)), (w, h)
    for _, _, w, h in GRID_PRESETS:
        assert nearest_grid_size(w, h) == (w, h)


def test_fixed_list_and_sizeless_models_name_their_rule():
    assert catalogue.check_size("dall-e-2", "300x300") == (
        "DALL·E 2 takes a size of 256x256, 512x512 or 1024x1024, not “300x300”."
    )
    assert "2048x2048" in catalogue.check_size("gpt-image-1", "2048x2048")
    assert "does not take a size" in catalogue.check_size("nano-banana", "1024x1024")
    assert catalogue.check_size("nano-banana", None) is None


# -- validate(), per model, each rule both ways ------------------------------------------------


@pytest.mark.parametrize("name", TABLE)
def test_one_photo_and_the_prompt_pass_for_every_model(name):
    assert validate(request(name)).name == name


@pytest.mark.parametrize("name", TABLE)
def test_a_mask_passes_only_for_models_that_take_one(name):
    req = request(name, mask=image("mask.png"))
    if TABLE[name][1]:
        assert validate(req)
        return
    [message] = errors_of(req)["mask"]
    assert message.startswith(f"{get_model(name).label} does not take a mask; remove it")
    assert_one_plain_sentence(message)


def test_a_mask_for_gpt_image_2_points_to_its_official_twin():
    [message] = errors_of(request("gpt-image-2.5-flare", mask=image("mask.png")))["mask"]
    assert message.endswith("or choose GPT Image 2.5 Flare (official).")


@pytest.mark.parametrize("name", TABLE)
def test_photo_count_up_to_the_models_limit_passes_and_one_more_is_refused(name):
    most = TABLE[name][2]
    assert validate(request(name, images=[image(f"p{i}.png") for i in range(most)]))
    [message] = errors_of(request(name, images=[image(f"p{i}.png") for i in range(most + 1)]))[
        "images"
    ]
    assert_one_plain_sentence(message)
    if most == 1:
        assert "exactly one image" in message and "keep one" in message


@pytest.mark.parametrize("name", [n for n in TABLE if "n" in get_model(n).options])
def test_n_up_to_the_models_limit_passes_and_above_is_refused(name):
    max_n = get_model(name).max_n
    assert validate(request(name, n=max_n))
    assert errors_of(request(name, n=max_n + 1)) == {
        "n": [f"Ask for between 1 and {max_n} results."]
    }


@pytest.mark.parametrize("name", ["nano-banana", "nano-banana-2", "nano-banana-pro"])
@pytest.mark.parametrize(
    ("option", "value"),
    [("n", 2), ("size", "1024x1024"), ("response_format", "url"), ("quality", "high")],
)
def test_nano_banana_refuses_every_setting_naming_the_fix(name, option, value):
    [message] = errors_of(request(name, **{option: value}))[option]
    assert message.endswith("leave it out or choose another model.")
    assert_one_plain_sentence(message)


def test_gpt_image_1_mini_takes_no_input_fidelity():
    assert validate(request("gpt-image-1", input_fidelity="high"))
    assert "input_fidelity" in errors_of(request("gpt-image-1-mini", input_fidelity="high"))


def test_the_gpt_image_2_family_refuses_base64_for_several_results():
    assert validate(request("gpt-image-2", n=1, response_format="b64_json"))
    assert validate(request("gpt-image-2", n=4, response_format="url"))
    [message] = errors_of(request("gpt-image-2", n=4, response_format="b64_json"))[
        "response_format"
    ]
    assert "only as links" in message
    assert validate(request("gpt-image-1", n=4, response_format="b64_json"))


def test_an_unknown_model_is_refused_in_one_sentence():
    [message] = errors_of(request("gpt-9000"))["model"]
    assert message.startswith("Retouch does not know the model “gpt-9000”; choose one of:")
    assert_one_plain_sentence(message.split(": ")[0] + ".")


# -- what goes into the request --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "service", "n", "preferred", "sent"),
    [
        ("gpt-image-1", "gateway", 1, None, None),
        ("gpt-image-1", "gateway", 3, None, "url"),
        ("gpt-image-1", "gateway", 3, "b64_json", "url"),
        ("gpt-image-1", "gateway", 1, "url", "url"),
        ("gpt-image-1", "openai", 3, "url", None),
        ("gpt-image-1.5", "openai", 1, None, None),
        ("gpt-image-2", "gateway", 1, "b64_json", "b64_json"),
        ("gpt-image-2", "gateway", 2, None, "url"),
        ("gpt-image-2", "unknown", 2, None, "url"),
        ("nano-banana", "gateway", 1, "b64_json", None),
        ("nano-banana-pro", "unknown", 1, "url", None),
        ("dall-e-2", "openai", 1, "b64_json", "b64_json"),
        ("dall-e-2", "openai", 3, None, None),
        ("gpt-image-1", "unknown", None, None, None),
    ],
)
def test_the_response_format_follows_service_model_and_n(name, service, n, preferred, sent):
    assert catalogue.response_format_for(name, service, n, preferred) == sent


# -- a deployment's own models ---------------------------------------------------------------


def test_extra_models_from_json_copy_an_entry_and_become_usable(restore_models):
    raw = json.dumps(
        [
            {"like": "gpt-image-2", "name": "gpt-image-3", "label": "GPT Image 3",
             "tagline": "Newest", "description": "The newest model.", "max_n": 4},
            {"like": "dall-e-2", "name": "dall-e-2", "services": ["openai", "gateway"]},
        ]
    )  # fmt: skip
    extra = load_extra_models(raw)
    assert [m.name for m in extra] == ["gpt-image-3", "dall-e-2"]
    assert catalogue.parse_model_names("gpt-image-3", extra) == ("gpt-image-3",)
    assert catalogue.add_models(extra) == ["gpt-image-3", "dall-e-2"]
    assert get_model("gpt-image-3").size_on_grid
    assert "dall-e-2" in [m.name for m in catalogue.offered_models("gateway")]
    assert validate(request("gpt-image-3", n=4, size="2048x1152"))
    assert errors_of(request("gpt-image-3", n=5))["n"] == ["Ask for between 1 and 4 results."]


def test_extra_models_from_a_file_with_defaults_for_the_rest(tmp_path):
    path = tmp_path / "models.json"
    path.write_text(
        json.dumps(
            {"name": "acme-image", "label": "Acme Image", "services": ["gateway"],
             "options": ["n", "size"], "size_rule": "grid", "billing": "per_image"}
        )
    )  # fmt: skip
    [model] = load_extra_models(str(path))
    assert model.sizes[0] == "auto" and model.default_size == "auto"
    assert model.takes_mask and model.max_images == 16
    assert load_extra_models("") == () and load_extra_models(None) == ()


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("{not json", "not valid JSON"),
        ("/nowhere/models.json", "neither JSON nor a JSON file"),
        ('[{"name": "x"}]', "needs label"),
        ('[{"like": "gpt-9", "name": "x", "label": "X"}]', "a model Retouch does not know"),
        ('[{"name": "x", "label": "X", "colour": "red"}]', "fields Retouch does not know: colour"),
        ('[{"name": "x", "label": "X", "max_n": "4"}]', "'max_n' must be a whole number"),
        ('[{"name": "x", "label": "X", "services": "gateway"}]', "must be a list of texts"),
        ('[{"name": "x", "label": "X", "services": ["azure"]}]', "'services' must name"),
        ('[{"name": "x", "label": "X", "options": ["stream"]}]', "'options' may only name"),
        ('[{"like": "gpt-image-1", "name": "x", "label": "X", "max_n": 20}]', "'max_n'"),
        ('[{"like": "gpt-image-1", "name": "x"}, {"like": "gpt-image-1", "name": "x"}]', "twice"),
        ("[3]", "must be a JSON object"),
    ],
)
def test_a_broken_extra_model_stops_start_up_with_a_sentence(raw, words):
    with pytest.raises(ValueError) as info:
        load_extra_models(raw)
    assert words in str(info.value)
    assert "RETOUCH_EXTRA_MODELS" in str(info.value)
