"""Peak memory of one process locating a photo with the models already loaded (as in a batch), for
the largest image of each kind the default config accepts: the worst case of `image.max_pixels`.

    python benchmarks/bench_memory.py [--config default] [--megapixels N] [--out DIR]

Each case runs in a fresh process: it locates the bundled example (loading every model the
config uses), then the constructed image, and reports its peak resident memory (VmHWM, Linux).
Images are built in --out (a temporary folder by default): solid colour compresses to a few
hundred KB, which is what makes such files dangerous. Writes benchmarks/out/memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from _report import write

CHILD = """
import sys, geosleuth
from geosleuth.api import Geolocator
def peak_kb():  # VmHWM: this process's own high-water mark (ru_maxrss would carry the parent's over exec)
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
geo = Geolocator.from_config(sys.argv[1])
geo.locate(geosleuth.example_image())
loaded = peak_kb()
try:
    geo.locate(sys.argv[2])
    outcome = "located"
except Exception as exc:
    outcome = f"refused: {exc}"
print(loaded, peak_kb(), outcome)
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
    args = ap.parse_args()
    from geosleuth.config import load_config

    pixels = int(args.megapixels * 1e6) if args.megapixels else load_config(args.config)["image"]["max_pixels"]
    folder = args.out or Path(tempfile.mkdtemp(prefix="geosleuth-memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, path in cases(folder, pixels).items():
        done = subprocess.run([sys.executable, "-c", CHILD, args.config, str(path)], capture_output=True, text=True)
        if done.returncode:
            rows.append({"image": name, "error": done.stderr.strip().splitlines()[-1:]})
            continue
        loaded, peak, outcome = done.stdout.split(maxsplit=2)
        rows.append({"image": name, "file_kb": round(path.stat().st_size / 1024), "models_loaded_mb": int(loaded) // 1024,
                     "peak_mb": int(peak) // 1024, "outcome": outcome.strip()[:120]})
        print(json.dumps(rows[-1]), flush=True)
    worst = max((r for r in rows if "peak_mb" in r), key=lambda r: r["peak_mb"])
    write("memory", {"config": args.config, "max_pixels": pixels, "worst": worst, "cases": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
