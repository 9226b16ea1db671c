"""Every bad input gets a clear ImageError; odd but valid formats decode upright to RGB."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from geosleuth.errors import ImageError
from geosleuth.photo import Photo


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height: a decompression bomb without the memory."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("name,message", [
    ("notes.jpg", "not a recognised image format"),
    ("empty.jpg", "empty"),
    ("truncated.jpg", "truncated or corrupt"),
    ("bomb.png", "refused"),
])
def test_bad_files(tmp_path, jpeg_bytes, name, message):
    data = {"notes.jpg": b"this is a text file, not a photo\n", "empty.jpg": b"",
            "truncated.jpg": jpeg_bytes((640, 480))[:600], "bomb.png": png_header_only(20_000, 20_000)}[name]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImageError, match=message):
        Photo.open(path)
    with pytest.raises(ImageError, match=message):
        Photo.open(data)


def test_truncated_jpeg_with_random_cut_never_crashes_with_another_error(jpeg_bytes):
    """Cut anywhere, a JPEG is refused with an ImageError saying why, never another exception."""
    data = jpeg_bytes((400, 300), color=(10, 200, 30))
    for cut in (2, 20, 100, 300, len(data) // 2, len(data) - 10):
        with pytest.raises(ImageError, match=r"^<bytes>: (not a recognised image format|truncated or corrupt)"):
            Photo.open(data[:cut])
    assert Photo.open(data).image.size == (400, 300)  # the whole file decodes


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        Photo.open(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="is a directory"):
        Photo.open(tmp_path)
    with pytest.raises(ImageError, match="cannot read an image from int"):
        Photo.open(42)


def test_pixel_limit_is_configurable(jpeg_bytes):
    with pytest.raises(ImageError, match="max_pixels"):
        Photo.open(jpeg_bytes((400, 300)), max_pixels=100_000)


def save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def test_cmyk_jpeg():
    photo = Photo.open(save(Image.new("CMYK", (50, 40), (0, 255, 255, 0)), "JPEG"))
    assert photo.image.mode == "RGB" and photo.image.size == (50, 40)
    r, g, b = photo.image.getpixel((25, 20))
    assert r > 200 and g < 60 and b < 60  # cyan 0, magenta+yellow full: red


def test_sixteen_bit_png():
    arr = np.full((30, 40), 65535 // 2, dtype=np.uint16)
    photo = Photo.open(save(Image.fromarray(arr), "PNG"))
    assert photo.image.mode == "RGB" and abs(photo.image.getpixel((0, 0))[0] - 128) <= 1


def test_palette_png_with_alpha_is_composited_on_white():
    im = Image.new("P", (20, 20), 0)
    im.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    im.info["transparency"] = 0
    photo = Photo.open(save(im, "PNG", transparency=0))
    assert photo.image.getpixel((5, 5)) == (255, 255, 255)
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert Photo.open(save(rgba, "PNG")).image.getpixel((1, 1)) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "LA", "CMYK", "F"])
def test_large_images_are_reduced_strip_by_strip_into_the_same_picture(mode, monkeypatch):
    """A large image is box-averaged a few rows at a time: every strip lands in its place (top
    half dark, bottom half light; with alpha, the transparent right half is white)."""
    import geosleuth.photo as photo_module

    monkeypatch.setattr(photo_module, "STRIP_PIXELS", 3 * 997 * 7)  # many strips, the last one short
    im = Image.new(mode, (997, 1003), {"F": 10.0, "CMYK": (0, 0, 0, 230)}.get(mode, (20,) * len(mode)))
    im.paste({"F": 240.0, "CMYK": (0, 0, 0, 10)}.get(mode, (230,) * len(mode)), (0, 502, 997, 1003))
    if "A" in mode:
        alpha = Image.new("L", (997, 1003), 255)
        alpha.paste(0, (500, 0, 997, 1003))
        im.putalpha(alpha)
    photo = Photo.open(save(im, "TIFF"), max_side=300)
    small = photo.image
    assert small.size == (298, 300)  # reduced by 3 (333 x 335), then fitted in 300
    dark, light = small.getpixel((50, 60))[0], small.getpixel((50, 250))[0]
    assert dark < 40 and light > 200
    if "A" in mode:
        assert small.getpixel((250, 60)) == (255, 255, 255)


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (30, 30), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    photo = Photo.open(data)
    assert photo.info["frames"] == 3
    r, g, b = photo.image.getpixel((10, 10))
    assert r > 200 and g < 50 and b < 50


def test_exif_orientation_is_applied():
    im = Image.new("RGB", (60, 40), (0, 0, 0))
    im.paste((255, 255, 255), (0, 0, 30, 40))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    photo = Photo.open(save(im, "JPEG", exif=exif, quality=95))
    assert photo.image.size == (40, 60) and photo.original_size == (40, 60)
    assert photo.image.getpixel((20, 5))[0] > 200  # the white half is now on top


def test_working_copy_is_capped_and_memo_runs_once(jpeg_bytes):
    photo = Photo.open(jpeg_bytes((3000, 1000)), max_side=600)
    assert photo.image.size == (600, 200) and photo.original_size == (3000, 1000)
    assert photo.scale == pytest.approx(0.2)
    big = Photo.open(jpeg_bytes((4000, 4000)), max_side=500)  # decoded through JPEG draft mode
    assert big.image.size == (500, 500) and big.original_size == (4000, 4000)
    calls = []
    assert photo.memo("ocr", lambda: calls.append(1) or "text") == "text"
    assert photo.memo("ocr", lambda: calls.append(1) or "other") == "text" and calls == [1]
    # Engines key their work by themselves: two readers' results never mix.
    one, two = object(), object()
    assert photo.memo((one, "lines"), lambda: "one") == "one" and photo.memo((two, "lines"), lambda: "two") == "two"
    assert photo.memo((one, "lines"), lambda: "again") == "one"


@pytest.mark.parametrize("arr", [
    np.zeros((20, 30, 3), np.uint8), np.zeros((20, 30), np.uint8), np.zeros((20, 30, 4), np.uint8),
    np.zeros((20, 30, 3), np.float32), np.zeros((20, 30, 3), np.uint16),
])
def test_arrays(arr):
    assert Photo.open(arr).image.size == (30, 20)


@pytest.mark.parametrize("arr", [np.zeros((2, 3, 5), np.uint8), np.zeros((0, 3, 3), np.uint8),
                                 np.full((4, 4, 3), np.nan), np.zeros((4, 4, 3), np.complex64)])
def test_bad_arrays(arr):
    with pytest.raises(ImageError):
        Photo.open(arr)


def test_shared_orientation_samples_decode_upright(shared_photos):
    files = shared_photos("exif-samples/orientation")
    assert len(files) == 16
    for f in files:
        photo = Photo.open(f)
        w, h = photo.image.size
        assert (w > h) == ("landscape" in f.name.lower()), f.name


def test_shared_invalid_exif_samples_still_decode(shared_photos):
    """Their EXIF blocks are broken; their pixels are not, and no position is made up."""
    for f in shared_photos("exif-samples/invalid"):
        photo = Photo.open(f)
        assert photo.image.mode == "RGB" and min(photo.image.size) > 1 and photo.metadata.gps is None, f.name
