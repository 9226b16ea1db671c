from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GEOSLEUTH_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared reference data beside the checkout; tests needing it skip when it is absent."""
    if not (SHARED / "data").is_dir():
        pytest.skip("../shared is not present")
    return SHARED


@pytest.fixture(scope="session")
def grid():
    from geosleuth.fusion.grid import CellGrid

    return CellGrid.default()


@pytest.fixture(scope="session")
def jpeg_bytes():
    """Factory: a plain JPEG of `size` as bytes."""
    from PIL import Image

    def make(size=(320, 240), color=(120, 160, 200), **save) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", size, color).save(buf, "JPEG", quality=90, **save)
        return buf.getvalue()

    return make


FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/opentype/noto", "/usr/share/fonts/truetype/noto")


def find_font(*names: str):
    """A TrueType font from the machine, or None (tests that need it skip)."""
    for folder in FONT_DIRS:
        for name in names:
            if Path(folder, name).is_file():
                return str(Path(folder, name))
    return None


@pytest.fixture(scope="session")
def render_sign():
    """Factory: a street sign (white text on a blue panel against a wall) as an RGB array."""
    from PIL import Image, ImageDraw, ImageFont

    def make(lines, font_path=None, size=64, panel=(20, 60, 140)):
        font_path = font_path or find_font("DejaVuSans-Bold.ttf")
        if font_path is None:
            pytest.skip("no TrueType font on this machine")
        font = ImageFont.truetype(font_path, size)
        im = Image.new("RGB", (900, 420), (200, 200, 195))
        draw = ImageDraw.Draw(im)
        draw.rounded_rectangle([60, 80, 840, 340], 16, fill=panel)
        for k, text in enumerate(lines):
            draw.text((450, 160 + k * 100), text, font=font, fill=(255, 255, 255), anchor="mm")
        import numpy as np

        return np.asarray(im)

    return make


@pytest.fixture(scope="session")
def font():
    """Factory: path of the first installed font among the names given, or None."""
    return find_font
