from __future__ import annotations

import numpy as np
import pytest

from geosleuth.config import config_names, load_config, parse_set
from geosleuth.cues import BaseCue, CueOutput, create_cue, list_cues, register_cue
from geosleuth.cues.registry import unregister_cue
from geosleuth.errors import ConfigError


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
    assert cfg["output"] == {"top_k": 7, "credible_mass": 0.5} and cfg["image"]["max_side"] == 1024
    assert parse_set("a.b.c=3") == {"a": {"b": {"c": 3}}}
    assert parse_set("x=hello") == {"x": "hello"}


@pytest.mark.parametrize("layer,message", [
    ({"outptu": {}}, "did you mean 'output'"),
    ({"output": {"topk": 3}}, "did you mean 'top_k'"),
    ({"output": {"top_k": "many"}}, "expects int"),
    ({"output": {"top_k": 0}}, "top_k must be >= 1"),
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
    cfg = load_config({"cues": {"toy": {"weight": 2, "country": "JP"}}})
    assert cfg["cues"]["toy"] == {"weight": 2.0, "country": "JP"}
    assert load_config({"cues": {"toy": False}})["cues"]["toy"] == {"enabled": False}
    with pytest.raises(ConfigError, match="did you mean 'country'"):
        load_config({"cues": {"toy": {"contry": "JP"}}})
    with pytest.raises(ConfigError, match="floor must be in"):
        load_config({"cues": {"toy": {"floor": 0}}})
    with pytest.raises(ConfigError, match="expects float"):
        load_config({"cues": {"toy": {"strength": "high"}}})


def test_registry(toy_cue):
    assert "toy" in list_cues()
    cue = create_cue("toy", country="JP")
    assert cue.name == "toy" and cue.country == "JP" and cue.available()[0]
    with pytest.raises(ConfigError, match="did you mean 'toy'"):
        create_cue("tyo")
    with pytest.raises(ConfigError, match="did you mean 'country'"):
        create_cue("toy", countyr="JP")
