from __future__ import annotations

import errno
import io
import ipaddress
import os
import socket
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))  # the tests import helpers from conftest
SHARED = Path(os.environ.get("GEOSLEUTH_SHARED", REPO.parent / "shared"))
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).is_file()), None)


# ---- the suite's surroundings: its own cache folder, and no network ------------------------------
def pytest_configure(config: pytest.Config) -> None:
    """Before collection, as test modules may build things when imported."""
    isolate_caches()
    block_network(config)


def isolate_caches() -> None:
    """Point geosleuth's cache folder, and XDG_CACHE_HOME where libraries keep theirs, at the
    suite's own folder in the checkout (.pytest_cache, ignored by git), so `pytest` never writes
    to the user's cache. It is kept between runs, as rebuilding what is derived from installed
    data (gazetteer, map outlines) takes most of a minute; folders that are already temporary are
    kept as they are (`make test` makes a fresh HOME for each run, to test every first run)."""
    temp = Path(tempfile.gettempdir()).resolve()
    if all(os.environ.get(name) and Path(os.environ[name]).resolve().is_relative_to(temp)
           for name in ("GEOSLEUTH_CACHE_DIR", "XDG_CACHE_HOME")):
        return
    folder = REPO / ".pytest_cache" / "cache"
    os.environ["XDG_CACHE_HOME"] = str(folder)
    os.environ["GEOSLEUTH_CACHE_DIR"] = str(folder / "geosleuth")


def ip_address(host: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`host` as an IP address; None for a host name."""
    try:
        return ipaddress.ip_address((host.decode() if isinstance(host, bytes) else str(host)).split("%")[0])
    except ValueError:
        return None


def this_machine(host: Any) -> bool:
    return host in (None, "", "localhost", b"localhost") or getattr(ip_address(host), "is_loopback", False)


def block_network(config: pytest.Config) -> None:
    """No test reaches the network: looking up a host name other than localhost, or connecting
    to an address beyond loopback, fails as on a machine without a network (a library that tries,
    such as Ultralytics fetching a missing font, finds none); servers on 127.0.0.1 still answer."""
    real = socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex

    def getaddrinfo(host, *args, **kwargs):
        if not (this_machine(host) or ip_address(host) is not None):  # an address needs no lookup
            raise socket.gaierror(socket.EAI_NONAME, f"no network in the tests: cannot look up {host}")
        return real[0](host, *args, **kwargs)

    def refused(sock: socket.socket, address: Any) -> bool:
        return sock.family in (socket.AF_INET, socket.AF_INET6) and not this_machine(address[0])

    def connect(sock: socket.socket, address: Any) -> None:
        if refused(sock, address):
            raise OSError(errno.ENETUNREACH, f"no network in the tests: cannot reach {address[0]}")
        return real[1](sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        return errno.ENETUNREACH if refused(sock, address) else real[2](sock, address)

    socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex = getaddrinfo, connect, connect_ex

    def restore() -> None:
        socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex = real

    config.add_cleanup(restore)


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
def shared_photos(shared):
    """Factory: the photos matching `pattern` in a folder of the shared data, sorted; a folder
    with none fails the test (a loop over it would pass without checking anything)."""
    def photos(folder: str, pattern: str = "*.jpg") -> list[Path]:
        found = sorted((shared / "data" / folder).glob(pattern))
        assert found, f"no {pattern} in {shared / 'data' / folder}"
        return found

    return photos


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


def dms(degrees: float) -> tuple:
    """Degrees as EXIF writes them: degrees, minutes and seconds (to a thousandth), unsigned."""
    from PIL.TiffImagePlugin import IFDRational

    whole = int(abs(degrees))
    minutes = int((abs(degrees) - whole) * 60)
    seconds = (abs(degrees) - whole - minutes / 60) * 3600
    return IFDRational(whole, 1), IFDRational(minutes, 1), IFDRational(round(seconds * 1000), 1000)


@pytest.fixture(scope="session")
def exif_photo():
    """Factory: a small photo as bytes (JPEG unless `fmt`) with EXIF tags: `at=(lat, lon)` writes
    a GPS fix, `gps` adds GPS tags (or replaces the fix's), `exif_ifd` and `ifd0` their IFD's tags."""
    from PIL import Image

    def make(at: tuple[float, float] | None = None, gps: dict | None = None, exif_ifd: dict | None = None,
             ifd0: dict | None = None, fmt: str = "JPEG", **save) -> bytes:
        exif = Image.Exif()
        exif.update(ifd0 or {})
        tags = {} if at is None else {1: "N" if at[0] >= 0 else "S", 2: dms(at[0]),
                                      3: "E" if at[1] >= 0 else "W", 4: dms(at[1])}
        tags.update(gps or {})
        if tags:
            exif.get_ifd(0x8825).update(tags)
        if exif_ifd:
            exif.get_ifd(0x8769).update(exif_ifd)
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (90, 120, 150)).save(buf, fmt, exif=exif.tobytes(), **save)
        return buf.getvalue()

    return make


@pytest.fixture(scope="session")
def gps_photo(exif_photo):
    """Factory: a photo with a GPS fix at (lat, lon) written to `path`; returns the path as a string."""
    def make(path: Path, lat: float, lon: float) -> str:
        path.write_bytes(exif_photo(at=(lat, lon)))
        return str(path)

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

    def line_boxes(self, image):
        return [self.box] if self.lines else []

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
