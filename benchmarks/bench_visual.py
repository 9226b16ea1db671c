"""Speed of the visual cues: model load, batched feature extraction, per-photo cue latency.

    python -m benchmarks.bench_visual [--limit 256] [--batch 32]

Model load is timed in a fresh interpreter (torch and timm imports included, then without them).
Feature extraction reads and decodes the dev photos and runs the backbone in batches at 224 px;
the per-photo latency is the visual + scene cues through `Geolocator.locate`, one photo at a time.
Writes benchmarks/out/visual_speed.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from geosleuth.cues.engines.backbone import build_backbone
from geosleuth.cues.training.classifier import extract_features

from benchmarks.paths import DEV, OUTPUTS

LOAD = """
import time; t0 = time.perf_counter()
import torch, timm; t1 = time.perf_counter()
from geosleuth.cues.engines.backbone import build_backbone; from geosleuth.cues.engines.heads import DEFAULT_HEADS, CellHeads
build_backbone("efficientnet_lite0", "embedded"); CellHeads.load(DEFAULT_HEADS); t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=DEV / "images")
    ap.add_argument("--limit", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args(argv)

    loads = [tuple(map(float, subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True,
                                             check=True).stdout.split())) for _ in range(3)]
    paths = sorted(args.images.glob("*.jpg"))[: args.limit]
    backbone = build_backbone("efficientnet_lite0", "embedded")
    extract_features(backbone, paths[:8], batch_size=args.batch, progress=False)  # warm-up
    start = time.perf_counter()
    extract_features(backbone, paths, batch_size=args.batch, progress=False)
    rate = len(paths) / (time.perf_counter() - start)

    from geosleuth import Geolocator

    geo = Geolocator.from_config("prior-only", sets=["cues.visual.enabled=true", "cues.scene.enabled=true"])
    geo.locate(paths[0])
    seconds = []
    for path in paths[:64]:
        start = time.perf_counter()
        geo.locate(path)
        seconds.append(time.perf_counter() - start)
    result = {"images": len(paths), "batch": args.batch,
              "features_images_per_s": round(rate, 1),
              "import_torch_timm_s": round(float(np.median([a for a, _ in loads])), 2),
              "model_load_s": round(float(np.median([b for _, b in loads])), 2),
              "locate_visual_scene_s": {"median": round(float(np.median(seconds)), 3),
                                        "p95": round(float(np.percentile(seconds, 95)), 3)}}
    out = OUTPUTS / "visual_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
