from __future__ import annotations

import numpy as np
import pytest

import math

from geosleuth.config import config_names, cue_section, default_config, load_config, parse_set, range_of
from geosleuth.cues import BaseCue, CueOutput, create_cue, list_cues, register_cue
from geosleuth.cues.engines import Engines
from geosleuth.cues.clues.expert import ExpertCue
from geosleuth.cues.registry import unregister_cue
from geosleuth.errors import ConfigError

BUILTIN_CUES = ("exif", "text", "detect", "visual", "scene")


@pytest.fixture
def toy_cue():
    @register_cue("toy")
    class ToyCue(BaseCue):
        def __init__(self, country: str = "FR", strength: float = 1.0):
            self.country, self.strength = country, strength

        def observe(self, photo, grid):
            values = np.array([1.0 if c == self.country else 0.0 for c in grid.countries])
            return CueOutput(np.log(np.maximum(grid.cells_from_countries(values), 1e-12)))

    yield ToyCue
    unregister_cue("toy")


def test_defaults_and_named_configs():
    cfg = load_config()
    assert cfg["output"]["top_k"] == 5 and cfg["grid"] == "default"
    assert {"default", "prior-only"} <= set(config_names())
    assert not any(c.get("enabled", True) for c in load_config("prior-only")["cues"].values())
    assert load_config()["cues"]["exif"]["enabled"] is True


def test_overrides_sets_and_paths(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("output:\n  top_k: 7\n")
    cfg = load_config(path, overrides={"image": {"max_side": 1024}}, sets=["output.credible_mass=0.5"])
    assert cfg["output"] == {"decision": "expected_geoscore", "top_k": 7, "min_separation_km": 50,
                             "credible_mass": 0.5} and cfg["image"]["max_side"] == 1024
    assert parse_set("a.b.c=3") == {"a": {"b": {"c": 3}}}
    assert parse_set("x=hello") == {"x": "hello"}


@pytest.mark.parametrize("layer,message", [
    ({"outptu": {}}, "did you mean 'output'"),
    ({"output": {"topk": 3}}, "did you mean 'top_k'"),
    ({"output": {"top_k": "many"}}, "expects int"),
    ({"output": {"top_k": 0}}, r"output.top_k must be in \[1, 1000\], got 0"),
    ({"output": {"credible_mass": 1.5}}, "credible_mass"),
    ({"output": 3}, "must be a mapping"),
    ({"prior": {"kind": "flat"}}, "prior.kind"),
    ({"cues": {"exfi": {}}}, "unknown cue 'exfi'"),
])
def test_bad_configs_fail_clearly(layer, message):
    with pytest.raises(ConfigError, match=message):
        load_config(layer)


def test_bad_files_and_names(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'prior-only'"):
        load_config("prior-onyl")
    bad = tmp_path / "bad.yaml"
    bad.write_text("output: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_config(bad)
    with pytest.raises(ConfigError, match="key=value"):
        load_config(sets=["novalue"])
    assert issubclass(ConfigError, ValueError)


def test_cue_sections_are_checked_against_the_constructor(toy_cue):
    """A plugin cue's section holds enabled, weight 1, floor 1e-3 and its constructor's defaults."""
    assert cue_section("toy") == {"enabled": True, "weight": 1.0, "floor": 1e-3, "country": "FR", "strength": 1.0}
    cfg = load_config({"cues": {"toy": {"weight": 2, "country": "JP"}}})
    assert cfg["cues"]["toy"] == {"enabled": True, "weight": 2.0, "floor": 1e-3, "country": "JP", "strength": 1.0}
    assert load_config({"cues": {"toy": False}})["cues"]["toy"] == {"enabled": False, "weight": 1.0, "floor": 1e-3,
                                                                    "country": "FR", "strength": 1.0}
    with pytest.raises(ConfigError, match="did you mean 'country'"):
        load_config({"cues": {"toy": {"contry": "JP"}}})
    with pytest.raises(ConfigError, match="floor must be in"):
        load_config({"cues": {"toy": {"floor": 0}}})
    with pytest.raises(ConfigError, match="expects float"):
        load_config({"cues": {"toy": {"strength": "high"}}})


def test_registry(toy_cue):
    assert "toy" in list_cues() and set(BUILTIN_CUES) <= set(list_cues())
    cue = create_cue("toy", country="JP")
    assert cue.name == "toy" and cue.country == "JP" and cue.strength == 1.0 and cue.available()[0]
    assert (cue.weight, cue.floor) == (1.0, 1e-3)  # from its section, though its constructor does not take them
    assert create_cue("toy", weight=0.5).weight == 0.5
    with pytest.raises(ConfigError, match="did you mean 'toy'"):
        create_cue("tyo")
    with pytest.raises(ConfigError, match="did you mean 'country'"):
        create_cue("toy", countyr="JP")


def test_plugin_cue_runs_from_the_config(toy_cue):
    from geosleuth import Geolocator, example_image

    geo = Geolocator.from_config("prior-only", cues={"toy": {"enabled": True, "country": "JP", "weight": 2}})
    [cue] = geo.cues
    assert isinstance(cue, toy_cue) and cue.country == "JP" and geo.cue_settings == {"toy": (2.0, 1e-3)}
    pred = geo.locate(example_image())
    assert pred.cues["toy"].status == "ok" and pred.best.country == "JP"


def test_unregistered_plugin_leaves_the_schema(toy_cue):
    unregister_cue("toy")
    assert "toy" not in list_cues() and "toy" not in default_config()["cues"]
    with pytest.raises(ConfigError, match="unknown cue 'toy'"):
        load_config({"cues": {"toy": {"country": "JP"}}})


# ---- one source of truth: the YAML's settings and ranges --------------------------------------
def _settings(cue):
    """A cue's own settings (what is not a shared engine), by attribute."""
    return {k: v for k, v in vars(cue).items() if k not in Engines.names()}


@pytest.mark.parametrize("name", BUILTIN_CUES)
def test_create_cue_matches_the_pipeline_s_cue(name):
    """create_cue(name) and the Geolocator built from the default config give the same cue: its
    weight, floor and settings all come from the YAML section."""
    from geosleuth import Geolocator

    geo = Geolocator.from_config("default", cues={name: True})
    built = {cue.name: cue for cue in geo.cues}[name]
    alone = create_cue(name)
    section = cue_section(name)
    assert type(alone) is type(built) and alone.name == built.name == name
    assert (alone.weight, alone.floor) == (built.weight, built.floor)
    # An expert's floor is the least share of its answer taken as unrelated, inside its likelihood.
    floor = alone.settings.floor if isinstance(alone, ExpertCue) else alone.floor
    assert (alone.weight, floor) == (section["weight"], section["floor"])
    assert _settings(alone) == _settings(built)
    for key, value in section.items():
        if key != "enabled" and hasattr(alone, key):
            assert getattr(alone, key) == value, key
    # Their engines are configured alike (though built separately): same readers, detector, image model.
    for engine in Engines.names():
        if hasattr(alone, engine):
            mine, theirs = getattr(alone, engine), getattr(built, engine)
            assert getattr(geo.engines, engine) is theirs
            parts = (lambda e: [vars(r) for r in e.readers]) if engine == "ocr" else vars
            assert parts(mine) == parts(theirs)


def test_pipeline_builds_each_engine_once_for_every_cue():
    from geosleuth import Geolocator

    geo = Geolocator.from_config("default", cues={"detect": True})
    cues = {cue.name: cue for cue in geo.cues}
    assert set(cues) == set(BUILTIN_CUES)
    assert cues["text"].ocr is cues["detect"].ocr is geo.engines.ocr
    assert cues["detect"].detector is geo.engines.detector
    assert cues["visual"].features is cues["scene"].features is geo.engines.features


def test_settings_follow_overrides_and_engine_sections():
    from geosleuth import Geolocator

    geo = Geolocator.from_config("default", sets=["cues.text.max_places=3", "ocr.canvas_size=960",
                                                  "features.image_size=256", "detector.conf=0.4"],
                                 cues={"detect": True})
    cues = {cue.name: cue for cue in geo.cues}
    assert cues["text"].max_places == 3 and create_cue("text").max_places == cue_section("text")["max_places"]
    easyocr = next(r for r in cues["text"].ocr.readers if r.__class__.__name__ == "EasyOcrBackend")
    assert easyocr.canvas_size == 960
    assert cues["visual"].features.image_size == 256 and cues["detect"].detector.conf == 0.4


def _numeric_leaves(node, where=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _numeric_leaves(value, f"{where}{key}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield f"{where}{key}", value


def test_every_number_of_the_default_config_has_a_range():
    leaves = dict(_numeric_leaves(default_config()))
    assert {"prior.smoothing", "ocr.canvas_size", "features.image_size", "cues.text.weight"} <= set(leaves)
    missing = [path for path in leaves if range_of(path) is None]
    assert missing == []
    for path, value in leaves.items():
        low, high = range_of(path)
        assert low <= value <= high, path  # the defaults are valid


@pytest.mark.parametrize("item,message", [
    ("features.image_size=100000", r"features.image_size must be in \[32, 1024\], got 100000"),
    ("features.image_size=-5", r"features.image_size must be in \[32, 1024\], got -5"),
    ("cues.text.weight=inf", r"cues.text.weight must be in \[0, 100\], got inf"),
    ("prior.smoothing=.inf", r"prior.smoothing must be in \[1e-06, 1e\+06\], got inf"),
    ("cues.exif.floor=.nan", r"cues.exif.floor must be in .*, got nan"),
    ("ocr.min_confidence=1.5", r"ocr.min_confidence must be in \[0, 1\], got 1.5"),
    ("cues.text.weight=-1", r"cues.text.weight must be in \[0, 100\], got -1"),
    ("detector.imgsz=0", r"detector.imgsz must be in \[32, 4096\], got 0"),
    ("features.image_size=224.5", "expects int"),
])
def test_out_of_range_values_fail_before_any_model_loads(monkeypatch, item, message):
    from geosleuth import Geolocator

    def no_engines(cls, config):
        raise AssertionError("engines were built from an invalid config")

    monkeypatch.setattr(Engines, "from_config", classmethod(no_engines))
    with pytest.raises(ConfigError, match=message):
        load_config(sets=[item])
    with pytest.raises(ConfigError, match=message):
        Geolocator.from_config("default", sets=[item])
    with pytest.raises(ConfigError, match=message):
        Geolocator(parse_set(item))  # the same value in a config mapping


def test_non_finite_numbers_fail_even_without_a_range():
    with pytest.raises(ConfigError, match="got inf"):
        load_config({"cues": {"text": {"weight": math.inf}}})
    with pytest.raises(ConfigError, match="got nan"):
        load_config(overrides={"prior": {"smoothing": math.nan}})


def test_float_keys_accept_exponents_written_as_strings(tmp_path):
    """YAML 1.1 reads '1e-6' (no dot) as a string; a float key takes it as the number."""
    assert load_config(sets=["cues.exif.floor=1e-6"])["cues"]["exif"]["floor"] == 1e-6
    assert load_config({"prior": {"smoothing": "1e-6"}})["prior"]["smoothing"] == 1e-6
    path = tmp_path / "tiny.yaml"
    path.write_text("cues:\n  text:\n    floor: 1e-6\n")
    assert load_config(path)["cues"]["text"]["floor"] == 1e-6
    with pytest.raises(ConfigError, match="expects float"):
        load_config(sets=["cues.exif.floor=tiny"])
    with pytest.raises(ConfigError, match="must be in"):
        load_config(sets=["cues.exif.floor=1e-20"])
