"""Speed of the foundation: `import geosleuth`, grid load, the answer (decision), fusion + result,
end to end.

    python -m benchmarks.bench_speed [--cells 5000] [--cues 4] [--repeat 200]

Fusion is timed on a grid of about --cells finest cells (built from the shared photo sample when
present, else from random points) with --cues random likelihoods. Writes JSON to benchmarks/out.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from geosleuth.config import load_config
from geosleuth.cues.base import CueOutput
from geosleuth.fusion.combine import log_normalise
from geosleuth.fusion.decision import GeoScoreDecider
from geosleuth.fusion.grid import CellGrid, build_grid, read_coordinates
from geosleuth.observation import Observation
from geosleuth.pipeline import predict

from benchmarks._report import ms, write
from benchmarks.paths import DATA, REPO


def grid_with(cells: int) -> CellGrid:
    coords = DATA / "gps_gallery_100k.csv"
    if coords.is_file():
        lat, lon, _ = read_coordinates(coords)
    else:
        rng = np.random.default_rng(0)
        lat, lon = rng.normal(30, 20, 100_000).clip(-89, 89), rng.uniform(-180, 180, 100_000)
    t_max = 80
    grid = build_grid(lat, lon, t_max=t_max)
    while len(grid) < cells:  # finer until there are at least `cells` cells
        t_max = int(t_max * len(grid) / cells)
        grid = build_grid(lat, lon, t_max=t_max)
    return grid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cells", type=int, default=5000)
    ap.add_argument("--cues", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    out: dict[str, object] = {}

    imports = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import geosleuth"], check=True)
        imports.append(time.perf_counter() - t)
    base = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        base.append(time.perf_counter() - t)
    out["import_geosleuth"] = {"process_with_import_ms": ms(imports)["median_ms"],
                               "bare_interpreter_ms": ms(base)["median_ms"]}

    t = time.perf_counter()
    CellGrid.load(REPO / "fusion" / "data" / "grid_v1.npz")
    out["default_grid_load_ms"] = round((time.perf_counter() - t) * 1000, 2)

    grid = grid_with(args.cells)
    rng = np.random.default_rng(0)
    log_prior = grid.log_prior()
    samples = []
    _ = grid.tokens, grid.cell_country  # per-grid caches, built once
    t = time.perf_counter()
    decider = GeoScoreDecider.for_grid(grid)
    out["decision_build_ms"] = round((time.perf_counter() - t) * 1000, 2)  # once per grid
    posts = [np.exp(log_normalise(log_prior + rng.normal(0, 3, len(grid)))) for _ in range(args.repeat)]
    times = []
    for p in posts:
        t = time.perf_counter()
        decider.decide(p)
        times.append(time.perf_counter() - t)
    out["decision"] = {"cells": len(grid), **ms(times)}
    output = load_config("default")["output"]
    for _ in range(args.repeat):
        said = [Observation(f"cue{k}", CueOutput(rng.normal(0, 3, len(grid))), "ok", 1.0, 1e-3)
                for k in range(args.cues)]
        t = time.perf_counter()
        pred = predict(grid, log_prior, said, image="x", image_size=(1, 1), output=output, timings={}, started=t)
        pred.to_dict()
        samples.append(time.perf_counter() - t)
    out["fusion_and_result"] = {"cells": len(grid), "cues": args.cues, **ms(samples)}

    from geosleuth import Geolocator, example_image

    geo = Geolocator.from_config("prior-only")
    geo.locate(example_image())
    e2e = []
    for _ in range(20):
        t = time.perf_counter()
        geo.locate(example_image())
        e2e.append(time.perf_counter() - t)
    out["locate_prior_only_1280px"] = ms(e2e)

    write("speed", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
