from __future__ import annotations

import io
import os
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))  # helper modules beside the tests (sign_suite)
SHARED = Path(os.environ.get("GEOSLEUTH_SHARED", REPO.parent / "shared"))
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).is_file()), None)


@contextmanager
def serving(make_server: Callable[[int], "object"]) -> Iterator[str]:
    """A uvicorn server made for a free loopback port, run in a thread: yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = make_server(port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


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


# ---- fake and real engines for the cues ----------------------------------------------------------
class FakeReader:
    """An OCR reader that 'reads' given lines on every image and counts its calls; `shapes` are
    the images it was asked to read (the full photo, or crops)."""

    def __init__(self, lines=(), confidence=0.9, box=(0.0, 0.0, 100.0, 20.0)):
        self.lines, self.confidence, self.box = list(lines), confidence, tuple(box)
        self.shapes: list[tuple[int, ...]] = []

    @property
    def calls(self) -> int:
        return len(self.shapes)

    def available(self):
        return True, "fake"

    def cannot_read(self):
        return ""

    def read(self, image, min_confidence=None):
        from geosleuth.cues.engines.ocr import TextRead

        self.shapes.append(tuple(image.shape))
        return [TextRead(t, self.confidence, self.box, "fake") for t in self.lines]

    scales_lines = reads_crops = False  # a plain reader (the OcrBackend protocol)

    def script(self, image):
        return None


class FakeDetector:
    """An object detector that 'finds' given detections on every image and counts its calls."""

    def __init__(self, detections=(), imgsz=640, conf=0.25, allow_download=False):
        self.detections, self.imgsz, self.conf, self.allow_download = list(detections), imgsz, conf, allow_download
        self.calls = 0

    def available(self):
        return True, "fake detector"

    def detect(self, image):
        self.calls += 1
        return list(self.detections)


@pytest.fixture(scope="session")
def fake_reader():
    """Factory: FakeReader(lines, confidence=0.9, box=...)."""
    return FakeReader


@pytest.fixture(scope="session")
def fake_detector():
    """Factory: FakeDetector(detections, imgsz=640, conf=0.25, allow_download=False)."""
    return FakeDetector


@pytest.fixture(scope="session")
def ocr_engine():
    """The OCR engine of the default config (EasyOCR); tests needing real OCR skip without it."""
    from geosleuth.config import load_config
    from geosleuth.cues.engines.ocr import OcrEngine

    engine = OcrEngine.from_settings(**load_config()["ocr"])
    ok, note = engine.available()
    if not ok:
        pytest.skip(note)
    return engine


@pytest.fixture(scope="session")
def ocr_reader(ocr_engine):
    """The default config's reader of crops (plates, signs), as the detect cue picks it."""
    return ocr_engine.crop_reader()
