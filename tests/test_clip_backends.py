"""The strong visual backends (GeoCLIP, CLIP zero-shot) on tiny CLIP models built from a
`transformers` config: the real geoclip location encoder and gallery, the real loading code,
no downloads. Real checkpoints are tested only when their folders are named in the environment."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import geosleuth
from geosleuth.api import Geolocator
from geosleuth.app.cli import main
from geosleuth.errors import ConfigError
from geosleuth.cues.visual import ZeroShotClasses, gallery_log_likelihood

pytest.importorskip("transformers")


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    from geosleuth.cues.engines.clip import write_random_checkpoint

    return write_random_checkpoint(tmp_path_factory.mktemp("tiny_clip"))


def only_visual(config: str, **sets: str) -> Geolocator:
    off = [f"cues.{name}.enabled=false" for name in ("exif", "text", "detect", "scene")]
    return Geolocator.from_config(config, sets=off + [f"{k}={v}" for k, v in sets.items()])


@pytest.fixture(scope="session")
def geoclip_geo(tiny_clip) -> Geolocator:
    pytest.importorskip("geoclip")
    return only_visual("geoclip", **{"geoclip.model": str(tiny_clip)})


def test_gallery_likelihood_by_hand():
    """Four gallery points in cells 0, 0, 1, 2 of four: L(c) = (G q(c) + 1) / (n(c) + 1)."""
    ll = gallery_log_likelihood(np.array([0.4, 0.2, 0.3, 0.1]), np.array([0, 0, 1, 2]), 4)
    assert np.allclose(np.exp(ll), [(4 * 0.6 + 1) / 3, (4 * 0.3 + 1) / 2, (4 * 0.1 + 1) / 2, 1.0])
    # A photo that tells the model nothing: every point 1/G, so no cell moves (the gallery's
    # density is the model's prior, and it is divided out).
    flat = gallery_log_likelihood(np.full(4, 0.25), np.array([0, 0, 1, 2]), 4)
    assert np.allclose(flat, 0.0)


@pytest.mark.slow
def test_geoclip_whole_path(geoclip_geo, jpeg_bytes):
    """Photo -> GeoCLIP gallery probabilities -> cell likelihood -> fusion -> a Prediction."""
    pred = geoclip_geo.locate(jpeg_bytes((400, 300), (90, 140, 60)))
    visual = pred.cues["visual"]
    assert visual.status == "ok" and visual.bits > 0
    said = " ".join(e.summary for e in visual.evidence)
    assert "GeoCLIP on" in said and str(geoclip_geo.engines.geoclip.model) in said and "best gallery point" in said
    p = geoclip_geo.engines.geoclip.probabilities([geoclip_geo.open(jpeg_bytes((400, 300), (90, 140, 60)))])[0]
    assert p.shape == (100_000,) and np.isclose(p.sum(), 1.0, atol=1e-4) and np.all(p >= 0)
    assert np.isfinite(pred.posterior).all() and np.isclose(pred.posterior.sum(), 1.0)
    json.loads(pred.to_json())  # the report serialises


@pytest.mark.slow
def test_geoclip_counts_the_prior_once(geoclip_geo, jpeg_bytes, monkeypatch, grid):
    """At logit scale 0 GeoCLIP says every gallery point is equally likely: the cue must leave
    the posterior exactly at the prior (its gallery density divided out)."""
    engine = geoclip_geo.engines.geoclip
    blind = replace(engine.loaded(), logit_scale=0.0)
    monkeypatch.setattr(type(engine), "loaded", lambda self: blind)
    pred = geoclip_geo.locate(jpeg_bytes((320, 240), (10, 10, 10)))
    prior = np.exp(geoclip_geo.log_prior())
    assert pred.cues["visual"].status == "ok"
    assert np.allclose(pred.posterior, prior, rtol=1e-6, atol=0)  # float32 softmax


@pytest.mark.slow
def test_geoclip_points_refine_inside_their_cells(geoclip_geo, jpeg_bytes, grid):
    out = geoclip_geo.cues[0].observe(geoclip_geo.open(jpeg_bytes((320, 240), (200, 30, 30))), grid)
    assert out.points and all(p.sigma_km > 1 for p in out.points)  # never an "exact" fix
    model = geoclip_geo.engines.geoclip.loaded()
    gallery = {(round(a, 4), round(b, 4)) for a, b in model.gallery}
    assert all((round(p.lat, 4), round(p.lon, 4)) in gallery for p in out.points)


@pytest.mark.slow
def test_batches_run_the_model_once(geoclip_geo, jpeg_bytes, monkeypatch):
    engine = geoclip_geo.engines.geoclip
    loaded = engine.loaded()
    calls = []
    real = type(loaded).probabilities

    def counted(self, images):
        calls.append(len(images))
        return real(self, images)

    monkeypatch.setattr(type(loaded), "probabilities", counted)
    photos = [jpeg_bytes((300, 200), (k * 40, 90, 120)) for k in range(3)] + [b"not an image"]
    items = list(geoclip_geo.locate_many(photos))
    assert [item.ok for item in items] == [True, True, True, False]
    assert calls == [3]  # one forward pass for the batch, none again per photo


@pytest.fixture(scope="session")
def zero_shot_geo(tiny_clip) -> Geolocator:
    return only_visual("clip-zero-shot", **{"zero_shot.model": str(tiny_clip)})


@pytest.mark.slow
def test_zero_shot_whole_path(zero_shot_geo, jpeg_bytes, grid):
    pred = zero_shot_geo.locate(jpeg_bytes((400, 300), (180, 170, 150)))
    visual = pred.cues["visual"]
    assert visual.status == "ok"
    line = next(e.summary for e in visual.evidence if e.kind == "zero_shot")
    assert line.startswith(f"CLIP zero-shot on {zero_shot_geo.engines.zero_shot.model}: ") and line.count("%") == 3
    assert np.isfinite(pred.posterior).all() and np.isclose(pred.posterior.sum(), 1.0)


def test_zero_shot_classes_and_the_uniform_prior(zero_shot_geo, grid):
    classes = ZeroShotClasses.of(grid, zero_shot_geo.engines.zero_shot.templates)
    assert len(classes.country_prompts) == len(grid.countries)
    assert any("France" in p for p in classes.country_prompts[grid.countries.index("FR")])
    assert len(classes.regions) > 100 and (classes.cell_region >= 0).mean() > 0.9
    paris = grid.lookup([48.8566], [2.3522])[0]
    assert "Ile-de-France" in classes.regions[classes.cell_region[paris]]
    # Uniform over countries and over regions: nothing moves.
    k, r = len(grid.countries), len(classes.regions)
    assert np.allclose(classes.log_likelihood(grid, np.full(k, 1 / k), np.full(r, 1 / r)), 0.0)
    # All of a country's mass on one region: that region's cells gain R_k, the others lose everything.
    p_country = np.full(k, 1 / k)
    p_region = np.where(np.arange(r) == classes.cell_region[paris], 1.0, 0.0)
    ll = classes.log_likelihood(grid, p_country, p_region)
    fr_regions = (classes.region_country == grid.countries.index("FR")).sum()
    assert np.isclose(ll[paris], np.log(fr_regions))


@pytest.mark.slow
def test_missing_weights_are_named_without_network(monkeypatch, capsys):
    """An uncached Hub id the user named: exit 2 with the command that fetches it, no connection."""
    def no_network(*args, **kwargs):
        raise AssertionError("geosleuth tried to reach the network")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    for config, section in (("geoclip", "geoclip"), ("clip-zero-shot", "zero_shot")):
        code = main(["locate", geosleuth.example_image(), "--config", config, "--json",
                     "--set", f"{section}.model=nobody/no-such-clip"])
        out, err = capsys.readouterr()
        assert code == 2 and out == "" and f"{section}.model=nobody/no-such-clip" in err
        assert "hf download nobody/no-such-clip" in err and f"{section}.allow_download" in err
        geo = Geolocator.from_config(config, sets=[f"{section}.model=nobody/no-such-clip"], check_models=False)
        visual = geo.locate(geosleuth.example_image()).cues["visual"]  # as when a default model is missing
        assert visual.status == "abstained" and "hf download nobody/no-such-clip" in visual.note


@pytest.mark.slow
def test_missing_local_folder_and_bad_backend(tmp_path, capsys):
    with pytest.raises(ConfigError, match="no CLIP checkpoint"):
        only_visual("geoclip", **{"geoclip.model": str(tmp_path / "nothing")})
    geo = Geolocator.from_config("geoclip", sets=[f"geoclip.model={tmp_path / 'nothing'}"], check_models=False)
    pred = geo.locate(geosleuth.example_image())
    assert pred.cues["visual"].status == "abstained" and "no CLIP checkpoint" in pred.cues["visual"].note
    code = main(["locate", "--set", "cues.visual.backend=geoclp"])
    assert code == 2 and "did you mean 'geoclip'" in capsys.readouterr().err


def test_cues_command_lists_the_backends(capsys):
    code = main(["cues", "--set", "geoclip.model=nobody/no-such-clip"])
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert code == 0 and "hf download nobody/no-such-clip" in lines["geoclip"]
    assert lines["zero_shot"].split()[1] in ("present", "missing") and "(used by visual)" in lines["zero_shot"]
    assert "heads backend" in lines["visual"]


# Real checkpoints, when a folder is named: GEOSLEUTH_CLIP_VIT_L14 (openai/clip-vit-large-patch14)
# and GEOSLEUTH_STREETCLIP (geolocal/StreetCLIP). The photo is the Kauai coast the geoclip wheel ships.
@pytest.mark.parametrize("config,section,variable", [("geoclip", "geoclip", "GEOSLEUTH_CLIP_VIT_L14"),
                                                     ("clip-zero-shot", "zero_shot", "GEOSLEUTH_STREETCLIP")])
def test_real_checkpoint_places_a_landmark(config, section, variable):
    folder = os.environ.get(variable)
    if not folder:
        pytest.skip(f"set {variable} to a local checkpoint folder to run this")
    geoclip = pytest.importorskip("geoclip")
    kauai = Path(geoclip.__file__).parent / "images" / "Kauai.png"
    pred = only_visual(config, **{f"{section}.model": folder}).locate(str(kauai))
    assert pred.cues["visual"].status == "ok" and max(pred.countries, key=pred.countries.get) == "US"


def test_download_only_when_allowed(tiny_clip, monkeypatch):
    """allow_download fetches only the files a CLIP checkpoint needs, through the Hub client."""
    import huggingface_hub

    from geosleuth.cues.engines.clip import HUB_FILES, checkpoint_folder, pick_device

    calls = []

    def fake_snapshot(repo_id, *, allow_patterns, local_files_only=False, **kwargs):
        calls.append((repo_id, tuple(allow_patterns), local_files_only))
        if local_files_only:
            raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")
        return str(tiny_clip)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    with pytest.raises(geosleuth.WeightsNotFoundError, match="hf download owner/clip"):
        checkpoint_folder("owner/clip", allow_download=False, setting="geoclip.model")
    assert calls == [("owner/clip", HUB_FILES, True)]
    assert checkpoint_folder("owner/clip", allow_download=True, setting="geoclip.model") == tiny_clip
    assert calls[-1] == ("owner/clip", HUB_FILES, False)
    assert pick_device("auto") in ("cpu", "cuda", "mps") and pick_device("cpu") == "cpu"
    with pytest.raises(geosleuth.GeosleuthError, match="cannot be used here"):
        pick_device("nosuchdevice")
