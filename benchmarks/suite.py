"""The evaluation suite on the dev set: ablations, calibration and coverage, with fitted weights.

    python -m benchmarks.suite [--folds 5] [--labels CSV]

1. Every default cue runs once on every dev photo (`Geolocator.calibration_set`); the visual and
   scene cues use heads trained without the photo's author fold (from `cv_visual.py`, run it
   first), so no photo is scored by heads that saw it. Cached in benchmarks/out/suite/.
2. For each variant (the full pipeline, each cue removed, each cue alone with the prior, the
   prior alone), cue weights and floors are fitted on four author folds and the fifth is scored
   with them (`cross_validate`), so every number is out of fold.
3. Reports accuracy of the answer users get (the expected-GeoScore point: % within
   1/25/200/750/2500 km, median km, GeoScore, country accuracy),
   coverage of the 50 % and 90 % credible regions with their median area, and reliability of the
   top-1 cell and top-1 country probabilities. Writes suite.json, suite.md and PNG plots; the
   weights fitted on all photos are in suite.json ("fitted_on_all"). The ablations' weights are
   fitted out of fold, but which variant to ship is chosen on the same folds: for numbers that
   predict new photographers, and for the shipped weights, use nested.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from geosleuth import Geolocator
from geosleuth.labels import author_folds, read_labels
from geosleuth.fusion.calibration import CalibrationSet, coverage, cross_validate, fit
from geosleuth.fusion.decision import GeoScoreDecider
from geosleuth.gazetteer import reverse_lookup
from geosleuth.geo import haversine_km

from benchmarks._metrics import THRESHOLDS_KM, summarize
from benchmarks.paths import DEV, OUTPUTS

OUT = OUTPUTS / "suite"
HEADS = OUTPUTS / "cv_visual"
CANDIDATE_WEIGHTS = ("cues.visual.weight=1", "cues.scene.weight=1")


def observations(labels, images: Path, folds: np.ndarray, grid_geo: Geolocator) -> CalibrationSet:
    """Every default cue on every photo, cached per author fold (an interrupted run resumes)."""
    cache = OUT / "observations.npz"
    if cache.is_file():
        return CalibrationSet.load(cache)
    OUT.mkdir(parents=True, exist_ok=True)
    truth = grid_geo.grid.lookup([lb.lat for lb in labels], [lb.lon for lb in labels])
    parts = []
    for k in np.unique(folds):
        rows = np.flatnonzero(folds == k)
        part = OUT / f"observations_fold{k}.npz"
        if not part.is_file():
            heads = HEADS / f"heads_fold{k}.npz"
            if not heads.is_file():
                sys.exit(f"{heads} is missing: run python -m benchmarks.cv_visual first")
            # The candidates are judged with every cue on, whatever weight the shipped config gives them.
            geo = Geolocator.from_config("default", sets=[f"features.heads={heads}", *CANDIDATE_WEIGHTS])
            print(f"fold {k}: {len(rows)} photos", file=sys.stderr)
            geo.calibration_set([images / labels[i].image_id for i in rows], truth[rows]).save(part)
        parts.append((rows, CalibrationSet.load(part)))
    merged = CalibrationSet([i for _, o in parts for i in o.image_ids], np.concatenate([o.truth for _, o in parts]),
                            {c: np.concatenate([o.loglik[c] for _, o in parts]) for c in parts[0][1].loglik},
                            {c: np.concatenate([o.seconds[c] for _, o in parts]) for c in parts[0][1].seconds})
    position = {lb.image_id: n for n, lb in enumerate(labels)}
    merged = merged.subset(np.argsort([position[i] for i in merged.image_ids], kind="stable"))  # labels' order
    merged.save(cache)
    return merged


def reliability(prob: np.ndarray, hit: np.ndarray, edges=(0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0001)) -> list[dict]:
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (prob >= lo) & (prob < hi)
        if m.any():
            out.append({"bin": [lo, min(hi, 1.0)], "n": int(m.sum()), "mean_probability": round(float(prob[m].mean()), 4),
                        "accuracy": round(float(hit[m].mean()), 4)})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEV / "images")
    ap.add_argument("--labels", type=Path, default=DEV / "dev.csv")
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args(argv)

    labels = read_labels(args.labels)
    folds_all = author_folds([lb.author for lb in labels], args.folds)
    geo = Geolocator.from_config("default")
    grid, log_prior = geo.grid, geo.log_prior()
    obs = observations(labels, args.images, folds_all, geo)
    by_id = {lb.image_id: (lb, f) for lb, f in zip(labels, folds_all)}
    kept = [by_id[i][0] for i in obs.image_ids]
    folds = np.array([by_id[i][1] for i in obs.image_ids])
    true_cc = np.array([p.country for p in reverse_lookup([lb.lat for lb in kept], [lb.lon for lb in kept])])
    lat, lon = np.array([lb.lat for lb in kept]), np.array([lb.lon for lb in kept])

    cues = list(obs.loglik)
    start = geo.cue_settings
    variants = {"full": cues, **{f"without {c}": [x for x in cues if x != c] for c in cues},
                **{f"{c} alone": [c] for c in cues}, "prior only": []}
    results, plots = {}, {}
    cell_country = grid.country_index
    decider = GeoScoreDecider.for_grid(grid)
    for name, subset in variants.items():
        sub = CalibrationSet(obs.image_ids, obs.truth, {c: obs.loglik[c] for c in subset})
        if subset:
            cv = cross_validate(log_prior, sub, folds, {c: start[c] for c in subset})
            post, fitted = cv.log_posterior, cv.folds
        else:
            post = np.broadcast_to(log_prior - np.logaddexp.reduce(log_prior), (len(obs.truth), len(grid)))
            fitted = []
        p = np.exp(post.astype(np.float64))
        best = decider.answers(post)  # the answer users get
        d = haversine_km(grid.lat[best], grid.lon[best], lat, lon)
        country_p = np.stack([grid.country_probabilities(row) for row in p])
        top_country = np.array(grid.countries)[np.argmax(country_p, axis=1)]
        row = summarize(d, np.array([grid.countries[cell_country[b]] if cell_country[b] >= 0 else "" for b in best])
                        == true_cc)
        row["country_acc_top_country"] = round(float(np.mean(top_country == true_cc) * 100), 2)
        row["mean_log_p_true_cell"] = round(float(np.mean(post[np.arange(len(best)), obs.truth])), 4)
        for mass in (0.5, 0.9):
            covered, area = coverage(post, obs.truth, grid, mass)
            row[f"coverage_{int(mass * 100)}"] = round(float(covered.mean() * 100), 2)
            row[f"median_area_{int(mass * 100)}_km2"] = round(float(np.median(area)))
        densest = np.argmax(p, axis=1)
        top1 = p[np.arange(len(densest)), densest]
        row["reliability_cell"] = reliability(top1, densest == obs.truth)
        row["reliability_country"] = reliability(country_p.max(axis=1), top_country == true_cc)
        row["fitted_per_fold"] = [{c: list(v) for c, v in f.items()} for f in fitted]
        results[name] = row
        plots[name] = (top1, densest == obs.truth, country_p.max(axis=1), top_country == true_cc)
        print(f"{name:20s} GeoScore {row['geoscore']:7.1f}  cov90 {row['coverage_90']:5.1f}%  "
              f"log p {row['mean_log_p_true_cell']:.3f}", file=sys.stderr)

    fitted_all, score_all = fit(log_prior, obs, start)
    summary = {"photos": len(obs.truth), "folds": f"{args.folds} (crc32 of AUTHOR)", "cues": cues,
               "start": {c: list(v) for c, v in start.items()},
               "fitted_on_all": {c: list(v) for c, v in fitted_all.items()}, "fitted_on_all_log_p": round(score_all, 4),
               "cue_seconds": {c: {"median": round(float(np.median(s)), 3), "p95": round(float(np.percentile(s, 95)), 3)}
                               for c, s in obs.seconds.items()},
               "variants": results}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "suite.json").write_text(json.dumps(summary, indent=2) + "\n")
    _markdown(summary)
    _plots(results, plots)
    return 0


def _markdown(summary: dict) -> None:
    cols = [f"acc_{t}km" for t in THRESHOLDS_KM] + ["median_km", "geoscore", "country_acc", "coverage_50",
                                                     "coverage_90", "median_area_90_km2", "mean_log_p_true_cell"]
    lines = [f"{summary['photos']} dev photos, {summary['folds']} author folds; weights fitted out of fold.", "",
             "| variant | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, row in summary["variants"].items():
        lines.append(f"| {name} | " + " | ".join(str(row[c]) for c in cols) + " |")
    lines += ["", "Cue latency (s): " + ", ".join(f"{c} median {v['median']} p95 {v['p95']}"
                                                  for c, v in summary["cue_seconds"].items()),
              "", "Fitted on all photos (weight, floor): " + json.dumps(summary["fitted_on_all"])]
    (OUT / "suite.md").write_text("\n".join(lines) + "\n")


def _plots(results: dict, plots: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh(names[::-1], [results[n]["geoscore"] for n in names[::-1]], color="#4472c4")
    ax.set_xlabel("mean GeoScore (out of fold)")
    fig.tight_layout()
    fig.savefig(OUT / "ablation_geoscore.png", dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, key, title in ((axes[0], "reliability_cell", "top-1 cell"), (axes[1], "reliability_country", "top-1 country")):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        for name in ("full", "prior only"):
            bins = results[name][key]
            ax.plot([b["mean_probability"] for b in bins], [b["accuracy"] for b in bins], "o-", label=name)
        ax.set_title(f"reliability: {title}")
        ax.set_xlabel("predicted probability")
        ax.set_ylabel("observed accuracy")
        ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "reliability.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
