"""A corpus of bad inputs, configs, outputs and API misuses, generated here, each with its exact
outcome: an exit code and a message for the CLI, a geosleuth error for the API; never a
traceback, a hang, a silent misconfiguration, or a lost or overwritten file."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

import geosleuth
from geosleuth.api import Geolocator
from geosleuth.app.cli import main
from geosleuth.config import RANGES, default_config
from geosleuth.errors import ConfigError, GeosleuthError, ImageError, UsageError
from geosleuth.preflight import CHECKS

EXAMPLE = Path(geosleuth.example_image())


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err, err
    return code, out, err


def digest(folder: Path) -> dict[str, str]:
    """Every file under `folder` (links not followed) and its content hash."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


# ---- files: each is located alone by the CLI and must fail with this message (exit 1) ---------
def png(mode: str, size: tuple[int, int], **save) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG", **save)
    return buf.getvalue()


def encoded(kind: str, size: tuple[int, int] = (16, 16), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 90).save(buf, kind)
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header declares `width` x `height`."""
    import struct
    import zlib

    data = bytearray(png("RGB", (1, 1)))
    data[16:24] = struct.pack(">II", width, height)  # IHDR's width and height, then its CRC
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


JPEG = EXAMPLE.read_bytes()
BAD_FILES = {
    "empty.jpg": (b"", "empty file (0 bytes)"),
    "text.jpg": (b"just some notes\n", "not a recognised image format"),
    "random.png": (bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), "not a recognised image format"),
    "html.webp": (b"<html><body>hi</body></html>", "not a recognised image format"),
    "zip.jpg": (b"PK\x03\x04" + b"\x00" * 100, "not a recognised image format"),
    "head_only.jpg": (JPEG[:200], "truncated or corrupt"),
    "half.jpg": (JPEG[: len(JPEG) // 2], "truncated or corrupt"),
    "cut_png.png": (png("RGB", (64, 64))[:60], "truncated or corrupt"),
    "declares_10gp.png": (png_header(100_000, 100_000), "refused, 100000x100000"),
    "declares_60mp.png": (png_header(10_000, 6_000), "exceeds the limit of 50,000,000 (image.max_pixels)"),
    "icon.ico": (encoded("ICO"), "not a recognised image format (geosleuth reads JPEG"),
    "paint.pcx": (encoded("PCX"), "not a recognised image format"),
    "targa.tga": (encoded("TGA"), "not a recognised image format"),
    "sgi.sgi": (encoded("SGI"), "not a recognised image format"),
    "netpbm.ppm": (encoded("PPM"), "not a recognised image format"),
    "eps.jpg": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", "not a recognised image format"),
    "svg.png": (b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>", "not a recognised image format"),
    "pdf.jpg": (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "not a recognised image format"),
    "gif_header.gif": (b"GIF89a\x10\x00\x10\x00", "not a recognised image format"),
    "bmp_header.bmp": (encoded("BMP")[:30], "truncated or corrupt"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_fails_alone_with_its_reason(capsys, tmp_path, name):
    data, reason = BAD_FILES[name]
    (tmp_path / name).write_bytes(data)
    before = digest(tmp_path)
    code, out, err = run(capsys, "locate", str(tmp_path / name), "--config", "prior-only")
    assert code == 1 and f"failed: {tmp_path / name}: " in err and reason in err and out == ""
    assert digest(tmp_path) == before


def odd_entries(folder: Path) -> dict[str, str]:
    """Entries a folder may hold that are not photos, and why each is skipped."""
    folder.mkdir()
    (folder / ".hidden.jpg").write_bytes(JPEG)
    (folder / ".cache").mkdir()
    (folder / ".cache" / "x.jpg").write_bytes(JPEG)
    os.mkfifo(folder / "fifo.jpg")
    (folder / "broken.jpg").symlink_to(folder / "nowhere.jpg")
    (folder / "loop_a.jpg").symlink_to(folder / "loop_b.jpg")
    (folder / "loop_b.jpg").symlink_to(folder / "loop_a.jpg")
    (folder / "zero.jpg").symlink_to("/dev/zero")
    (folder / "up").symlink_to(folder)
    (folder / "notes.txt").write_text("not a photo")
    return {".hidden.jpg": "hidden file", ".cache": "hidden folder", "fifo.jpg": "not a regular file",
            "broken.jpg": "broken or looping link", "loop_a.jpg": "broken or looping link",
            "loop_b.jpg": "broken or looping link", "zero.jpg": "not a regular file",
            "up": "link to a folder (not followed)", "notes.txt": "not an image file name"}


@pytest.mark.parametrize("entry", [".hidden.jpg", ".cache", "fifo.jpg", "broken.jpg", "loop_a.jpg", "loop_b.jpg",
                                   "zero.jpg", "up", "notes.txt"])
def test_folder_entry_is_reported_not_hung_on(capsys, tmp_path, entry):
    why = odd_entries(tmp_path / "in")
    (tmp_path / "in" / "a").mkdir()
    shutil.copy(EXAMPLE, tmp_path / "in" / "a" / "same.jpg")
    (tmp_path / "in" / "b").mkdir()
    shutil.copy(EXAMPLE, tmp_path / "in" / "b" / "same.jpg")
    code, _, err = run(capsys, "locate", str(tmp_path / "in"), "--config", "prior-only", "--csv", str(tmp_path / "o.csv"))
    assert code == 0 and f"skipped {tmp_path / 'in' / entry}: {why[entry]}" in err
    ids = [line.split(",")[0] for line in (tmp_path / "o.csv").read_text().splitlines()[1:]]
    assert ids == ["a/same.jpg", "b/same.jpg"]  # one row per photo, told apart


@pytest.mark.parametrize("path, reason", [
    ("/dev/zero", "not a regular file (a character device)"),
    ("/dev/null", "not a regular file (a character device)"),
    ("/nonexistent/photo.jpg", "no such file"),
    ("/tmp/" + "n" * 300 + ".jpg", "cannot read (File name too long)"),
])
def test_special_paths_fail_clearly(capsys, path, reason):
    code, _, err = run(capsys, "locate", path, "--config", "prior-only")
    assert code == 1 and reason in err


def test_a_fifo_given_directly_does_not_hang(capsys, tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    code, _, err = run(capsys, "locate", str(tmp_path / "pipe.jpg"), "--config", "prior-only")
    assert code == 1 and "not a regular file (a FIFO)" in err


def test_formula_names_are_written_as_text(capsys, tmp_path):
    names = ["=HYPERLINK(\"x\",\"y\").jpg", "+cmd.jpg", "-2+3.jpg", "@SUM(A1).jpg", "plain.jpg"]
    (tmp_path / "in").mkdir()
    for name in names:
        shutil.copy(EXAMPLE, tmp_path / "in" / name)
    code, _, _ = run(capsys, "locate", str(tmp_path / "in"), "--config", "prior-only", "--csv", str(tmp_path / "o.csv"))
    import csv

    ids = sorted(row[0] for row in list(csv.reader((tmp_path / "o.csv").read_text().splitlines()))[1:])
    assert code == 0 and ids == sorted("'" + n if n[0] in "=+-@" else n for n in names)


# ---- images that decode, oddly: located, with no warning on stderr ----------------------------
def saved(im: Image.Image, kind: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, kind, **kw)
    return buf.getvalue()


def frames() -> list[Image.Image]:
    return [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 255, 0))]


ODD_IMAGES: dict[str, Callable[[], bytes]] = {  # each made when its test runs
    "one_pixel.png": lambda: saved(Image.new("RGB", (1, 1)), "PNG"),
    "strip_1x500.png": lambda: saved(Image.new("RGB", (1, 500)), "PNG"),
    "strip_500x1.png": lambda: saved(Image.new("RGB", (500, 1)), "PNG"),
    "one_bit_wide.png": lambda: saved(Image.new("1", (30_000, 400), 1), "PNG"),
    "grey16.png": lambda: saved(Image.new("I;16", (64, 64), 40000), "PNG"),
    "palette_alpha.png": lambda: saved(Image.new("P", (64, 64), 0), "PNG", transparency=0),
    "la.png": lambda: saved(Image.new("LA", (64, 64)), "PNG"),
    "cmyk.jpg": lambda: saved(Image.new("CMYK", (64, 64), (0, 50, 100, 0)), "JPEG"),
    "nan.tif": lambda: saved(Image.fromarray(np.full((32, 32), np.nan, np.float32)), "TIFF"),
    "pages.tif": lambda: saved(frames()[0], "TIFF", save_all=True, append_images=frames()[1:]),
    "anim.gif": lambda: saved(frames()[0], "GIF", save_all=True, append_images=frames()[1:]),
    "big_solid.png": lambda: saved(Image.new("RGB", (7000, 7000), (10, 20, 30)), "PNG"),  # 49 MP, 150 KB
    "bmp.bmp": lambda: saved(Image.new("RGB", (40, 30)), "BMP"),
    "webp.webp": lambda: saved(Image.new("RGB", (40, 30)), "WEBP"),
}


@pytest.mark.parametrize("name", sorted(ODD_IMAGES))
def test_odd_image_is_located_quietly(capsys, tmp_path, name):
    (tmp_path / name).write_bytes(ODD_IMAGES[name]())
    code, out, err = run(capsys, "locate", str(tmp_path / name), "--config", "prior-only", "--json")
    answer = json.loads(out)["answer"]
    assert code == 0 and err == "" and -90 <= answer["lat"] <= 90 and -180 <= answer["lon"] <= 180


def test_broken_gps_is_reported_in_words(tmp_path):
    exif = Image.Exif()
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 30.0)  # a latitude and no longitude
    Image.new("RGB", (32, 32)).save(tmp_path / "gps.jpg", exif=exif)
    pred = Geolocator.from_config("prior-only", cues={"exif": True}).locate(tmp_path / "gps.jpg")
    assert "GPS rejected: longitude is missing" in " ".join(e.summary for e in pred.cues["exif"].evidence) + \
        pred.cues["exif"].note


# ---- configuration: every range, choice and named model is checked before any photo (exit 2) ---
def _out_of_range() -> list[tuple[str, str]]:
    """For every numeric key (a `*` pattern stands for each cue): a value just below and above
    its range, and infinity."""
    cases = []
    for pattern, (low, high) in RANGES.items():
        key = pattern.replace("*", "text")
        integer = isinstance(_value(default_config(), key), int)
        below = int(low) - 1 if integer else low / 2 if low > 0 else -1.0
        above = int(high) + 1 if integer else high * 2
        cases += [(key, repr(below)), (key, repr(above))] + ([] if integer else [(key, ".inf")])
    return cases


def _value(config: dict, key: str):
    for part in key.split("."):
        config = config[part]
    return config


@pytest.mark.parametrize("key, value", _out_of_range())
def test_out_of_range_values_are_refused(capsys, key, value):
    code, out, err = run(capsys, "locate", "--config", "prior-only", "--set", f"{key}={value}")
    assert code == 2 and out == "" and f"config error: {key} must be in [" in err


@pytest.mark.parametrize("setting, message", [
    ("cues.visual.image_size=100000", "unknown config key 'cues.visual.image_size'"),
    ("cues.text.backends=[nosuch]", "unknown config key 'cues.text.backends'"),
    ("ocr.backends=[nosuch]", "ocr.backends: unknown value 'nosuch'"),
    ("ocr.backends=easyocr", "expects a list of str"),
    ("output.decision=closest", "output.decision: unknown value 'closest'"),
    ("cues.visual.backend=geoclp", "did you mean 'geoclip'"),
    ("prior.smoothing=.nan", "prior.smoothing must be in"),
    ("output.top_k=many", "expects int"),
    ("cues.exif.floor=abc", "expects float"),
    ("cues.nosuch.weight=1", "unknown cue 'nosuch'"),
    ("output=3", "must be a mapping"),
    ("novalue", "--set expects key=value"),
])
def test_bad_settings_are_refused(capsys, setting, message):
    code, out, err = run(capsys, "locate", "--config", "prior-only", "--set", setting)
    assert code == 2 and out == "" and message in err


@pytest.mark.parametrize("key", sorted(k for k in CHECKS if k not in ("ocr.backends", "cues.visual.backend")))
def test_a_named_model_or_file_that_is_missing_is_refused(capsys, tmp_path, key):
    code, out, err = run(capsys, "locate", "--config", "prior-only", "--set", f"{key}={tmp_path / 'missing.bin'}")
    assert code == 2 and out == "" and f"{key}={tmp_path / 'missing.bin'}: " in err


@pytest.mark.parametrize("key", ["grid", "features.heads", "cues.visual.gallery"])
def test_a_named_file_of_another_kind_is_refused(capsys, key):
    code, _, err = run(capsys, "locate", "--config", "prior-only", "--set", f"{key}=/etc/hostname")
    assert code == 2 and f"{key}=/etc/hostname: cannot read" in err


def test_the_default_settings_pass_and_the_cues_command_lists_what_is_missing(capsys, tmp_path):
    code, out, _ = run(capsys, "cues", "--set", f"detector.weights={tmp_path / 'no.pt'}")
    assert code == 0 and "no.pt" in out


# ---- outputs: checked before any work, never over an input ------------------------------------
@pytest.mark.parametrize("flag, target, message", [
    ("--report", "{photo}", "is one of the input photos; refusing to overwrite it"),
    ("--csv", "{photo}", "is one of the input photos; refusing to overwrite it"),
    ("--csv", "{other_image}", "is an existing image file; refusing to overwrite it"),
    ("--report", "{folder}", "is a folder; give a file name"),
    ("--csv", "{folder}", "is a folder; give a file name"),
    ("--csv", "{folder}/missing/out.csv", "does not exist"),
    ("--report", "{folder}/missing/out.html", "does not exist"),
    ("--csv", "{link_to_photo}", "is one of the input photos"),
])
def test_outputs_never_overwrite_inputs(capsys, tmp_path, flag, target, message):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "photo.jpg")
    shutil.copy(EXAMPLE, tmp_path / "other.jpg")
    (tmp_path / "link.csv").symlink_to(folder / "photo.jpg")
    before = digest(tmp_path)
    path = target.format(photo=folder / "photo.jpg", other_image=tmp_path / "other.jpg", folder=folder,
                         link_to_photo=tmp_path / "link.csv")
    code, out, err = run(capsys, "locate", str(folder / "photo.jpg"), "--config", "prior-only", flag, path)
    assert code == 2 and out == "" and message in err
    assert digest(tmp_path) == before


def test_a_full_disk_is_found_before_any_work(capsys):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    code, _, err = run(capsys, "locate", "--config", "prior-only", "--csv", "/dev/full")
    assert code == 1 and "cannot write /dev/full: No space left on device" in err


@pytest.mark.slow
def test_stdout_closed_early_is_quiet(tmp_path):
    """`geosleuth locate ... --json | head -c 10`: no BrokenPipeError."""
    cmd = f"{sys.executable} -m geosleuth.app.cli locate {EXAMPLE} --config prior-only --json | head -c 10"
    done = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=120)
    assert len(done.stdout) == 10 and "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_batch_keeps_every_finished_row(tmp_path, sig, code):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(400):
        shutil.copy(EXAMPLE, folder / f"p{i:03d}.jpg")
    out = tmp_path / "rows.csv"
    proc = subprocess.Popen([sys.executable, "-m", "geosleuth.app.cli", "locate", str(folder), "--config", "prior-only",
                             "--csv", str(out)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while (not out.exists() or out.read_text().count("\n") < 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    rows = out.read_text().splitlines()[1:]
    assert proc.returncode == code and f"interrupted ({sig.name}) after {len(rows)} of 400 images" in err
    assert 0 < len(rows) < 400 and all(r.count(",") == 5 and r.split(",")[1] for r in rows)  # whole rows
    assert "Traceback" not in err


# ---- the Python API ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def geo() -> Geolocator:
    return Geolocator.from_config("prior-only")


def closed_image() -> Image.Image:
    im = Image.new("RGB", (8, 8))
    im.close()
    return im


@pytest.mark.parametrize("image, error, message", [
    (lambda: Image.new("La", (16, 16)), None, ""),
    (closed_image, ImageError, "cannot use this image"),
    (lambda: "x" * 5000, ImageError, "File name too long"),
    (lambda: 12345, ImageError, "cannot read an image from int"),
    (lambda: None, ImageError, "cannot read an image from NoneType"),
    (lambda: np.zeros((4, 4, 5), np.uint8), ImageError, "expected shape"),
    (lambda: np.zeros((0, 4, 3), np.uint8), ImageError, "no pixels"),
    (lambda: np.full((4, 4), np.nan), ImageError, "NaN or infinity"),
    (lambda: np.zeros((4, 4), np.complex64), ImageError, "unsupported dtype"),
    (lambda: b"", ImageError, "empty input"),
    (lambda: b"\x89PNG", ImageError, "not a recognised image format"),
])
def test_api_inputs(geo, image, error, message):
    if error is None:
        assert geo.locate(image()).answer is not None
        return
    with pytest.raises(error, match=message):
        geo.locate(image())


@pytest.mark.parametrize("call, error, message", [
    (lambda g: list(g.locate_many(str(EXAMPLE))), UsageError, "takes a list of images"),
    (lambda g: list(g.locate_many(EXAMPLE)), UsageError, "takes a list of images"),
    (lambda g: list(g.locate_many([EXAMPLE], workers=-1)), ConfigError, "workers must be a whole number"),
    (lambda g: list(g.locate_many([EXAMPLE], workers="2")), ConfigError, "workers must be a whole number"),
    (lambda g: list(g.locate_many([EXAMPLE], workers=0)), ConfigError, "workers must be a whole number"),
    (lambda g: list(g.locate_many([EXAMPLE], workers=True)), ConfigError, "workers must be a whole number"),
    (lambda g: Geolocator([1]), ConfigError, "not list"),
    (lambda g: Geolocator.from_config("no-such-config"), ConfigError, "no config named"),
    (lambda g: Geolocator.from_config("prior-only", output={"top_k": 0}), ConfigError, "output.top_k must be in"),
    (lambda g: Geolocator.from_config("prior-only", cues=[1]), ConfigError, "must be a mapping"),
])
def test_api_misuse(geo, call, error, message):
    with pytest.raises(error, match=message):
        call(geo)


def test_a_batch_reports_bad_items_and_goes_on(geo, tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    items = list(geo.locate_many([EXAMPLE, tmp_path / "bad.jpg", tmp_path / "missing.jpg", EXAMPLE]))
    assert [i.ok for i in items] == [True, False, False, True]
    assert "not a recognised image format" in items[1].error and "no such file" in items[2].error
    assert all(isinstance(i.error, str) for i in items if not i.ok)


def test_every_geosleuth_error_is_a_builtin_too():
    assert issubclass(UsageError, TypeError) and issubclass(ImageError, ValueError) and \
        issubclass(ConfigError, ValueError) and issubclass(UsageError, GeosleuthError)


def test_the_pixel_limit_is_geosleuths_own(recwarn):
    """Pillow would warn above 89 MP and refuse above 179 MP whatever image.max_pixels says; the
    header of a 195 MP image opens quietly, and the refusal quotes image.max_pixels."""
    from geosleuth.photo import Photo

    with pytest.raises(ImageError, match=r"refused, 15000x13000 = 195,000,000 pixels exceeds the limit of "
                                         r"100,000,000 \(image.max_pixels\)"):
        Photo.open(png_header(15_000, 13_000), max_pixels=100_000_000)
    assert not recwarn.list
