"""Nested, author-grouped evaluation of everything fitted on the dev set.

    python -m benchmarks.nested [--folds 5] [--observations NPZ] [--out DIR]

The cue outputs come from suite.py's cache (computed there on first use) or --observations.

Outer folds score, inner folds fit. For each outer fold k (authors hashed into folds, so no
photographer is on both sides):
- the visual and scene heads are trained without fold k; for fitting, each inner fold j gets
  heads trained without folds j and k, so the fit sees only outputs of heads that never saw
  the photo's author;
- `fusion.calibration.calibrate` (the shipped recipe: keep a cue only if its inner out-of-fold
  GeoScore gain is positive, then fit weights and floors) runs on the other four folds;
- fold k is scored with the expected-GeoScore answer, beside the baselines: the prior's own
  answer, the best constant point of the inner folds' photos, and the old default (its
  weights, the densest cell).
With --pixel-free, the visual cue's output is replaced by what a model that ignores the pixels
learns from the same training folds (their photos' location distribution over the prior), with
the scene cue off: if that "cue" gains as much, the visual gain is the dev set's geography, not
the photo. It also re-scores the old protocols (weights fitted on the photos they score; heads trained on
every dev photo) to show where the old numbers' optimism came from. Writes nested.json,
nested.md and coverage.png to benchmarks/out/nested/.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from geosleuth import Geolocator
from geosleuth.cues.engines.backbone import build_backbone
from geosleuth.cues.engines.heads import DEFAULT_HEADS, CellHeads
from geosleuth.cues.training import TrainSettings
from geosleuth.cues.training.classifier import extract_features, train_heads
from geosleuth.fusion.calibration import CalibrationSet, calibrate, coverage, fit, log_posteriors
from geosleuth.fusion.decision import GeoScoreDecider, geoscore
from geosleuth.fusion.kernels import kernel_log_likelihood
from geosleuth.geo import haversine_km
from geosleuth.labels import author_folds, read_labels
from geosleuth.interpret import candidate

from benchmarks import suite
from benchmarks._metrics import THRESHOLDS_KM, summarize
from benchmarks.paths import DEV, OUTPUTS

OUT = OUTPUTS / "nested"
# The default before this evaluation: the candidates' starting settings, and the baseline it replaces.
OLD_DEFAULT = {"visual": (1.0, 0.1), "scene": (2.0, 1e-4), "exif": (1.0, 1e-6), "text": (1.5, 1e-2)}
MASSES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


class Heads:
    """Visual and scene log-likelihoods from heads trained without some author folds."""

    def __init__(self, features: np.ndarray, ok: np.ndarray, labels, folds: np.ndarray, grid, folder: Path) -> None:
        self.features, self.ok, self.labels, self.folds, self.grid = features, ok, labels, folds, grid
        self.folder = folder
        self.pixel_free = False
        self.used = True  # False when neither the visual nor the scene cue is evaluated
        self.lat = np.array([lb.lat for lb in labels])
        self.lon = np.array([lb.lon for lb in labels])
        self.scenes = np.array([lb.scene or (np.nan,) * 3 for lb in labels])

    def without(self, excluded: tuple[int, ...]) -> CellHeads:
        if self.pixel_free or not self.used:  # nothing to train (`loglik` reads the excluded folds)
            return CellHeads(*(np.zeros(1),) * 3, {}, {}, np.zeros(1), np.zeros(1), {"excluded": excluded})
        path = self.folder / f"heads_without_{'_'.join(map(str, excluded))}.npz"
        if path.is_file():
            return CellHeads.load(path)
        train = ~np.isin(self.folds, excluded) & self.ok
        heads = train_heads(self.features[train], self.lat[train], self.lon[train], self.scenes[train], self.grid,
                            TrainSettings(), authors=[self.labels[i].author for i in np.flatnonzero(train)],
                            progress=False, meta={"backbone": {"name": "efficientnet_lite0", "weights": "embedded",
                                                               "image_size": 224}})
        heads.save(path)
        return heads

    def loglik(self, heads: CellHeads, rows: np.ndarray) -> dict[str, np.ndarray]:
        if not self.used:
            return {}
        if self.pixel_free:
            excluded = heads.meta.get("excluded", ())  # the shipped heads saw every photo
            ratio = self.training_distribution(~np.isin(self.folds, excluded) & self.ok)
            return {"visual": np.repeat(ratio[None], len(rows), 0),
                    "scene": np.full((len(rows), len(self.grid)), np.nan, np.float32)}
        f = self.features[rows].astype(np.float32)
        return {"visual": heads.visual_log_likelihood(f, self.grid).astype(np.float32),
                "scene": heads.scene_log_likelihood(heads.scene_probabilities(f), self.grid).astype(np.float32)}


    def training_distribution(self, train: np.ndarray) -> np.ndarray:
        """log(where the training photos were, 150 km kernels, 1 % prior mixed in) - log prior."""
        prior = np.exp(self.grid.log_prior())
        mass = sum(np.exp(kernel_log_likelihood(self.grid, la, lo, 150.0))
                   for la, lo in zip(self.lat[train], self.lon[train])) / train.sum()
        return (np.log(0.99 * mass + 0.01 * prior) - np.log(prior)).astype(np.float32)


def with_heads(obs: CalibrationSet, rows: np.ndarray, lls: dict[str, np.ndarray]) -> CalibrationSet:
    """`obs` with the visual and scene rows `rows` replaced."""
    loglik = {c: v.copy() for c, v in obs.loglik.items()}
    for c, v in lls.items():
        if c in loglik:
            loglik[c][rows] = v
    return CalibrationSet(obs.image_ids, obs.truth, loglik, obs.seconds)


def answer_points(grid) -> np.ndarray:
    """(lat, lon) where the shipped pipeline answers in each cell when no cue names a country: its
    mean photo location, or, when that lies across a border from most of its photos, that
    country's largest town in it (`geosleuth.interpret.candidate`)."""
    def compute() -> np.ndarray:
        return np.array([(c.lat, c.lon) for c in (candidate(grid, k, 0.0) for k in range(len(grid)))])

    return grid.memo("answer-points", compute)


def score(grid, log_post: np.ndarray, lat: np.ndarray, lon: np.ndarray, truth: np.ndarray,
          answer: str = "expected_geoscore") -> dict:
    """Accuracy of the answers, coverage of the credible regions, and how concentrated the answers are."""
    if answer == "expected_geoscore":
        cells = GeoScoreDecider.for_grid(grid).answers(log_post)
    else:
        cells = np.argmax(log_post, axis=1)
    at = answer_points(grid)
    out = summarize(haversine_km(at[cells, 0], at[cells, 1], lat, lon))
    for mass in (0.5, 0.9):
        covered, area = coverage(log_post, truth, grid, mass)
        out[f"coverage_{int(mass * 100)}"] = round(float(covered.mean() * 100), 2)
        out[f"median_area_{int(mass * 100)}_km2"] = round(float(np.median(area)))
    place, count = Counter(grid.places[cells]).most_common(1)[0]
    out["top_answer"], out["top_answer_share"] = str(place), round(count / len(cells) * 100, 2)
    return out


def constant(grid, lat: np.ndarray, lon: np.ndarray, point: tuple[float, float]) -> dict:
    out = summarize(haversine_km(point[0], point[1], lat, lon))
    out["point"] = [round(point[0], 4), round(point[1], 4)]
    return out


def best_constant(grid, lat: np.ndarray, lon: np.ndarray) -> tuple[float, float]:
    """The cell mean with the highest mean GeoScore over these photos."""
    best, point = -1.0, (0.0, 0.0)
    for i in range(0, len(grid), 512):
        d = haversine_km(grid.lat[i:i + 512, None], grid.lon[i:i + 512, None], lat[None], lon[None])
        s = geoscore(d).mean(axis=1)
        j = int(np.argmax(s))
        if s[j] > best:
            best, point = float(s[j]), (float(grid.lat[i + j]), float(grid.lon[i + j]))
    return point


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEV / "images")
    ap.add_argument("--labels", type=Path, default=DEV / "dev.csv")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--observations", type=Path, help="cue outputs (CalibrationSet .npz) of a subset of the labels")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--cues", default="visual,scene,exif,text", help="the candidate cues (default: all)")
    ap.add_argument("--pixel-free", action="store_true", help="the visual cue replaced by the training folds' "
                    "location distribution (a model that ignores the pixels), scene off")
    args = ap.parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    labels = read_labels(args.labels)
    folds_all = author_folds([lb.author for lb in labels], args.folds)
    geo = Geolocator.from_config("default")
    grid, log_prior = geo.grid, geo.log_prior()
    obs = (CalibrationSet.load(args.observations) if args.observations
           else suite.observations(labels, args.images, folds_all, geo))
    cues = [c for c in args.cues.split(",") if c in obs.loglik]
    obs = CalibrationSet(obs.image_ids, obs.truth, {c: obs.loglik[c] for c in cues}, obs.seconds)
    position = {lb.image_id: n for n, lb in enumerate(labels)}
    keep = np.array([position[i] for i in obs.image_ids])
    labels = [labels[i] for i in keep]
    folds = folds_all[keep]
    lat, lon = np.array([lb.lat for lb in labels]), np.array([lb.lon for lb in labels])
    uses_heads = bool({"visual", "scene"} & set(cues))
    if args.pixel_free or not uses_heads:
        features, ok = np.zeros((len(labels), 1), np.float16), np.ones(len(labels), bool)
    else:
        features, ok = extract_features(build_backbone("efficientnet_lite0", "embedded"),
                                        [args.images / lb.image_id for lb in labels], out / "features.npz")
    heads = Heads(features, ok, labels, folds, grid, out)
    heads.pixel_free, heads.used = args.pixel_free, uses_heads
    start = {c: OLD_DEFAULT[c] for c in obs.loglik}
    prior_post = np.broadcast_to(log_prior - np.logaddexp.reduce(log_prior), (1, len(grid)))
    prior_point = GeoScoreDecider.for_grid(grid).decide(np.exp(prior_post[0]))

    per_fold, outer_post = [], np.zeros((len(labels), len(grid)), np.float32)
    old_post = np.zeros_like(outer_post)
    for k in range(args.folds):
        inner, test = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        fitted = obs.subset(inner)
        for j in np.unique(folds[inner]):
            rows = np.flatnonzero(folds[inner] == j)
            fitted = with_heads(fitted, rows, heads.loglik(heads.without(tuple(sorted((int(j), k)))), inner[rows]))
        cal = calibrate(log_prior, fitted, folds[inner], start, grid)
        scored = with_heads(obs.subset(test), np.arange(len(test)), heads.loglik(heads.without((k,)), test))
        post = log_posteriors(log_prior, scored, cal.settings)
        outer_post[test] = post
        old_post[test] = log_posteriors(log_prior, scored, start)
        point = best_constant(grid, lat[inner], lon[inner])
        row = {"fold": k, "photos": len(test), "authors": len({labels[i].author for i in test}),
               "settings": {c: list(v) for c, v in cal.settings.items()},
               "inner_gain": {c: None if g is None else round(g, 1) for c, g in cal.gain.items()},
               "default": score(grid, post, lat[test], lon[test], scored.truth),
               "prior_only": score(grid, np.repeat(prior_post, len(test), 0), lat[test], lon[test], scored.truth),
               "best_constant_of_inner": constant(grid, lat[test], lon[test], point),
               "old_default_densest_cell": score(grid, old_post[test], lat[test], lon[test], scored.truth,
                                                 answer="most_probable")}
        per_fold.append(row)
        print(f"fold {k}: default {row['default']['geoscore']}, prior {row['prior_only']['geoscore']}, "
              f"constant {row['best_constant_of_inner']['geoscore']}, settings {row['settings']}, "
              f"gains {row['inner_gain']}", file=sys.stderr)

    truth = obs.truth
    overall = {"default": score(grid, outer_post, lat, lon, truth),
               "prior_only": score(grid, np.repeat(prior_post, len(labels), 0), lat, lon, truth),
               "old_default_densest_cell": score(grid, old_post, lat, lon, truth, answer="most_probable"),
               "old_default_expected_geoscore": score(grid, old_post, lat, lon, truth)}
    overall["best_constant_of_inner"] = {"geoscore": round(sum(
        r["best_constant_of_inner"]["geoscore"] * r["photos"] for r in per_fold) / len(labels), 1)}

    # The old protocols, for the record: weights fitted on the photos they score, and heads that saw them.
    everything = obs
    for k in range(args.folds):
        rows = np.flatnonzero(folds == k)
        everything = with_heads(everything, rows, heads.loglik(heads.without((k,)), rows))
    in_sample, _ = fit(log_prior, everything, start)
    shipped = CellHeads.load(DEFAULT_HEADS)
    seen = with_heads(everything, np.arange(len(labels)), heads.loglik(shipped, np.arange(len(labels))))
    old = {"weights_fitted_on_scored_photos": score(grid, log_posteriors(log_prior, everything, in_sample), lat, lon,
                                                    truth, answer="most_probable"),
           "shipped_heads_on_their_training_photos": score(grid, log_posteriors(log_prior, seen, start), lat, lon, truth,
                                                           answer="most_probable")}

    final = calibrate(log_prior, everything, folds, start, grid)
    reliability = {}
    for name, post in (("default", outer_post), ("prior_only", np.repeat(prior_post, len(labels), 0)),
                       ("old_default", old_post)):
        reliability[name] = [round(float(coverage(post, truth, grid, m)[0].mean() * 100), 2) for m in MASSES]
    result = {"photos": len(labels), "authors": len({lb.author for lb in labels}), "folds": args.folds,
              "split": "crc32(AUTHOR) % folds; inner folds are the other outer folds",
              "start": {c: list(v) for c, v in start.items()}, "prior_answer": [prior_point.lat, prior_point.lon],
              "per_fold": per_fold, "overall": overall, "old_protocols": old,
              "coverage_by_mass": {"masses": MASSES, **reliability},
              "shipped": {"settings": {c: list(v) for c, v in final.settings.items()},
                          "gain": {c: None if g is None else round(g, 1) for c, g in final.gain.items()},
                          "cv_geoscore": round(final.geoscore, 1), "cv_prior_geoscore": round(final.prior_geoscore, 1)}}
    (out / "nested.json").write_text(json.dumps(result, indent=2) + "\n")
    _markdown(result, out)
    _plot(result, out)
    print(json.dumps({k: result[k] for k in ("overall", "old_protocols", "shipped")}, indent=2))
    return 0


def _markdown(result: dict, out: Path) -> None:
    cols = ["geoscore"] + [f"acc_{t}km" for t in THRESHOLDS_KM] + ["median_km", "coverage_50", "coverage_90",
                                                                  "top_answer_share"]
    lines = [f"{result['photos']} dev photos, {result['authors']} authors, {result['folds']} outer author folds "
             "(inner folds fit, outer folds score).", "", "| pipeline | " + " | ".join(cols) + " |",
             "|---|" + "---|" * len(cols)]
    for name, row in {**result["overall"], **{f"old protocol: {k}": v for k, v in result["old_protocols"].items()}
                      }.items():
        lines.append(f"| {name} | " + " | ".join(str(row.get(c, "")) for c in cols) + " |")
    lines += ["", "| fold | photos | authors | default | prior only | best constant | old default | settings |",
              "|---|---|---|---|---|---|---|---|"]
    for r in result["per_fold"]:
        lines.append(f"| {r['fold']} | {r['photos']} | {r['authors']} | {r['default']['geoscore']} | "
                     f"{r['prior_only']['geoscore']} | {r['best_constant_of_inner']['geoscore']} | "
                     f"{r['old_default_densest_cell']['geoscore']} | {json.dumps(r['settings'])} |")
    lines += ["", "Coverage of the credible region by mass (% of photos whose true cell it holds):", "",
              "| mass | " + " | ".join(str(m) for m in result["coverage_by_mass"]["masses"]) + " |",
              "|---|" + "---|" * len(MASSES)]
    for name in ("default", "prior_only", "old_default"):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in result["coverage_by_mass"][name]) + " |")
    lines += ["", "Shipped (the recipe on all dev photos): " + json.dumps(result["shipped"])]
    (out / "nested.md").write_text("\n".join(lines) + "\n")


def _plot(result: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 100], [0, 100], color="grey", lw=0.8)
    masses = [m * 100 for m in result["coverage_by_mass"]["masses"]]
    for name in ("default", "prior_only", "old_default"):
        ax.plot(masses, result["coverage_by_mass"][name], "o-", label=name)
    ax.set_xlabel("credible mass (%)")
    ax.set_ylabel("photos whose true cell is inside (%)")
    ax.set_title("coverage on held-out authors (outer folds)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "coverage.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
