"""Cost of the strong visual backends per photo, on models with random weights (no download):
the visual cue alone through `Geolocator.locate` / `locate_many`.

    python -m benchmarks.bench_clip_backends [--photos 16] [--batch 8] [--vit-l]

- tiny: a one-layer CLIP built from a `transformers` config, for GeoCLIP (with the real location
  encoder and 100K gallery from the geoclip wheel) and for CLIP zero-shot (all the default prompts);
- --vit-l: GeoCLIP's own architecture, CLIP ViT-L/14 at 224 px, with random weights (as
  `geoclip.GeoCLIP(clip_pretrained=False)` builds it): what real weights would cost here.

Reports the one-off costs (model load, gallery or prompt embeddings when not cached) and the
median seconds per photo one by one and in batches. Writes JSON to benchmarks/out.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from geosleuth.api import Geolocator
from geosleuth.cache import cache_dir
from geosleuth.cues.engines.clip import pick_device, write_random_checkpoint
from geosleuth.cues.engines.geoclip import LoadedGeoClip

from benchmarks._report import ms, write

CUES_OFF = [f"cues.{name}.enabled=false" for name in ("exif", "text", "detect", "scene")]


def photos(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (768, 1024, 3), dtype=np.uint8)) for _ in range(n)]


def time_backend(geo: Geolocator, images: list[Image.Image], batch: int) -> dict[str, object]:
    t = time.perf_counter()
    geo.locate(images[0])  # loads the model and its one-off embeddings
    first = time.perf_counter() - t
    single = []
    for im in images:
        t = time.perf_counter()
        pred = geo.locate(im)
        single.append(time.perf_counter() - t)
    assert pred.cues["visual"].status == "ok", pred.cues["visual"].note
    t = time.perf_counter()
    items = list(geo.locate_many(images))
    batched = (time.perf_counter() - t) / len(images)
    assert all(item.ok for item in items)
    return {"first_call_s": round(first, 2), "one_by_one": ms(single),
            f"in_batches_of_{batch}_ms_per_photo": round(batched * 1000, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--photos", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--vit-l", action="store_true", help="also time a ViT-L/14-sized GeoCLIP (random weights)")
    args = ap.parse_args()
    images = photos(args.photos)
    out: dict[str, object] = {"device": pick_device("auto"), "photos": args.photos,
                              "gallery_cached": any((cache_dir() / "models").glob("geoclip-gallery-*.npy"))}
    sets = CUES_OFF + [f"batch.size={args.batch}"]
    with tempfile.TemporaryDirectory() as tmp:
        tiny = write_random_checkpoint(Path(tmp) / "tiny")
        out["geoclip_tiny"] = time_backend(
            Geolocator.from_config("geoclip", sets=sets + [f"geoclip.model={tiny}"]), images, args.batch)
        out["zero_shot_tiny"] = time_backend(
            Geolocator.from_config("clip-zero-shot", sets=sets + [f"zero_shot.model={tiny}"]), images, args.batch)
    if args.vit_l:
        from geoclip import GeoCLIP

        t = time.perf_counter()
        model = LoadedGeoClip.of(GeoCLIP(from_pretrained=True, clip_pretrained=False), pick_device("auto"))
        built = time.perf_counter() - t
        one = []
        for im in images[:4]:
            t = time.perf_counter()
            model.probabilities([im])
            one.append(time.perf_counter() - t)
        t = time.perf_counter()
        model.probabilities(images[: args.batch])
        out["geoclip_vit_l14_random"] = {"build_s": round(built, 1), "one_by_one": ms(one),
                                         f"batch_of_{args.batch}_ms_per_photo":
                                             round((time.perf_counter() - t) / args.batch * 1000, 1)}
    write("clip_backends", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
