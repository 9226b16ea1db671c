"""The answer as a decision, the confidence level, separated alternatives, and the recipe that
keeps only the cues that help out of fold."""

from __future__ import annotations

import numpy as np
import pytest

import geosleuth
from geosleuth import CueOutput, GeoPoint, Geolocator
from geosleuth.cues import BaseCue
from geosleuth.fusion.calibration import CalibrationSet, calibrate
from geosleuth.fusion.confidence import LEVELS
from geosleuth.fusion.decision import GeoScoreDecider, geoscore
from geosleuth.fusion.kernels import kernel_log_likelihood
from geosleuth.geo import haversine_km


class ToyCue(BaseCue):
    def __init__(self, ll_of, points=()):
        super().__init__(weight=1.0, floor=1e-9)
        self.ll_of, self.points = ll_of, points

    name = "toy"

    def observe(self, photo, grid):
        return CueOutput(self.ll_of(grid), points=self.points)


def _brute_force(grid, p: np.ndarray) -> float:
    """The best expected GeoScore over every cell's mean location."""
    best = 0.0
    for i in range(0, len(grid), 256):
        d = haversine_km(grid.lat[i:i + 256, None], grid.lon[i:i + 256, None], grid.lat[None], grid.lon[None])
        best = max(best, float((geoscore(d) @ p).max()))
    return best


@pytest.mark.slow
@pytest.mark.parametrize("posterior", ["prior", "two_cities", "one_cell"])
def test_decision_is_close_to_the_best_cell_mean(grid, posterior):
    p = np.exp(grid.log_prior())
    if posterior == "two_cities":  # half Lisbon, half Warsaw: the answer lies between, not in either
        p = np.zeros(len(grid))
        p[grid.lookup([38.72, 52.23], [-9.14, 21.01])] = 0.5
    elif posterior == "one_cell":
        p = np.full(len(grid), 1e-9)
        p[grid.lookup([35.68], [139.69])[0]] = 1.0
    p = p / p.sum()
    decided = GeoScoreDecider.for_grid(grid).decide(p)
    assert decided.expected_geoscore >= 0.995 * _brute_force(grid, p)
    if posterior == "two_cities":
        assert min(haversine_km(decided.lat, decided.lon, [38.72, 52.23], [-9.14, 21.01])) < 25
    if posterior == "one_cell":
        assert decided.cell == grid.lookup([35.68], [139.69])[0]


def test_prior_alone_says_no_confident_location_and_what_leads():
    geo = Geolocator.from_config("prior-only")
    pred = geo.locate(geosleuth.example_image())
    densest = int(np.argmax(pred.posterior))
    assert pred.confidence.level == "none" and not pred.confidence.confident
    assert pred.best.decision == "expected_geoscore" and pred.best.cell != pred.grid.tokens[densest]
    assert pred.best.expected_geoscore > GeoScoreDecider.for_grid(pred.grid).expected(pred.posterior, densest)
    text = pred.explain()
    lead = pred.confidence.leading[0][0]
    assert text.splitlines()[1] == "No confident location."
    assert "Leading countries: United States" in text and "Best guess" not in text
    assert lead == "US" and "the most probable country is United States" in text  # the answer is not in the US
    d = pred.to_dict()
    assert d["confidence"]["level"] == "none" and list(d["confidence"]["leading_countries"])[0] == "US"
    assert d["answer"]["lat"] == pytest.approx(pred.best.lat, abs=1e-6)

    old = Geolocator.from_config("prior-only", sets=["output.decision=most_probable"]).locate(geosleuth.example_image())
    assert old.best.cell == old.top_k[0].cell == old.grid.tokens[int(np.argmax(old.posterior))]


def test_levels_follow_what_the_cues_said(grid):
    def country(cc):
        return lambda g: np.log(np.maximum(g.cells_from_countries(
            np.array([1.0 if c == cc else 0.0 for c in g.countries])), 1e-12))

    def near(lat, lon, km):
        return lambda g: kernel_log_likelihood(g, lat, lon, km)

    image = geosleuth.example_image()
    levels = {}
    for name, cue in {"country": ToyCue(country("JP")), "region": ToyCue(near(43.3, -0.37, 60.0)),
                      "exact": ToyCue(near(48.8584, 2.2945, 0.05), (GeoPoint(48.8584, 2.2945, 0.05, "gps"),))
                      }.items():
        pred = Geolocator(cues=[cue]).locate(image)
        levels[name] = pred.confidence
        assert pred.confidence.level in LEVELS
    assert levels["country"].level == "country" and levels["country"].country == "JP"
    assert levels["region"].level in ("region", "city")
    assert levels["exact"].level == "exact"


def test_alternatives_are_separate_places():
    pred = Geolocator.from_config("prior-only", sets=["output.top_k=10"]).locate(geosleuth.example_image())
    pts = [(c.lat, c.lon) for c in pred.top_k]
    assert len(pts) == 10
    for i, a in enumerate(pts):
        for b in pts[i + 1:]:
            assert haversine_km(*a, *b) >= 50


@pytest.mark.slow
def test_calibrate_keeps_cues_that_help_out_of_fold_and_mutes_the_rest(grid):
    rng = np.random.default_rng(1)
    prior = np.exp(grid.log_prior())
    n = 60
    truth = rng.choice(len(grid), size=n, p=prior / prior.sum())
    good = np.stack([kernel_log_likelihood(grid, grid.lat[c], grid.lon[c], 200.0) for c in truth]).astype(np.float32)
    wrong = rng.choice(len(grid), size=n, p=prior / prior.sum())  # confidently somewhere else
    bad = np.stack([kernel_log_likelihood(grid, grid.lat[c], grid.lon[c], 200.0) for c in wrong]).astype(np.float32)
    silent = np.full((n, len(grid)), np.nan, np.float32)
    obs = CalibrationSet([f"p{i}" for i in range(n)], truth, {"good": good, "bad": bad, "silent": silent})
    start = {"good": (1.0, 1e-3), "bad": (1.0, 1e-3), "silent": (1.0, 1e-6)}
    cal = calibrate(grid.log_prior(), obs, np.arange(n) % 3, start, grid)
    assert cal.gain["good"] > 0 >= cal.gain["bad"] and cal.gain["silent"] is None
    assert cal.settings["good"][0] > 0 and cal.settings["bad"][0] == 0.0
    assert cal.settings["silent"] == start["silent"]  # never spoke: not judged, kept as configured
    assert cal.geoscore > cal.prior_geoscore


def test_a_point_placed_in_a_cell_is_scored_from_there(grid):
    """A cell whose mass a cue placed at a point (not its mean) is a candidate at that point, and
    its expected GeoScore is computed from there: brute force over the moved cells agrees."""
    from geosleuth.fusion.kernels import t_kernel_log_mass

    lat, lon = -33.8568, 151.2153  # the Opera House, not a cell's mean photo location
    cell = int(grid.lookup([lat], [lon])[0])
    p = np.exp(t_kernel_log_mass(grid, lat, lon, 1.0))
    decision = GeoScoreDecider.for_grid(grid).decide(p, {cell: (lat, lon)})
    assert (decision.lat, decision.lon, decision.cell) == (lat, lon, cell)
    moved_lat, moved_lon = grid.lat.copy(), grid.lon.copy()
    moved_lat[cell], moved_lon[cell] = lat, lon
    brute = float(geoscore(haversine_km(lat, lon, moved_lat, moved_lon)) @ (p / p.sum()))
    assert decision.expected_geoscore == pytest.approx(brute, abs=1.0)


def test_a_heavy_tailed_kernel_keeps_its_mass_near_its_point(grid):
    """A 1 km kernel holds about half its mass within 1.7 km (sqrt 3 times its scale) and puts
    next to nothing in a large cell nearby; a 1,000 km one spreads over a continent."""
    from geosleuth.fusion.kernels import t_kernel_log_mass

    lat, lon = -33.8568, 151.2153
    sharp = np.exp(t_kernel_log_mass(grid, lat, lon, 1.0))
    d = haversine_km(lat, lon, grid.lat, grid.lon)
    assert sharp[d < 20].sum() > 0.85 and sharp[grid.area_km2 > 50_000].sum() < 0.05
    broad = np.exp(t_kernel_log_mass(grid, lat, lon, 1000.0))
    assert broad[d < 20].sum() < 0.05 and broad[d < 3000].sum() > 0.6
