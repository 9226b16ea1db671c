"""`Photo`: an input decoded once, upright, RGB, with its raw metadata and a per-photo memo."""

from __future__ import annotations

import io
import os
import stat
import sys
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Hashable, Sequence, TypeVar, Union

import numpy as np

from geosleuth.errors import ImageError

if TYPE_CHECKING:
    from PIL import Image

    from geosleuth.metadata import Metadata

ImageInput = Union[str, os.PathLike, bytes, "Image.Image", np.ndarray]
T = TypeVar("T")

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".gif", ".bmp",
                            ".heic", ".heif", ".avif"})
DEFAULT_MAX_PIXELS = 50_000_000
# The formats geosleuth reads (Pillow's names; HEIF and AVIF with their plugins), and how to say so.
FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "TIFF", "GIF", "BMP", "HEIF", "AVIF")
FORMAT_NAMES = "JPEG, PNG, WebP, TIFF, GIF, BMP, HEIC or AVIF"
DRAFT_FORMATS = frozenset({"JPEG", "MPO"})  # decoded at 1/2, 1/4 or 1/8 size on request
REDUCIBLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "I", "F"})
STRIP_PIXELS = 2_000_000  # a large image is reduced this many pixels at a time
_PIL_LIMIT = threading.Lock()  # Pillow's pixel limit is one global, lifted only while a header is read
DEFAULT_MAX_SIDE = 2048


@dataclass(eq=False)
class Photo:
    """A decoded photo. `image` is the upright RGB working copy (longest side <= max_side).

    >>> from PIL import Image
    >>> Photo.open(Image.new("RGB", (4000, 3000)), max_side=1000).image.size
    (1000, 750)
    """

    image: "Image.Image"
    source: str  # path, or a description such as "<bytes>"
    original_size: tuple[int, int]  # upright (width, height) before downscaling
    format: str | None = None
    exif: Any = None  # PIL.Image.Exif of the file (empty when none)
    info: dict[str, Any] = field(default_factory=dict)  # other container metadata (XMP, ICC...)
    _memo: dict[Hashable, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def id(self) -> str:
        """The file name for paths, else the source description."""
        return Path(self.source).name if not self.source.startswith("<") else self.source

    @property
    def scale(self) -> float:
        """Working-copy pixels per original pixel."""
        return self.image.size[0] / self.original_size[0]

    @property
    def metadata(self) -> "Metadata":
        """GPS, time, camera and software from EXIF/XMP, parsed once and shared by all cues."""
        from geosleuth.metadata import read_metadata

        return self.memo("metadata", lambda: read_metadata(self.exif, self.info))

    def array(self) -> np.ndarray:
        """The working copy as an (H, W, 3) uint8 array (cached)."""
        return self.memo("array", lambda: np.asarray(self.image))

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """Compute once per photo and share: OCR, detections, parsed metadata... Engines key
        what they compute by themselves, e.g. `(reader, "lines")`, so cues that share an
        engine share its work."""
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        value = compute()
        with self._lock:
            return self._memo.setdefault(key, value)

    @staticmethod
    def memo_many(photos: Sequence["Photo"], key: Hashable, compute: Callable[[list["Photo"]], Sequence[T]]) -> list[T]:
        """`memo` for a batched model: `compute` runs once, on the photos that lack `key`."""
        todo = [p for p in photos if key not in p._memo]
        if todo:
            for photo, value in zip(todo, compute(todo), strict=True):
                photo.memo(key, lambda value=value: value)
        return [p._memo[key] for p in photos]

    @classmethod
    def open(cls, src: ImageInput, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_side: int = DEFAULT_MAX_SIDE) -> "Photo":
        """Decode a path, bytes, PIL image or array; raise `ImageError` with a clear reason."""
        from PIL import Image

        _register_heif()
        if isinstance(src, Photo):
            return src
        if isinstance(src, np.ndarray):
            return cls._from_pil(_array_to_pil(src), "<array>", max_pixels, max_side)
        if isinstance(src, Image.Image):
            return cls._from_pil(src, "<PIL image>", max_pixels, max_side)
        if isinstance(src, (bytes, bytearray, memoryview)):
            return cls._decode(io.BytesIO(bytes(src)), "<bytes>", max_pixels, max_side)
        if isinstance(src, (str, os.PathLike)):
            path = Path(src).expanduser()
            try:
                status = path.stat()
                if stat.S_ISDIR(status.st_mode):
                    raise ImageError(f"{_short(path)}: is a directory, not an image")
                if not stat.S_ISREG(status.st_mode):  # a FIFO would block, /dev/zero never ends
                    raise ImageError(f"{_short(path)}: not a regular file ({_file_kind(status.st_mode)})")
                if status.st_size == 0:
                    raise ImageError(f"{_short(path)}: empty file (0 bytes)")
                with open(path, "rb") as fh:
                    return cls._decode(fh, str(path), max_pixels, max_side)
            except FileNotFoundError:
                raise ImageError(f"{_short(path)}: no such file") from None
            except OSError as exc:  # permission, a name too long, a loop of links...
                raise ImageError(f"{_short(path)}: cannot read ({exc.strerror or exc})") from None
        raise ImageError(f"cannot read an image from {type(src).__name__}; "
                         "pass a path, bytes, a PIL image or a numpy array")

    @classmethod
    def _decode(cls, fh: Any, source: str, max_pixels: int, max_side: int) -> "Photo":
        from PIL import Image, UnidentifiedImageError

        if isinstance(fh, io.BytesIO) and fh.getbuffer().nbytes == 0:
            raise ImageError(f"{source}: empty input (0 bytes)")
        try:
            im = _open_header(fh)
            with im:
                return cls._from_pil(im, source, max_pixels, max_side, owned=True)
        except (UnidentifiedImageError, ImportError):  # ImportError: a format plugin that cannot load
            raise ImageError(f"{source}: not a recognised image format (geosleuth reads {FORMAT_NAMES})") from None
        except Image.DecompressionBombError as exc:  # a TIFF checks again as it loads, past 179 MP
            raise ImageError(f"{source}: refused by Pillow as it decoded ({exc})") from None
        except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
            if isinstance(exc, ImageError):
                raise
            truncated = "truncated" in str(exc).lower() or isinstance(exc, EOFError)
            reason = f"truncated or corrupt image data ({exc})" if truncated else f"cannot decode image ({exc})"
            raise ImageError(f"{source}: {reason}") from None

    @classmethod
    def _from_pil(cls, im: "Image.Image", source: str, max_pixels: int, max_side: int,
                  owned: bool = False) -> "Photo":
        """Checked, then decoded at most once at full size: a large image is shrunk by an integer
        factor before any copy (mode conversion, rotation), and a decoded file's full-size pixels
        are released then (`owned`), so a file costs about its decoded size."""
        try:
            size, fmt = im.size, im.format
            if fmt in DRAFT_FORMATS and max(size) > 2 * max_side:
                im.draft("RGB", (max_side, max_side))  # fast DCT-domain downscale: fewer pixels decoded
            _check_pixels(im.size, source, max_pixels)
            with warnings.catch_warnings():
                # Corrupt EXIF is reported by the metadata reader; Pillow's pixel warning (TIFF
                # checks again as it loads) is moot under image.max_pixels.
                warnings.simplefilter("ignore", UserWarning)
                warnings.simplefilter("ignore", RuntimeWarning)  # DecompressionBombWarning
                exif = im.getexif()
                info = {k: v for k, v in im.info.items() if k in ("exif", "xmp", "XML:com.adobe.xmp", "dpi")}
                n_frames = getattr(im, "n_frames", 1)
                if n_frames > 1:
                    im.seek(0)
                    info["frames"] = n_frames
                small = _shrink(im, max_side)
                if owned and small is not im:
                    im.close()
                rgb = _to_rgb(small)
            if max(rgb.size) > max_side:
                rgb.thumbnail((max_side, max_side), resample=3)
            rgb = _upright(rgb, exif)
            rgb.load()
        except ValueError as exc:  # a closed image, an unsupported mode...
            if isinstance(exc, ImageError):
                raise
            raise ImageError(f"{source}: cannot use this image ({exc})") from None
        return cls(image=rgb, source=source, original_size=_upright_size(size, exif), format=fmt, exif=exif,
                   info=info)


_HEIF: list[bool] = []


def _short(path: Path, most: int = 200) -> str:
    """A path for a message, its middle cut when very long."""
    text = str(path)
    return text if len(text) <= most else f"{text[:most // 2]}...{text[-most // 2:]}"


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a plain file")


def _register_heif() -> None:
    """Let Pillow open HEIC/HEIF when the optional pillow-heif package is installed."""
    if not _HEIF:
        try:
            from pillow_heif import register_heif_opener

            register_heif_opener()
            _HEIF.append(True)
        except ImportError:
            _HEIF.append(False)


def _check_pixels(size: tuple[int, int], source: str, max_pixels: int) -> None:
    """Refuse an image with no pixels, or more than `max_pixels` to decode."""
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageError(f"{source}: image has no pixels ({w}x{h})")
    if w * h > max_pixels:
        raise ImageError(f"{source}: refused, {w}x{h} = {w * h:,} pixels exceeds the limit of {max_pixels:,} "
                         "(image.max_pixels)")


def _open_header(fh: Any) -> "Image.Image":
    """Pillow's lazy open (the header only) of the formats geosleuth reads, with geosleuth's own
    pixel limit in place of Pillow's (which would warn, or refuse below image.max_pixels)."""
    from PIL import Image

    Image.init()  # every installed plugin, so that FORMATS can be looked up
    formats = [f for f in FORMATS if f in Image.OPEN]  # HEIF and AVIF only with their plugins
    with _PIL_LIMIT:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # corrupt EXIF: reported by the metadata reader
                return _pillow_open()(fh, formats=formats)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _pillow_open() -> Callable[..., "Image.Image"]:
    """Pillow's own `Image.open`: once Ultralytics is imported, `Image.open` is its patch, which
    pip-installs a HEIF plugin, online, on the first file it cannot identify."""
    from PIL import Image

    patches = sys.modules.get("ultralytics.utils.patches")
    return getattr(patches, "_image_open", Image.open) if patches is not None else Image.open


def _shrink(im: "Image.Image", max_side: int) -> "Image.Image":
    """A large image reduced by an integer factor as it is decoded, before any full-size copy of
    it: box-averaged in strips of rows (`reduce` copies what it reduces, premultiplied when there
    is alpha), 1-bit images as grey; palette and 16-bit images by nearest neighbour."""
    from PIL import Image

    factor = max(im.size) // max_side
    if factor < 2:
        return im
    if im.mode == "1":
        return im.convert("L").reduce(factor)
    if im.mode not in REDUCIBLE_MODES:
        small = im.resize((max(im.width // factor, 1), max(im.height // factor, 1)), Image.Resampling.NEAREST)
        small.info.update({k: v for k, v in im.info.items() if k == "transparency"})
        return small
    im.load()
    small = Image.new(im.mode, (-(-im.width // factor), -(-im.height // factor)))
    rows = factor * max(1, STRIP_PIXELS // (im.width * factor))
    for y in range(0, im.height, rows):
        small.paste(im.crop((0, y, im.width, min(y + rows, im.height))).reduce(factor), (0, y // factor))
    return small


def _upright(im: "Image.Image", exif: Any) -> "Image.Image":
    """The image turned as its EXIF orientation says."""
    from PIL import Image

    turn = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}.get(exif.get(0x0112, 1) if exif is not None else 1)
    return im.transpose(turn) if turn is not None else im


def _upright_size(size: tuple[int, int], exif: Any) -> tuple[int, int]:
    orientation = exif.get(0x0112, 1) if exif is not None else 1
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def _to_rgb(im: "Image.Image") -> "Image.Image":
    """RGB for every mode: alpha composited on white, 16-bit scaled, CMYK/palette converted."""
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):  # scaled in place, in float32
        arr = np.array(im, dtype=np.float32)
        if im.mode == "F":
            np.nan_to_num(arr, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            peak = max(float(arr.max()), 1.0)
        else:
            peak = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr *= 255.0 / peak
        arr += 0.5
        np.clip(arr, 0, 255, out=arr)
        return Image.fromarray(arr.astype(np.uint8)).convert("RGB")
    if im.mode == "P" and "transparency" in im.info or im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Pillow takes La only to LA
        rgba = im if im.mode == "RGBA" else im.convert("LA" if im.mode == "La" else "RGBA").convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba)  # composited on white by the alpha band
        return white
    return im.convert("RGB") if im.mode != "RGB" else im.copy()


def _array_to_pil(arr: np.ndarray) -> "Image.Image":
    from PIL import Image

    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageError(f"<array>: expected shape (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")
    if arr.size == 0:
        raise ImageError("<array>: image has no pixels")
    if arr.dtype == np.uint8:
        data = arr
    elif arr.dtype == np.uint16:
        data = (arr / 257.0 + 0.5).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ImageError("<array>: contains NaN or infinity")
        data = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0) + 0.5, 0, 255).astype(np.uint8)
    else:
        raise ImageError(f"<array>: unsupported dtype {arr.dtype}")
    return Image.fromarray(np.ascontiguousarray(data))
