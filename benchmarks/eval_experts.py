"""Recorded experts fused with the shipped default, measured with nested author-grouped folds.

    python -m benchmarks.eval_experts [--experts CSV ...] [--folds 5]

For each expert (default: the recorded ones in ../shared/data/recorded-experts/) and each outer
author fold k: the expert's error distribution per confidence level (`fit_errors`) and the
cue weights and floors (`calibrate`: an expert that does not raise GeoScore on inner folds gets
weight 0; its own likelihood is calibrated, so its weight is 1 or 0) are fitted on the other
folds, and fold k is scored (the errors are fitted once on those four folds, and the inner
folds that judge the expert reuse them). Reported for the photos of fold k:
- the expert alone (its own point; "no answer" photos get the prior's answer),
- the shipped default (exif + text at their shipped settings), and the default plus the expert,
- the prior alone, and the best constant point of the training folds;
with GeoScore, the share within 1/25/200/750/2500 km, 50 % and 90 % region coverage, and the
confidence levels the pipeline would state (with how often each was right), overall and per
the expert's confidence level. Text and exif observations of the dev photos are computed once
and cached in benchmarks/out/experts/. Writes experts.json and experts.md there.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from geosleuth import Geolocator
from geosleuth.cues.base import GeoPoint
from geosleuth.cues.clues.expert import NO_FUSION_FLOOR, ExpertSettings, claimed_points, fit_errors, log_likelihoods
from geosleuth.cues.recorded import read_recorded
from geosleuth.fusion.calibration import CalibrationSet, calibrate, coverage, log_posteriors
from geosleuth.fusion.confidence import assess
from geosleuth.fusion.decision import GeoScoreDecider
from geosleuth.fusion.region import credible_cells
from geosleuth.geo import haversine_km
from geosleuth.labels import author_folds, read_labels
from geosleuth.interpret import located_cells, placement

from benchmarks._metrics import THRESHOLDS_KM, summarize
from benchmarks.nested import answer_points, best_constant
from benchmarks.paths import DEV, OUTPUTS, RECORDED_EXPERTS

EXPERTS = sorted(RECORDED_EXPERTS.glob("*.csv"))
OUT = OUTPUTS / "experts"
SHIPPED = ("exif", "text")


def default_observations(geo: Geolocator, labels, truth: np.ndarray) -> CalibrationSet:
    """What the shipped default's cues (exif, text) said on each dev photo, cached."""
    cache = OUT / "default_observations.npz"
    if cache.is_file():
        return CalibrationSet.load(cache)
    OUT.mkdir(parents=True, exist_ok=True)
    obs = geo.calibration_set([DEV / "images" / lb.image_id for lb in labels], truth)
    obs.save(cache)
    return obs


def scored(grid, log_post: np.ndarray, lat: np.ndarray, lon: np.ndarray, truth: np.ndarray,
           points: list[tuple[GeoPoint, ...]] | None = None) -> dict:
    """Per photo: distance of the expected-GeoScore answer (where the shipped pipeline puts it in
    its cell: at a point claimed there (`interpret.located_cells`, `interpret.placement`), else
    `nested.answer_points`), whether the 50 / 90 % regions hold the true cell, and the
    confidence level stated with whether it was right (a country claim: the country; any other
    level: the 90 % region holds the true cell)."""
    decider = GeoScoreDecider.for_grid(grid)
    points = points or [()] * len(log_post)
    cells = np.array([decider.decide(np.exp(row), located_cells(grid, claimed)).cell
                      for row, claimed in zip(log_post, points)])
    at = answer_points(grid)[cells]
    for i, claimed in enumerate(points):
        best = placement(grid, int(cells[i]), claimed)
        if best is not None:
            at[i] = best.lat, best.lon
    out = {"km": haversine_km(at[:, 0], at[:, 1], lat, lon)}
    for mass in (0.5, 0.9):
        out[f"cover{int(mass * 100)}"] = coverage(log_post, truth, grid, mass)[0]
    levels, right = [], []
    for row, t in zip(log_post, truth):
        p = np.exp(row.astype(np.float64))
        region = credible_cells(p, grid.area_km2, 0.9)
        conf = assess(grid, p, grid.country_probabilities(p), region, 0.9)
        levels.append(conf.level)
        right.append(conf.country == grid.cell_country[t] if conf.level == "country" else bool(t in set(region)))
    out["level"], out["level_right"] = np.array(levels), np.array(right)
    return out


def summary(rows: dict, mask: np.ndarray | None = None) -> dict:
    mask = np.ones(len(rows["km"]), bool) if mask is None else mask
    out = summarize(rows["km"][mask])
    for key in ("cover50", "cover90"):
        if key in rows:
            out[key] = round(float(np.mean(rows[key][mask]) * 100), 1)
    if "level" in rows:
        levels = Counter(rows["level"][mask].tolist())
        out["levels"] = {lv: {"n": n, "right": int(rows["level_right"][mask][rows["level"][mask] == lv].sum())}
                         for lv, n in sorted(levels.items())}
    return out


def evaluate(path: Path, geo: Geolocator, obs: CalibrationSet, lat, lon, folds: np.ndarray,
             recipe: dict[int, dict]) -> dict:
    """One expert, nested; `recipe` caches the default's settings refitted per outer fold."""
    grid, prior = geo.grid, geo.log_prior()
    name = f"expert:{path.stem}"
    recorded = read_recorded(path)
    answers = [recorded.get(i) for i in obs.image_ids]
    answered = np.array([a is not None for a in answers])
    shipped = {c: (geo.config["cues"][c]["weight"], geo.config["cues"][c]["floor"]) for c in SHIPPED}
    n = len(obs.truth)
    posts = {v: np.zeros((n, len(grid)), np.float32) for v in ("prior alone", "default (shipped)",
                                                               "default, recipe refit", "default + expert, recipe refit")}
    km_const = np.zeros(n)
    claims: list[tuple[GeoPoint, ...]] = [()] * n
    fitted = []
    for k in np.unique(folds):
        test, train = folds == k, folds != k
        settings = ExpertSettings(fit_errors(grid, [a for a, t in zip(answers, train) if t], lat[train], lon[train]))
        ll = log_likelihoods(grid, answers, settings)
        for i in np.flatnonzero(test & answered):
            claims[i] = claimed_points(answers[i], settings)
        both = CalibrationSet(obs.image_ids, obs.truth, {**obs.loglik, name: ll})
        start = {**shipped, name: (1.0, NO_FUSION_FLOOR)}
        with_expert = calibrate(prior, both.subset(train), folds[train], start, grid, frozen={name})
        if k not in recipe:
            recipe[k] = calibrate(prior, obs.subset(train), folds[train], shipped, grid).settings
        fitted.append({"fold": int(k), "near": {lv: [round(x, 3) for x in settings.near(lv)] for lv in settings.errors},
                       "errors": settings.errors, "settings": with_expert.settings,
                       "inner_gain": with_expert.gain})
        part = both.subset(test)
        posts["prior alone"][test] = log_posteriors(prior, part, {})
        posts["default (shipped)"][test] = log_posteriors(prior, part, shipped)
        posts["default, recipe refit"][test] = log_posteriors(prior, part, recipe[k])
        posts["default + expert, recipe refit"][test] = log_posteriors(prior, part, with_expert.settings)
        point = best_constant(grid, lat[train], lon[train])
        km_const[test] = haversine_km(point[0], point[1], lat[test], lon[test])
        print(f"{path.stem} fold {k}: near the truth (share, half within km) {fitted[-1]['near']}, settings {with_expert.settings[name]}, "
              f"inner gain {with_expert.gain[name]}", file=sys.stderr)
    rows = {v: scored(grid, post, lat, lon, obs.truth, claims if "expert" in v else None) for v, post in posts.items()}
    own_lat = np.array([a.candidates[0].lat if a else np.nan for a in answers])
    own_lon = np.array([a.candidates[0].lon if a else np.nan for a in answers])
    prior_km = rows["prior alone"]["km"]
    rows["expert alone"] = {"km": np.where(answered, haversine_km(np.nan_to_num(own_lat), np.nan_to_num(own_lon),
                                                                   lat, lon), prior_km)}
    rows["best constant"] = {"km": km_const}
    # Not a pipeline: per photo the nearer of the two answers, a bound on what choosing between them can reach.
    rows["nearer of default and expert, per photo (bound)"] = {
        "km": np.minimum(rows["expert alone"]["km"], rows["default, recipe refit"]["km"])}
    per_fold = {v: [summary(r, folds == k)["geoscore"] for k in np.unique(folds)] for v, r in rows.items()}
    by_level = defaultdict(dict)
    levels = np.array([a.candidates[0].level if a else "no answer" for a in answers])
    for level in sorted(set(levels)):
        for v in ("expert alone", "default (shipped)", "default + expert, recipe refit",
                  "nearer of default and expert, per photo (bound)"):
            by_level[level][v] = summary(rows[v], levels == level)
    return {"expert": path.name, "photos": n, "answered": int(answered.sum()),
            "overall": {v: summary(r) for v, r in rows.items()}, "per_fold_geoscore": per_fold,
            "by_level": by_level, "fitted": fitted}


def markdown(results: list[dict]) -> str:
    lines = []
    for r in results:
        lines += [f"## {r['expert']} ({r['answered']} of {r['photos']} photos answered)", "",
                  "| pipeline | GeoScore | worst fold | 1 km | 25 km | 200 km | 750 km | 2500 km | 50 % region holds | "
                  "90 % region holds | levels stated (right) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for v, s in r["overall"].items():
            levels = ", ".join(f"{lv} {x['n']} ({x['right']})" for lv, x in s.get("levels", {}).items())
            lines.append(f"| {v} | {s['geoscore']:,.1f} | {min(r['per_fold_geoscore'][v]):,.1f} | "
                         + " | ".join(f"{s[f'acc_{t}km']}" for t in THRESHOLDS_KM)
                         + f" | {s.get('cover50', '')} | {s.get('cover90', '')} | {levels} |")
        lines += ["", "| expert's level | photos | expert alone | default | default + expert | nearer of the two (bound) |",
                  "|---|---|---|---|---|---|"]
        for level, s in r["by_level"].items():
            lines.append(f"| {level} | {s['expert alone']['n']} | {s['expert alone']['geoscore']:,.1f} | "
                         f"{s['default (shipped)']['geoscore']:,.1f} | "
                         f"{s['default + expert, recipe refit']['geoscore']:,.1f} | "
                         f"{s['nearer of default and expert, per photo (bound)']['geoscore']:,.1f} |")
        lines += ["", "Fitted per outer fold (per level: the share of answers near the truth, and the distance "
                  "within which half of those land, km; weight, floor; inner out-of-fold GeoScore gain):", ""]
        for f in r["fitted"]:
            name = f"expert:{Path(r['expert']).stem}"
            near = {lv: f"{share:.0%} ~{km:,.0f}" for lv, (share, km) in f["near"].items()}
            lines.append(f"- fold {f['fold']}: {near}; {f['settings'][name]}; gain {f['inner_gain'][name]:.1f}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--experts", nargs="+", type=Path, default=EXPERTS)
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args(argv)
    if not (DEV / "dev.csv").is_file():
        sys.exit(f"{DEV} is missing")
    from geosleuth.config import load_config

    geo = Geolocator(load_config("default", overrides={"cues": {"visual": {"enabled": False},
                                                                "scene": {"enabled": False}}}))
    labels = read_labels(DEV / "dev.csv")
    truth = geo.grid.lookup([lb.lat for lb in labels], [lb.lon for lb in labels])
    obs = default_observations(geo, labels, truth)
    by_id = {lb.image_id: lb for lb in labels}
    kept = [by_id[i] for i in obs.image_ids]
    lat, lon = np.array([lb.lat for lb in kept]), np.array([lb.lon for lb in kept])
    folds = author_folds([lb.author for lb in kept], args.folds)
    recipe: dict[int, dict] = {}
    results = [evaluate(path, geo, obs, lat, lon, folds, recipe) for path in args.experts]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "experts.json").write_text(json.dumps(results, indent=2, default=str))
    (OUT / "experts.md").write_text(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
