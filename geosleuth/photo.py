"""`Photo`: an input decoded once, upright, RGB, with its raw metadata and a per-photo memo."""

from __future__ import annotations

import io
import os
import stat
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
DEFAULT_MAX_PIXELS = 150_000_000
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
                mode = path.stat().st_mode
                if stat.S_ISDIR(mode):
                    raise ImageError(f"{_short(path)}: is a directory, not an image")
                if not stat.S_ISREG(mode):  # a FIFO would block, /dev/zero never ends
                    raise ImageError(f"{_short(path)}: not a regular file ({_file_kind(mode)})")
                if path.stat().st_size == 0:
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
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # corrupt EXIF: reported by the metadata reader
                im = Image.open(fh)
            with im:
                _check_pixels(im.size, source, max_pixels)
                return cls._from_pil(im, source, max_pixels, max_side)
        except (UnidentifiedImageError, ImportError):
            # ImportError: Ultralytics patches Image.open to retry unknown files with an optional
            # HEIF plugin and lets a missing plugin's ImportError escape.
            raise ImageError(f"{source}: not a recognised image format") from None
        except Image.DecompressionBombError as exc:
            raise ImageError(f"{source}: refused, too many pixels ({exc})") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            if isinstance(exc, ImageError):
                raise
            truncated = "truncated" in str(exc).lower() or isinstance(exc, EOFError)
            reason = f"truncated or corrupt image data ({exc})" if truncated else f"cannot decode image ({exc})"
            raise ImageError(f"{source}: {reason}") from None

    @classmethod
    def _from_pil(cls, im: "Image.Image", source: str, max_pixels: int, max_side: int) -> "Photo":
        from PIL import ImageOps

        _check_pixels(im.size, source, max_pixels)
        fmt, size = im.format, im.size
        if fmt == "JPEG" and max(im.size) > 2 * max_side:
            im.draft("RGB", (max_side, max_side))  # fast DCT-domain downscale
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # corrupt EXIF: reported by the metadata reader
            exif = im.getexif()
            upright = ImageOps.exif_transpose(im)
        info = {k: v for k, v in im.info.items() if k in ("exif", "xmp", "XML:com.adobe.xmp", "dpi")}
        n_frames = getattr(im, "n_frames", 1)
        if n_frames > 1:
            im.seek(0)
            info["frames"] = n_frames
        size_upright = _upright_size(size, exif)
        rgb = _to_rgb(upright)
        if max(rgb.size) > max_side:
            rgb.thumbnail((max_side, max_side), resample=3)
        rgb.load()
        return cls(image=rgb, source=source, original_size=size_upright, format=fmt, exif=exif, info=info)


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
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageError(f"{source}: image has no pixels ({w}x{h})")
    if w * h > max_pixels:
        raise ImageError(f"{source}: refused, {w}x{h} = {w * h:,} pixels exceeds the limit of {max_pixels:,} "
                         "(image.max_pixels)")


def _upright_size(size: tuple[int, int], exif: Any) -> tuple[int, int]:
    orientation = exif.get(0x0112, 1) if exif is not None else 1
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def _to_rgb(im: "Image.Image") -> "Image.Image":
    """RGB for every mode: alpha composited on white, 16-bit scaled, CMYK/palette converted."""
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        arr = arr / arr.max() if arr.max() > 1 else arr
        return Image.fromarray(np.clip(arr * 255 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    if im.mode == "P" and "transparency" in im.info or im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
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
