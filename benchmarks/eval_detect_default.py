"""Should the detect cue be on by default? It, added to the shipped default, on the dev photos.

    python -m benchmarks.eval_detect_default [--part K/N] [--merge N] [--weights PATH]

Step 1 (cached per part in out/detect_dev/; run N parts at once, then --merge N): what the detect
cue alone (the shared YOLO weights) said of each dev photo, with its seconds. Step 2: the
shipped default's observations (eval_experts' cache: exif and text) with and without the detect
cue at its shipped weight and floor, scored on each author fold beside the prior alone and the
best constant of the other folds. Nothing is fitted on these photos, so the folds only show how
the change spreads over photographers.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from geosleuth import Geolocator
from geosleuth.config import load_config
from geosleuth.fusion.calibration import CalibrationSet, log_posteriors
from geosleuth.geo import haversine_km
from geosleuth.labels import author_folds, read_labels

from benchmarks._report import ms, write
from benchmarks.eval_experts import SHIPPED, default_observations, scored, summary
from benchmarks.nested import best_constant
from benchmarks.paths import DEV, OUTPUTS, YOLO

OUT = OUTPUTS / "detect_dev"


def detect_only(weights: str) -> Geolocator:
    """The default config with the detect cue alone on."""
    config = load_config(sets=[f"detector.weights={weights}", "cues.detect.enabled=true"])
    for name, cue in config["cues"].items():
        if name != "detect" and isinstance(cue, dict) and "enabled" in cue:
            cue["enabled"] = False
    return Geolocator(config)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=str(YOLO))
    ap.add_argument("--part", default="0/1", help="K/N: observe every N-th photo from the K-th")
    ap.add_argument("--merge", type=int, metavar="N", help="score the N parts observed before")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--limit", type=int, help="the first N dev photos only (a smoke run)")
    args = ap.parse_args(argv)
    if not (DEV / "dev.csv").is_file():
        sys.exit(f"{DEV} is missing")
    labels = read_labels(DEV / "dev.csv")[: args.limit]
    if args.merge is None:
        k, n = (int(v) for v in args.part.split("/"))
        geo = detect_only(args.weights)
        part = labels[k::n]
        truth = geo.grid.lookup([lb.lat for lb in part], [lb.lon for lb in part])
        obs = geo.calibration_set([DEV / "images" / lb.image_id for lb in part], truth)
        OUT.mkdir(parents=True, exist_ok=True)
        obs.save(OUT / f"part{k}of{n}.npz")
        if n > 1:
            return 0
        args.merge = 1
    parts = [CalibrationSet.load(OUT / f"part{k}of{args.merge}.npz") for k in range(args.merge)]
    detect = {i: (row, s) for p in parts for i, row, s in zip(p.image_ids, p.loglik["detect"], p.seconds["detect"])}
    geo = Geolocator(load_config("default", overrides={"cues": {"visual": {"enabled": False},
                                                                "scene": {"enabled": False}}}))
    grid, prior = geo.grid, geo.log_prior()
    truth = grid.lookup([lb.lat for lb in labels], [lb.lon for lb in labels])
    obs = default_observations(geo, labels, truth)
    keep = np.array([i in detect for i in obs.image_ids])
    obs = obs.subset(keep)
    obs.loglik["detect"] = np.stack([detect[i][0] for i in obs.image_ids])
    spoke = ~np.isnan(obs.loglik["detect"]).any(axis=1)
    by_id = {lb.image_id: lb for lb in labels}
    kept = [by_id[i] for i in obs.image_ids]
    lat, lon = np.array([lb.lat for lb in kept]), np.array([lb.lon for lb in kept])
    folds = author_folds([lb.author for lb in kept], args.folds)
    shipped = {c: (geo.config["cues"][c]["weight"], geo.config["cues"][c]["floor"]) for c in SHIPPED}
    detect_settings = {"detect": (geo.config["cues"]["detect"]["weight"], geo.config["cues"]["detect"]["floor"])}
    rows = {"prior alone": scored(grid, log_posteriors(prior, obs, {}), lat, lon, obs.truth),
            "default (shipped)": scored(grid, log_posteriors(prior, obs, shipped), lat, lon, obs.truth),
            "default + detect": scored(grid, log_posteriors(prior, obs, {**shipped, **detect_settings}), lat, lon,
                                       obs.truth)}
    km_const = np.zeros(len(lat))
    for k in np.unique(folds):
        point = best_constant(grid, lat[folds != k], lon[folds != k])
        km_const[folds == k] = haversine_km(point[0], point[1], lat[folds == k], lon[folds == k])
    rows["best constant"] = {"km": km_const}
    seconds = np.array([detect[i][1] for i in obs.image_ids])
    write("detect_default", {
        "photos": len(kept), "detect_spoke": int(spoke.sum()),
        "overall": {v: summary(r) for v, r in rows.items()},
        "where_detect_spoke": {v: summary(r, spoke) for v, r in rows.items()} if spoke.any() else None,
        "per_fold_geoscore": {v: [summary(r, folds == k)["geoscore"] for k in np.unique(folds)] for v, r in rows.items()},
        "detect_seconds": ms(list(seconds)),
        "spoke": [i for i, s in zip(obs.image_ids, spoke) if s],
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
