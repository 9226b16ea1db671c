"""The prior's shape chosen for photographers not seen: nested, by the worst fold's 90 % coverage.

    python -m benchmarks.eval_prior [--folds 5]

Candidate priors mix three maps of the Earth (`fusion.prior.log_prior`):
the photo density of the MP-16 gallery raised to an exponent (below 1 flattens it), where people
live (GeoNames populations), and land area (cells holding a GeoNames place). Each is scored
with the shipped default's cues (exif, text at their shipped settings, cached by
eval_experts.py) on two kinds of outer fold:
- author folds (photographers hashed into 5 folds);
- region folds: photographers grouped by the continent where most of their photos were taken
  (Europe, North America, the rest), each held out in turn: closer to a shift toward
  photographers from elsewhere.
For each outer fold the prior is chosen on the other folds of its kind: the sharpest (smallest
median 90 % region) among the candidates whose worst inner fold's 90 % region holds ≥ 88 % of
the photos (else the one with the best worst-fold coverage). The shipped prior is chosen so on
all dev photos with both kinds of fold. Reported per outer fold: 50 / 90 % coverage,
GeoScore and the median 90 % area, beside today's prior and the best constant point; and the
confidence levels stated, with how often a country claim was right. Writes prior.json and
prior.md to benchmarks/out/prior/.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import Counter

import numpy as np

from geosleuth import Geolocator
from geosleuth.config import load_config
from geosleuth.fusion.calibration import CalibrationSet, log_posteriors
from geosleuth.fusion.confidence import _continent_of, assess
from geosleuth.fusion.decision import GeoScoreDecider, geoscore
from geosleuth.fusion.prior import log_prior
from geosleuth.fusion.region import credible_cells
from geosleuth.geo import haversine_km
from geosleuth.labels import author_folds, read_labels

from benchmarks.eval_experts import OUT as EXPERTS_OUT, SHIPPED
from benchmarks.nested import answer_points, best_constant
from benchmarks.paths import DEV, OUTPUTS

OUT = OUTPUTS / "prior"
EXPONENTS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)
POPULATION_SHARES = (0.0, 0.05, 0.1, 0.2, 0.3)
LAND_SHARES = (0.0, 0.05, 0.1, 0.2)
MIN_WORST_COVERAGE = 0.88


def candidates() -> list[dict[str, float]]:
    return [{"exponent": e, "population": p, "land": a}
            for e, p, a in itertools.product(EXPONENTS, POPULATION_SHARES, LAND_SHARES)]


def scores(grid, prior: np.ndarray, obs: CalibrationSet, settings, lat, lon) -> dict[str, np.ndarray]:
    """Per photo: GeoScore of the answer, whether the 50 / 90 % regions hold the truth, 90 % area.
    Photos no cue spoke of share the prior's posterior, so it is decided once for them."""
    spoke = np.zeros(len(obs.truth), bool)
    for ll in obs.loglik.values():
        spoke |= ~np.isnan(ll[:, 0])
    rows = np.r_[np.flatnonzero(spoke), np.flatnonzero(~spoke)[:1]]
    post = log_posteriors(prior, obs.subset(rows), settings)
    of = np.where(spoke, np.cumsum(spoke) - 1, len(rows) - 1)  # each photo's row in `post`
    cells = GeoScoreDecider.for_grid(grid).answers(post)[of]
    at = answer_points(grid)[cells]
    out = {"geoscore": geoscore(haversine_km(at[:, 0], at[:, 1], lat, lon))}
    for mass in (0.5, 0.9):
        regions = [credible_cells(np.exp(row.astype(np.float64)), grid.area_km2, mass) for row in post]
        holds = [np.isin(np.arange(len(grid)), r) for r in regions]
        out[f"cover{int(mass * 100)}"] = np.array([holds[r][t] for r, t in zip(of, obs.truth)])
        out[f"area{int(mass * 100)}"] = np.array([grid.area_km2[r].sum() for r in regions])[of]
    return out


def choose(rows: list[dict[str, np.ndarray]], schemes: list[tuple[np.ndarray, list]], train: np.ndarray) -> int:
    """Among the candidates whose 90 % region holds at least MIN_WORST_COVERAGE of the `train`
    photos on every fold of every scheme (folds, fold ids), the one with the smallest median 90 %
    region (the sharpest honest prior); if none, the one whose worst fold covers most."""
    worst = np.array([min(r["cover90"][train & (folds == f)].mean() for folds, ids in schemes for f in ids)
                      for r in rows])
    area = np.array([np.median(r["area90"][train]) for r in rows])
    ok = worst >= MIN_WORST_COVERAGE
    return int(np.argmin(np.where(ok, area, np.inf))) if ok.any() else int(np.argmax(worst))


def stated(grid, prior: np.ndarray, obs: CalibrationSet, settings) -> tuple[np.ndarray, np.ndarray]:
    """Per photo: the confidence level stated, and whether it held (a country claim: the country;
    any other level: the 90 % region holds the true cell)."""
    post = log_posteriors(prior, obs, settings)
    said, held = [], []
    for row, t in zip(post, obs.truth):
        p = np.exp(row.astype(np.float64))
        region = credible_cells(p, grid.area_km2, 0.9)
        conf = assess(grid, p, grid.country_probabilities(p), region, 0.9)
        said.append(conf.level)
        held.append(conf.country == grid.cell_country[t] if conf.level == "country" else bool(t in set(region)))
    return np.array(said), np.array(held)


def levels(grid, prior: np.ndarray, obs: CalibrationSet, settings) -> dict[str, dict[str, int]]:
    """Confidence levels stated and how often each held."""
    said, held = stated(grid, prior, obs, settings)
    return {lv: {"n": int((said == lv).sum()), "right": int(held[said == lv].sum())}
            for lv in sorted(set(said.tolist()))}


def region_folds(grid, labels, truth: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Each photographer's fold: the continent of most of their photos; Europe, North America, and
    the rest of the world together (too few dev photographers live there for a fold each)."""
    continent = np.array(_continent_of(tuple(grid.cell_country[t] for t in truth)))
    home = {}
    for author in {lb.author for lb in labels}:
        mine = continent[[lb.author == author for lb in labels]]
        home[author] = Counter(mine.tolist()).most_common(1)[0][0]
    names = ["Europe", "North America", "rest of the world"]
    return np.array([{"EU": 0, "NA": 1}.get(home[lb.author], 2) for lb in labels]), names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args(argv)
    cache = EXPERTS_OUT / "default_observations.npz"
    if not cache.is_file():
        sys.exit(f"{cache} is missing: run python -m benchmarks.eval_experts first")
    geo = Geolocator(load_config("default", overrides={"cues": {"visual": {"enabled": False},
                                                                "scene": {"enabled": False}}}))
    grid = geo.grid
    obs = CalibrationSet.load(cache)
    by_id = {lb.image_id: lb for lb in read_labels(DEV / "dev.csv")}
    labels = [by_id[i] for i in obs.image_ids]
    lat, lon = np.array([lb.lat for lb in labels]), np.array([lb.lon for lb in labels])
    shipped = {c: (geo.config["cues"][c]["weight"], geo.config["cues"][c]["floor"]) for c in SHIPPED}
    schemes = {"author": (author_folds([lb.author for lb in labels], args.folds), [str(k) for k in range(args.folds)]),
               "region": region_folds(grid, labels, obs.truth)}

    grid_of = candidates()
    rows = []
    for n, c in enumerate(grid_of):
        rows.append(scores(grid, log_prior(grid, **c), obs, shipped, lat, lon))
        print(f"{n + 1}/{len(grid_of)} {c}: GeoScore {rows[-1]['geoscore'].mean():.1f}, "
              f"90 % holds {rows[-1]['cover90'].mean():.3f}", file=sys.stderr)
    today = grid_of.index({"exponent": 1.0, "population": 0.0, "land": 0.0})

    report: dict = {"candidates": grid_of, "schemes": {}}
    for scheme, (folds, names) in schemes.items():
        per_fold = []
        for k in np.unique(folds):
            test = folds == k
            chosen = choose(rows, [(folds, [f for f in np.unique(folds) if f != k])], ~test)
            point = best_constant(grid, lat[~test], lon[~test])
            const = geoscore(haversine_km(point[0], point[1], lat[test], lon[test])).mean()
            per_fold.append({"fold": names[k], "photos": int(test.sum()), "chosen": grid_of[chosen],
                             **{f"{v}_{m}": round(float(rows[i][m][test].mean() * (100 if m.startswith("cover") else 1)), 1)
                                for v, i in (("today", today), ("chosen", chosen)) for m in ("geoscore", "cover50", "cover90")},
                             **{f"{v}_area90": round(float(np.median(rows[i]["area90"][test])) / 1e6, 1)
                                for v, i in (("today", today), ("chosen", chosen))},
                             "best_constant": round(float(const), 1)})
        report["schemes"][scheme] = per_fold
    final = choose(rows, [(folds, np.unique(folds)) for folds, _ in schemes.values()], np.ones(len(labels), bool))
    report["final"] = grid_of[final]
    report["final_per_fold"] = {
        scheme: {names[k]: {m: round(float(rows[i][m][folds == k].mean() * (100 if m.startswith("cover") else 1)), 1)
                            for m in ("geoscore", "cover50", "cover90")} for k in np.unique(folds)}
        for scheme, (folds, names) in schemes.items() for i in (final,)}
    report["final_levels"] = levels(grid, log_prior(grid, **grid_of[final]), obs, shipped)
    report["today_levels"] = levels(grid, log_prior(grid, **grid_of[today]), obs, shipped)
    report["all_photos"] = {v: {m: round(float(rows[i][m].mean() * (100 if m.startswith("cover") else 1)), 1)
                                for m in ("geoscore", "cover50", "cover90")}
                            for v, i in (("today", today), ("final", final))}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "prior.json").write_text(json.dumps(report, indent=2))
    (OUT / "prior.md").write_text(markdown(report))
    print(markdown(report))
    return 0


def markdown(report: dict) -> str:
    lines = []
    for scheme, per_fold in report["schemes"].items():
        lines += [f"## {scheme} folds (outer: scored; the prior chosen on the others)", "",
                  "| fold | photos | chosen (exponent, population, land) | GeoScore today → chosen | best constant | "
                  "50 % holds | 90 % holds | median 90 % area, M km² |", "|---|---|---|---|---|---|---|---|"]
        for f in per_fold:
            c = f["chosen"]
            lines.append(f"| {f['fold']} | {f['photos']} | {c['exponent']}, {c['population']}, {c['land']} | "
                         f"{f['today_geoscore']:,.1f} → {f['chosen_geoscore']:,.1f} | {f['best_constant']:,.1f} | "
                         f"{f['today_cover50']} → {f['chosen_cover50']} | {f['today_cover90']} → {f['chosen_cover90']} | "
                         f"{f['today_area90']} → {f['chosen_area90']} |")
        lines.append("")
    lines += [f"Chosen on all dev photos, every author and region fold: {report['final']}.", "",
              f"The shipped prior on each fold (not nested: chosen with these photos): {report['final_per_fold']}.", "",
              f"All photos: today {report['all_photos']['today']}; chosen {report['all_photos']['final']}.", "",
              f"Confidence levels stated (right): today {report['today_levels']}; chosen {report['final_levels']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
