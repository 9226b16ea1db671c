from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import geosleuth
from geosleuth import CueOutput, Evidence, Geolocator, ImageError
from geosleuth.cues import BaseCue


class ToyCue(BaseCue):
    """A cue of these tests: the weight and floor a plugin cue gets by default."""

    def __init__(self, *, weight: float = 1.0, floor: float = 1e-3):
        super().__init__(weight=weight, floor=floor)


class CountryCue(ToyCue):
    """A test cue that believes the photo is in one country (what a text cue might say)."""

    name = "country"

    def __init__(self, country: str):
        super().__init__()
        self.country = country

    def observe(self, photo, grid):
        values = np.array([1.0 if c == self.country else 0.0 for c in grid.countries])
        ev = Evidence("test", f"looks like {self.country}", 0.9, box=(1, 2, 3, 4), details={"cc": self.country})
        return CueOutput(np.log(np.maximum(grid.cells_from_countries(values), 1e-12)), (ev,))


class PointCue(ToyCue):
    name = "point"

    def __init__(self, lat: float, lon: float):
        super().__init__(floor=1e-9)  # as sharp as a GPS fix
        self.lat, self.lon = lat, lon

    def observe(self, photo, grid):
        ll = np.full(len(grid), -50.0)
        ll[grid.lookup([self.lat], [self.lon])[0]] = 0.0
        return CueOutput(ll)


class BrokenCue(ToyCue):
    name = "broken"

    def observe(self, photo, grid):
        raise RuntimeError("model exploded")


class WrongShapeCue(ToyCue):
    name = "wrongshape"

    def observe(self, photo, grid):
        return CueOutput(np.zeros(3))


class QuietCue(ToyCue):
    name = "quiet"

    def observe(self, photo, grid):
        return CueOutput.abstain("no text found")


@pytest.fixture(scope="module")
def prior_only():
    return Geolocator.from_config("prior-only")


def test_prior_only_round_trip(prior_only):
    pred = prior_only.locate(geosleuth.example_image())
    d = pred.to_dict()
    assert d["schema"] == "geosleuth.prediction/2"
    assert {"answer", "confidence", "top_k", "countries", "cues", "credible_region"} <= set(d)
    assert len(d["top_k"]) == 5 and all({"lat", "lon", "probability", "country"} <= set(c) for c in d["top_k"])
    probs = [c["probability"] for c in d["top_k"]]
    assert probs == sorted(probs, reverse=True)
    assert sum(d["countries"].values()) == pytest.approx(1.0, abs=1e-3)
    assert d["cues"] == {}
    assert json.loads(pred.to_json()) == json.loads(json.dumps(d))
    assert pred.posterior.sum() == pytest.approx(1.0) and not pred.posterior.flags.writeable
    region = d["credible_region"]
    assert region["cells"] == len(region["tokens"]) and region["area_km2"] > 0
    mass = sum(pred.posterior[np.isin(pred.grid.tokens, region["tokens"])])
    assert mass >= 0.9
    assert "photo-density prior alone" in pred.explain()


@pytest.mark.parametrize("kind", ["path", "bytes", "pil", "array"])
def test_every_input_kind(prior_only, kind):
    path = geosleuth.example_image()
    data = Path(path).read_bytes()
    src = {"path": path, "bytes": data, "pil": Image.open(io.BytesIO(data)),
           "array": np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))}[kind]
    pred = prior_only.locate(src)
    assert pred.image_size == (1280, 854)


def test_cue_moves_the_answer_and_is_explained():
    geo = Geolocator(cues=[CountryCue("JP"), QuietCue(), BrokenCue(), WrongShapeCue()])
    pred = geo.locate(geosleuth.example_image())
    assert pred.best.country == "JP" and pred.countries["JP"] > 0.9
    d = pred.to_dict()
    assert d["cues"] == {"country": "ok", "quiet": "abstained", "broken": "failed", "wrongshape": "failed"}
    rep = d["cue_reports"]["country"]
    assert rep["favoured_country"] == "JP" and rep["bits"] > 1 and rep["country_shift"] > 0.8
    assert rep["top_without"]["country"] != "JP" and rep["moved_km"] > 1000
    assert rep["evidence"][0]["box"] == [1, 2, 3, 4] and rep["evidence"][0]["details"] == {"cc": "JP"}
    assert "model exploded" in d["cue_reports"]["broken"]["note"]
    assert "shape" in d["cue_reports"]["wrongshape"]["note"]
    text = pred.explain()
    assert "favoured JP" in text and "no text found" in text and "looks like JP" in text


def test_sharp_cue_pins_the_location():
    pred = Geolocator(cues=[PointCue(-33.87, 151.21)]).locate(geosleuth.example_image())
    assert pred.best.country == "AU" and pred.best.probability > 0.99
    assert len(pred.region.cells) == 1


def test_agreeing_cues_compound():
    one = Geolocator(cues=[CountryCue("FR")]).locate(geosleuth.example_image())
    assert one.best.country == "FR"
    geo = Geolocator(cues=[CountryCue("FR"), PointCue(43.7, 7.27)])
    pred = geo.locate(geosleuth.example_image())
    assert pred.best.place.endswith("FR") and abs(pred.best.lat - 43.7) < 0.5


def test_geojson(prior_only):
    pred = Geolocator(cues=[PointCue(48.8566, 2.3522)]).locate(geosleuth.example_image())
    gj = pred.to_geojson()
    kinds = [f["properties"]["kind"] for f in gj["features"]]
    cells = [f for f in gj["features"] if f["properties"]["kind"] == "cell"]
    assert kinds[0] == "answer" and kinds.count("candidate") == 5 and len(cells) == len(pred.region.cells)
    lon, lat = gj["features"][1]["geometry"]["coordinates"]
    assert abs(lat - 48.86) < 0.1 and abs(lon - 2.35) < 0.1
    assert gj["features"][1]["properties"]["rank"] == 1 and gj["features"][1]["properties"]["radius_km"] > 0
    for f in cells:  # a heatmap layer: probability, density and a closed ring per cell
        props, ring = f["properties"], f["geometry"]["coordinates"][0]
        assert props["density_per_km2"] == pytest.approx(props["probability"] / props["area_km2"], rel=1e-2)
        assert ring[0] == ring[-1] and f["geometry"]["type"] == "Polygon"
    assert sum(f["properties"]["probability"] for f in cells) >= pred.region.mass - 1e-3
    assert gj["properties"]["credible_region"]["cells"] == len(cells)


def test_locate_many_streams_and_reports_bad_files(prior_only, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    good = geosleuth.example_image()
    items = list(prior_only.locate_many([good, str(bad), tmp_path / "missing.png", good], workers=2))
    assert [i.ok for i in items] == [True, False, False, True]
    assert "broken.jpg" in items[1].error and "no such file" in items[2].error
    assert items[0].prediction.best == items[3].prediction.best


def test_photos_are_decoded_together_only_for_a_cue_that_batches():
    """A batch decodes `batch.size` photos at once only when a cue runs a model on all of them
    (the visual cue above weight 0); else one at a time, holding one working copy."""
    from geosleuth.pipeline import decoded_together

    muted = Geolocator.from_config("default", check_models=False)
    assert decoded_together(muted.cues, 8) == 1 and decoded_together(muted.cues, 8, workers=3) == 3
    heard = Geolocator.from_config("default", sets=["cues.visual.weight=1.0"], check_models=False)
    assert decoded_together(heard.cues, 8) == 8


def test_freed_memory_is_handed_back_where_the_c_library_can():
    import platform

    from geosleuth.memory import release_memory

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim is glibc's")

    def resident_mib() -> float:
        status = Path("/proc/self/status").read_text().splitlines()
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

    first = np.ones(4 << 17)  # 4 MiB: once one is freed, glibc takes the next from its heap
    del first
    block = np.ones(4 << 17)
    pinned = np.ones(64)  # allocated after it, so that the heap cannot shrink from its top
    del block
    kept = resident_mib()
    release_memory()
    assert kept - resident_mib() > 3.5
    del pinned


@pytest.mark.slow
def test_one_off_locate_and_errors():
    assert geosleuth.locate(geosleuth.example_image(), "prior-only").best.probability > 0
    with pytest.raises(ImageError):
        geosleuth.locate(b"")
    with pytest.raises(geosleuth.ConfigError):
        geosleuth.locate(geosleuth.example_image(), "default", outptu={"top_k": 2})
    img = io.BytesIO()
    Image.new("RGB", (64, 64)).save(img, "PNG")
    assert len(geosleuth.locate(img.getvalue(), "default", output={"top_k": 2}).top_k) == 2


def test_prediction_is_immutable(prior_only):
    pred = prior_only.locate(geosleuth.example_image())
    with pytest.raises(AttributeError):
        pred.top_k = ()
    with pytest.raises(TypeError):
        pred.timings["total"] = 0.0
    assert pred.timings["total"] >= pred.timings["fusion"] > 0


def test_observations_fuse_through_the_pipeline():
    """Geolocator.observe gives one Observation per cue (status, weight and floor of its cue);
    pipeline.predict fuses them as locate does."""
    import time

    from geosleuth.observation import Observation
    from geosleuth.pipeline import predict

    cues = [CountryCue("JP"), QuietCue(), BrokenCue(), PointCue(35.68, 139.69)]
    geo = Geolocator(config="prior-only", cues=cues)
    photo = geo.open(geosleuth.example_image())
    said = geo.observe(photo)
    assert all(isinstance(o, Observation) for o in said)
    assert [(o.name, o.status) for o in said] == [("country", "ok"), ("quiet", "abstained"), ("broken", "failed"),
                                                  ("point", "ok")]
    assert all(o.cue is c and (o.weight, o.floor) == (c.weight, c.floor) and o.seconds >= 0
               for o, c in zip(said, cues))
    assert [o.spoke for o in said] == [True, False, False, True] and said[3].floor == 1e-9
    output = {**geo.config["output"], "top_k": 3}
    pred = predict(geo.grid, geo.log_prior(), said, image=photo.id, image_size=photo.original_size, output=output,
                   timings={}, started=time.perf_counter())
    located = geo.locate(photo)
    assert np.allclose(pred.posterior, located.posterior) and len(pred.top_k) == 3
    assert pred.cues.keys() == located.cues.keys() and pred.best.country == "JP"


def test_zero_weight_cue_is_reported_but_not_fused(prior_only):
    silent = CountryCue("JP")
    silent.weight = 0.0
    geo = Geolocator(config="prior-only", cues=[silent])
    [said] = geo.observe(geo.open(geosleuth.example_image()))
    assert said.status == "ok" and not said.spoke
    pred = geo.locate(geosleuth.example_image())
    assert np.allclose(pred.posterior, prior_only.locate(geosleuth.example_image()).posterior)
    assert pred.cues["country"].status == "ok" and pred.cues["country"].weight == 0.0


def test_cues_must_follow_the_protocol_and_images_the_limits():
    with pytest.raises(geosleuth.ConfigError, match="is not a cue"):
        Geolocator(cues=[object()])
    geo = Geolocator.from_config("prior-only", image={"max_side": 256})
    photo = geo.open(geosleuth.example_image())
    assert max(photo.image.size) == 256 and photo.original_size == (1280, 854)
    assert geo.open(photo) is photo
    with pytest.raises(ImageError, match="max_pixels"):
        Geolocator.from_config("prior-only", image={"max_pixels": 1000}).open(geosleuth.example_image())


def test_every_candidate_lies_in_the_country_it_is_labelled_with(grid):
    """67 of the grid's cells have their mean photo location across a border from most of their
    photos (Karelia's in Russia, most photos Finnish): a candidate there is that country's
    largest town in the cell, so its place and its country agree (64 of 67; 3 cells hold no town
    of that country, only sea or desert)."""
    from geosleuth.interpret import candidate

    split = [c for c in range(len(grid)) if not str(grid.places[c]).endswith(", " + str(grid.cell_country[c]))]
    agree = [candidate(grid, c, 0.1) for c in split]
    assert len(split) == 67 and sum(m.place.endswith(", " + m.country) for m in agree) == 64
