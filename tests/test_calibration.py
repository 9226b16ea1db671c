"""Calibration: fitting cue weights and floors with author folds, coverage, the calibrate command."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from geosleuth.fusion.calibration import (CalibrationSet, coverage, cross_validate, fit, log_posteriors,
                                          log_score)
from geosleuth.fusion.combine import Term, fuse
from geosleuth.fusion.kernels import kernel_log_likelihood


def _observations(grid, n=120, seed=0):
    """Photos drawn from the prior; an informative cue (a kernel around the truth, sometimes wrong)
    and a cue of pure noise."""
    rng = np.random.default_rng(seed)
    prior = np.exp(grid.log_prior())
    truth = rng.choice(len(grid), size=n, p=prior / prior.sum())
    good = np.zeros((n, len(grid)), np.float32)
    for i, c in enumerate(truth):
        centre = c if rng.random() < 0.8 else rng.integers(len(grid))
        good[i] = np.maximum(kernel_log_likelihood(grid, grid.lat[centre], grid.lon[centre], 300.0), -50)
    noise = rng.normal(0, 3, (n, len(grid))).astype(np.float32)
    noise[::3] = np.nan  # abstains on a third of the photos
    return CalibrationSet([f"p{i}.jpg" for i in range(n)], truth, {"good": good, "noise": noise})


def test_vectorised_pooling_matches_fuse(grid):
    obs = _observations(grid, n=4)
    settings = {"good": (0.75, 1e-3), "noise": (0.5, 1e-2)}
    post = log_posteriors(grid.log_prior(), obs, settings)
    for i in range(4):
        terms = {k: Term(obs.loglik[k][i], w, f) for k, (w, f) in settings.items() if not np.isnan(obs.loglik[k][i, 0])}
        assert np.allclose(post[i], fuse(grid.log_prior(), terms).log_posterior, atol=1e-4)


@pytest.mark.slow
def test_fit_trusts_the_informative_cue_and_drops_noise(grid):
    obs = _observations(grid)
    start = {"good": (1.0, 1e-3), "noise": (1.0, 1e-3)}
    settings, score = fit(grid.log_prior(), obs, start)
    assert settings["good"][0] > 0 and settings["noise"][0] == 0.0
    assert score > log_score(grid.log_prior(), obs, start)
    assert score > log_score(grid.log_prior(), obs, {})  # better than the prior alone

    folds = np.arange(len(obs.truth)) % 3
    cv = cross_validate(grid.log_prior(), obs, folds, start)
    assert len(cv.folds) == 3 and cv.held_out_after > cv.held_out_before
    assert cv.log_posterior.shape == (len(obs.truth), len(grid))


def test_coverage_follows_the_highest_density_region(grid):
    log_post = np.full((2, len(grid)), -50.0)
    log_post[:, 10], log_post[:, 20] = 0.0, np.log(0.5)  # cell 10 has 2/3 of the mass, cell 20 1/3
    log_post -= np.logaddexp.reduce(log_post, axis=1, keepdims=True)
    covered, area = coverage(log_post, np.array([10, 20]), grid, mass=0.5)
    assert covered.tolist() == [True, False]
    assert area[0] == pytest.approx(grid.area_km2[10])
    covered, area = coverage(log_post, np.array([10, 20]), grid, mass=0.9)
    assert covered.tolist() == [True, True]
    assert area[1] == pytest.approx(grid.area_km2[10] + grid.area_km2[20])


@pytest.mark.slow
def test_calibrate_command_writes_a_config_that_loads(tmp_path, capsys, exif_photo):
    """GPS fixes that are right for most photos: the EXIF cue keeps a weight, and the written
    config is a valid override config."""
    from geosleuth import Geolocator
    from geosleuth.app.cli import main

    rng = np.random.default_rng(3)
    rows = []
    for i in range(24):
        lat, lon = rng.uniform(-40, 60), rng.uniform(-120, 140)
        wrong = i % 6 == 0  # a spoofed or wrong fix
        (tmp_path / f"p{i}.jpg").write_bytes(exif_photo(at=(lat + (30 if wrong else 0), lon)))
        rows.append([f"p{i}.jpg", f"author{i % 8}", lat, lon])
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    rows.append(["bad.jpg", "author0", 0.0, 0.0])
    with open(tmp_path / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["IMG_ID", "AUTHOR", "LAT", "LON"])
        w.writerows(rows)
    out = tmp_path / "calibrated.yaml"
    args = ["calibrate", "--images", str(tmp_path), "--labels", str(tmp_path / "labels.csv"), "--folds", "4",
            "--config", "prior-only", "--set", "cues.exif.enabled=true", "--out", str(out),
            "--cache", str(tmp_path / "obs.npz"), "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr()
    assert "skipped" in printed.err and "bad.jpg" in printed.err
    assert "out-of-fold GeoScore gain" in printed.out and "out-of-fold GeoScore: prior only" in printed.out
    geo = Geolocator.from_config(out, sets=["cues.exif.enabled=true"])
    weight, floor = geo.cue_settings["exif"]
    assert weight > 0 and 0 < floor < 1
    assert "out-of-fold GeoScore gain per cue" in out.read_text()
    assert main(args) == 0  # the cache is reused
    assert CalibrationSet.load(tmp_path / "obs.npz").truth.shape == (24,)


def test_coverage_uses_the_prediction_region_rule(grid):
    """Regions rank cells by probability per km², as `Prediction.region` does, not by probability."""
    from geosleuth.interpret import credible_region

    rng = np.random.default_rng(5)
    log_post = rng.normal(0, 2, (6, len(grid)))
    log_post -= np.logaddexp.reduce(log_post, axis=1, keepdims=True)
    truth = rng.integers(len(grid), size=6)
    covered, area = coverage(log_post, truth, grid, mass=0.5)
    for i in range(6):
        region = credible_region(grid, np.exp(log_post[i]), 0.5)
        assert covered[i] == (grid.tokens[truth[i]] in region.cells)
        assert area[i] == pytest.approx(region.area_km2)
    by_probability = np.argsort(-log_post[0])
    n = int(np.searchsorted(np.cumsum(np.exp(log_post[0][by_probability])), 0.5)) + 1
    assert area[0] != pytest.approx(grid.area_km2[by_probability[:n]].sum())  # the two rules differ here
