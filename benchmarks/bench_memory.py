"""Peak memory of one process locating photos with its models loaded and warmed, as in a long
batch, on the largest image of each kind the config accepts: the worst case of `image.max_pixels`.

    python -m benchmarks.bench_memory [--config default] [--megapixels N] [--out DIR] [--orders 2]

Each run is a fresh process: it locates the bundled example and rendered signs in eight scripts
(loading every model the config uses, the language models and a reread model), then each
constructed image in turn, and reports the peak resident memory (VmHWM, Linux; reset before each
image) while that image was located. Runs go through the images in --orders orders (forward,
reversed, ...) and each image's worst peak is kept. Images are built in --out (a temporary folder
by default): solid colour compresses to a few hundred KB, which is what makes such files
dangerous. Writes benchmarks/out/memory.json. Run it once before measuring on a new machine:
the first run builds the gazetteer index, the phone area-code table and the grid's time zones,
which cost about 400 MB more, once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks._report import write
from benchmarks.paths import REPO

CHILD = """
import json, sys
from pathlib import Path
import geosleuth
from geosleuth.api import Geolocator
from benchmarks.sign_suite import SIGNS, render

def status(key):  # this process's own figures (ru_maxrss would carry the parent's over exec)
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key)) // 1024
geo = Geolocator.from_config(sys.argv[1])
geo.locate(geosleuth.example_image())
for script in ("Cyrl", "Arab", "Hans", "Thai", "Deva", "Hang", "Grek", "Hebr"):
    i = next(i for i, sign in enumerate(SIGNS) if sign.script == script)
    geo.locate(render(SIGNS[i], i))
print(json.dumps({"warmed_mb": status("VmRSS"), "warm_up_peak_mb": status("VmHWM")}), flush=True)
for path in sys.argv[2:]:
    open("/proc/self/clear_refs", "w").write("5")  # VmHWM starts again from the present size
    before = status("VmRSS")
    try:
        geo.locate(path)
        outcome = "located"
    except Exception as exc:
        outcome = f"refused: {exc}"
    print(json.dumps({"image": Path(path).name, "before_mb": before, "peak_mb": status("VmHWM"),
                      "outcome": outcome[:120]}), flush=True)
"""


def cases(folder: Path, pixels: int) -> dict[str, Path]:
    """The largest images of each kind within `pixels`: modes that cost most per pixel, thin
    strips, and a JPEG far beyond the limit (decoded at 1/8 size)."""
    from PIL import Image

    side = int(pixels ** 0.5)
    made = {}

    def save(name: str, im: "Image.Image", **kw) -> None:
        made[name] = folder / name
        im.save(made[name], **kw)

    save("rgb_square.png", Image.new("RGB", (side, side), (120, 140, 160)))
    save("rgba_square.png", Image.new("RGBA", (side, side), (120, 140, 160, 128)))
    save("palette_alpha.png", Image.new("P", (side, side), 3), transparency=3)
    save("one_bit_strip.png", Image.new("1", (pixels // 1400, 1400), 1))
    save("grey16.tif", Image.new("I;16", (side, side), 3000))
    save("float_nan.tif", Image.fromarray(np.full((side // 4, side // 4), np.nan, np.float32)))
    save("cmyk.tif", Image.new("CMYK", (side, side), (10, 20, 30, 40)), compression="tiff_lzw")
    save("strip_1x500.png", Image.new("RGB", (1, 500), (200, 200, 200)))
    save("jpeg_8x_limit.jpg", Image.new("RGB", (side * 2, side * 2), (90, 90, 90)), quality=50)
    return made


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="default")
    ap.add_argument("--megapixels", type=float, help="image.max_pixels to test at (default: the config's)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--orders", type=int, default=2, help="runs, each through the images in another order")
    args = ap.parse_args()
    from geosleuth.config import load_config

    pixels = int(args.megapixels * 1e6) if args.megapixels else load_config(args.config)["image"]["max_pixels"]
    folder = args.out or Path(tempfile.mkdtemp(prefix="geosleuth-memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    paths = [str(p) for p in cases(folder, pixels).values()]
    # The child imports the sign suite from this checkout's benchmarks package.
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    runs, worst = [], {}
    for k in range(args.orders):
        order = paths[::-1] if k % 2 else paths
        order = order[k // 2:] + order[:k // 2]
        done = subprocess.run([sys.executable, "-c", CHILD, args.config, *order], capture_output=True, text=True,
                              env=env)
        if done.returncode:
            print(done.stderr.strip().splitlines()[-1:], file=sys.stderr)
            return 1
        warm, *rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        runs.append(warm)
        for row in rows:
            print(json.dumps(row), flush=True)
            if row["image"] not in worst or row["peak_mb"] > worst[row["image"]]["peak_mb"]:
                worst[row["image"]] = {**row, "file_kb": round(Path(folder, row["image"]).stat().st_size / 1024)}
    cases_ = [worst[Path(p).name] for p in paths]
    write("memory", {"config": args.config, "max_pixels": pixels, "unit": "MiB",
                     "worst": max(cases_, key=lambda r: r["peak_mb"]), "warmed": runs, "cases": cases_})
    return 0


if __name__ == "__main__":
    sys.exit(main())
