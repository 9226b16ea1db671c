"""Script-first reading (`ScriptReader`, the OCR backend `scripts`): find the text lines once, then
read each line with the model for its script.

- Lines: PP-OCRv4's DB text detector (the `rapidocr-onnxruntime` package carries the ONNX model),
  script-agnostic and fast on a CPU; each line is cut out along its quadrilateral (perspective
  undone).
- Reading: Tesseract's script models in process (`tesserocr`). One Tesseract instance holds every
  installed script model, Latin first, and keeps word by word the model that reads best, so the
  line's script is the script of the letters read. A line is read dark on light; an unsure read
  is tried again denoised, then inverted (light text on a dark sign). Short Latin reads on a sign
  whose sure lines are in another script are read again by that script's model alone.
- What Tesseract makes of texture (a few confident letters, polytonic Greek) is dropped. Lines no
  installed model reads are dropped too: naming their script would need a script classifier
  (Tesseract's OSD misnames the script of a few lines: Thai as Latin, Georgian as Malayalam), so
  the report names the script models missing here and the command that installs them (`missing`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Callable, Sequence

import numpy as np

from geosleuth.cache import cache_dir, shared
from geosleuth.cues.engines.ocr import OcrBackend, TextRead, tesseract_models
from geosleuth.errors import ConfigError, MissingDependencyError, did_you_mean
from geosleuth.gazetteer.languages import UNSPACED, line_script, script_counts, script_of
from geosleuth.libraries import contain

# Tesseract script models in the order they are tried, and the ISO 15924 script each reads (the
# Makefile's system-deps installs their Debian packs, tesseract-ocr-script-*).
SCRIPT_MODELS = {"Latin": "Latn", "Cyrillic": "Cyrl", "Greek": "Grek", "Arabic": "Arab", "Hebrew": "Hebr",
                 "Devanagari": "Deva", "Bengali": "Beng", "Thai": "Thai", "Khmer": "Khmr", "Georgian": "Geor",
                 "Armenian": "Armn", "Hangul": "Hang", "Japanese": "Jpan", "HanS": "Hani", "HanT": "Hani"}
INSTALL = "pip install tesserocr rapidocr-onnxruntime (or pip install 'geosleuth[text]')"
SCRIPT_NAMES = {"HanS": "Chinese (simplified)", "HanT": "Chinese (traditional)"}  # else the model's name
LINE_HEIGHT = 48  # px: the height lines are scaled to before reading
UNSURE = 0.6  # below this a line is read again (denoised, then inverted)
# px, short and long side of the line detector's input: an image is scaled to fit the canvas of
# its shape and padded white, so the detector sees four shapes (each landscape or portrait) and
# reuses their memory plans (a shape's first run, which makes its plan, costs the most). Both
# canvases have the 736 px short side rapidocr itself scales to, for a 4:3 photo and for a sign or 16:9.
CANVAS = (736, 992)
WIDE_CANVAS = (736, 1408)
WIDE = 1.6  # an image at least this many times as long as it is high (or high as long) is wide
WORD_LIST = 19  # a .traineddata file's LSTM word list (TESSDATA_LSTM_SYSTEM_DAWG in tessdatamanager.h)

log = logging.getLogger(__name__)


def install_command(models: tuple[str, ...]) -> str:
    """The Debian command that installs these script models (their packs are named by ISO 15924
    code, HanS and HanT as hans and hant)."""
    packs = [f"tesseract-ocr-script-{m.lower() if m in ('HanS', 'HanT') else SCRIPT_MODELS[m].lower()}"
             for m in models]
    return "apt-get install " + " ".join(packs)


def installed_models(folder: str | None) -> tuple[str, ...]:
    """The script models present in `folder`, in the order they are tried."""
    if folder is None:
        return ()
    return tuple(m for m in SCRIPT_MODELS if (Path(folder) / f"{m}.traineddata").is_file())


def without_word_lists(folder: str, models: tuple[str, ...]) -> str:
    """A folder of `folder`'s script models in which `models` lack their word list, built once in
    the cache folder (the others are linked). Tesseract keeps a model's word list in memory even
    when told not to use it, and the list is most of a large model's size."""
    sources = sorted(Path(folder).glob("*.traineddata"))
    stamp = [folder, *models, *(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sources)]
    lean = cache_dir() / "tessdata" / hashlib.sha1("|".join(stamp).encode()).hexdigest()[:16]
    if not (lean / "complete").is_file():
        lean.mkdir(parents=True, exist_ok=True)
        for src in sources:
            target = lean / src.name
            if src.stem in models:
                with tempfile.NamedTemporaryFile(dir=lean, delete=False) as tmp:
                    drop_entry(src, tmp, WORD_LIST)
                os.replace(tmp.name, target)
            elif not target.exists():
                try:
                    target.symlink_to(src.resolve())
                except FileExistsError:  # another process is building the same folder
                    pass
        (lean / "complete").touch()
    return str(lean)


def drop_entry(src: Path, out: BinaryIO, entry: int) -> None:
    """Copy a .traineddata file without one of its entries. The file is an int32 count, that many
    int64 offsets (-1 for an absent entry; an entry runs to the next present one), the entries."""
    with open(src, "rb") as fh:
        n = struct.unpack("<i", fh.read(4))[0]
        offsets = struct.unpack(f"<{n}q", fh.read(8 * n))
        present = sorted((o, i) for i, o in enumerate(offsets) if o >= 0)
        ends = [o for o, _ in present[1:]] + [src.stat().st_size]
        spans = {i: (o, end) for (o, i), end in zip(present, ends) if i != entry}
        new, at = [-1] * n, 4 + 8 * n
        for i in sorted(spans):
            new[i], at = at, at + spans[i][1] - spans[i][0]
        out.write(struct.pack(f"<i{n}q", n, *new))
        for i in sorted(spans):
            fh.seek(spans[i][0])
            out.write(fh.read(spans[i][1] - spans[i][0]))


@dataclass(frozen=True)
class Line:
    """A text line found by the detector: its quadrilateral (x, y points) in image pixels."""

    points: np.ndarray  # (4, 2) float32: top-left, top-right, bottom-right, bottom-left

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (float(self.points[:, 0].min()), float(self.points[:, 1].min()),
                float(self.points[:, 0].max()), float(self.points[:, 1].max()))

    def grown(self, share: float = 0.15) -> "Line":
        """The line with a margin of `share` of its height added on every side."""
        p = self.points.astype(np.float32)
        along, down = p[1] - p[0], p[3] - p[0]
        pad = share * max(np.linalg.norm(down), 1.0)
        u = along / max(np.linalg.norm(along), 1e-6) * pad
        v = down / max(np.linalg.norm(down), 1e-6) * pad
        return Line(p + np.stack([-u - v, u - v, u + v, -u + v]))

    def cut(self, grey: np.ndarray) -> np.ndarray:
        """The line of a grey image as an upright strip LINE_HEIGHT px high (perspective undone)."""
        import cv2

        p = self.points.astype(np.float32)
        width = max(np.linalg.norm(p[0] - p[1]), np.linalg.norm(p[2] - p[3]))
        height = max(np.linalg.norm(p[0] - p[3]), np.linalg.norm(p[1] - p[2]), 1.0)
        scale = LINE_HEIGHT / height
        w, h = max(int(width * scale), 8), LINE_HEIGHT
        target = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        return cv2.warpPerspective(grey, cv2.getPerspectiveTransform(p, target), (w, h),
                                   flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def to_grey(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def join_unspaced(text: str) -> str:
    """Tesseract's spaces between letters of scripts written without spaces removed ("上 海 市" ->
    "上海市", a lone Thai vowel sign rejoined), and between Hangul syllables it split one by one
    ("세 종 대 로" -> "세종대로")."""
    import unicodedata

    out: list[str] = []
    for word in text.split(" "):
        if out:
            left = next(filter(None, map(script_of, reversed(out[-1]))), None)
            right = next(filter(None, map(script_of, word)), None)
            marks = all(unicodedata.category(ch).startswith("M") for ch in word)
            if (marks and left in UNSPACED) or (left in UNSPACED and right in UNSPACED) or \
                    (left == right == "Hang" and min(len(out[-1]), len(word)) == 1):
                out[-1] += word
                continue
        out.append(word)
    return " ".join(out)


# Fewest letters of its script a read must have: a Han character, kana or Hangul syllable is a
# word, and Brahmic and Southeast Asian consonants carry their vowel signs (which are not
# letters: "ঢাকা", Dhaka, has two); alphabets need a short word ("Rue", "Via").
MIN_LETTERS = {"Hani": 2, "Jpan": 2, "Hang": 2, "Deva": 2, "Beng": 2, "Thai": 2, "Khmr": 2}


def substantial(text: str, confidence: float) -> bool:
    """Whether a read is more than what Tesseract makes of texture ("ΠΠ", "боп", "Νες."): enough
    letters of one script (`MIN_LETTERS`, else 3), a short line outside Latin only when read
    surely, no polytonic Greek (never on modern signs); or a run of six digits (a phone number)."""
    if any("\u1f00" <= ch <= "\u1fff" for ch in text):
        return False
    counts = script_counts(text)
    if counts:
        script, n = counts.most_common(1)[0]
        if n >= MIN_LETTERS.get(script, 3) and (script == "Latn" or n >= 6 or confidence >= 0.8):
            return True
    return sum(ch.isdigit() for ch in text) >= 6


def polarities(strip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The strip with dark text on light (the minority of Otsu's two classes is the text), then
    inverted, each on a white margin."""
    import cv2

    _, mask = cv2.threshold(strip, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if (mask > 0).mean() < 0.5:  # the bright pixels are the fewer: light text
        strip = 255 - strip
    return tuple(cv2.copyMakeBorder(s, 12, 12, 12, 12, cv2.BORDER_CONSTANT, value=255) for s in (strip, 255 - strip))


def find_lines(detector: Callable[[np.ndarray], tuple[Any, Any]], image: np.ndarray) -> list[Line]:
    """Text lines, largest first, in `image` pixels. The detector (rapidocr's: a BGR canvas in,
    line quadrilaterals and their scores out) sees the image scaled to fit its canvas (CANVAS, or
    WIDE_CANVAS; landscape or portrait) and padded white, right and below; lines are still read
    from the full image."""
    import cv2

    h, w = image.shape[:2]
    canvas_shape = WIDE_CANVAS if max(h, w) >= WIDE * min(h, w) else CANVAS
    rows, cols = canvas_shape if w >= h else canvas_shape[::-1]
    scale = min(rows / h, cols / w)
    fitted = cv2.resize(image, (min(max(round(w * scale), 1), cols), min(max(round(h * scale), 1), rows)),
                        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.full((rows, cols, 3), 255, np.uint8)
    canvas[: fitted.shape[0], : fitted.shape[1]] = fitted[:, :, ::-1]  # the detector takes BGR
    found, _ = detector(canvas)
    lines = [Line(np.asarray(q, np.float32) / scale) for q in (found if found is not None else [])]
    return sorted(lines, key=lambda ln: -(ln.box[2] - ln.box[0]) * (ln.box[3] - ln.box[1]))


class ScriptReader(OcrBackend):
    """The `scripts` OCR backend (see the module docstring); models load on first use, once per
    process, and one photo is read at a time per process."""

    scales_lines = True  # every line is read at LINE_HEIGHT

    def __init__(self, min_confidence: float = 0.5, max_lines: int = 16, tessdata: str | None = None,
                 without_word_lists: Sequence[str] = ()) -> None:
        for model in without_word_lists:
            if model not in SCRIPT_MODELS:
                raise ConfigError(f"ocr.without_word_lists: no script model {model!r}"
                                  f"{did_you_mean(model, list(SCRIPT_MODELS))}")
        self.min_confidence = min_confidence
        self.max_lines = max_lines
        self.tessdata = tessdata
        self.without_word_lists = tuple(without_word_lists)

    def __repr__(self) -> str:
        return "ScriptReader()"

    def folder(self) -> str | None:
        return self.tessdata or tesseract_models().folder

    def available(self) -> tuple[bool, str]:
        import importlib.util

        missing = [p for p, m in (("tesserocr", "tesserocr"), ("rapidocr-onnxruntime", "rapidocr_onnxruntime"))
                   if importlib.util.find_spec(m) is None]
        if missing:
            return False, f"the scripts reader needs {', '.join(missing)}: {INSTALL}"
        models = installed_models(self.folder())
        if not models:
            return False, ("no Tesseract script models found (Debian: apt-get install tesseract-ocr "
                           "tesseract-ocr-script-latn ..., or `make system-deps`)")
        note = f"PP-OCRv4 line detector + Tesseract {', '.join(models)} ({self.folder()})"
        return True, note + (f"; {unread}" if (unread := self.cannot_read()) else "")

    def missing(self) -> tuple[str, ...]:
        """The script models this reader would use that are not installed here."""
        installed = installed_models(self.folder())
        return tuple(m for m in SCRIPT_MODELS if m not in installed)

    def cannot_read(self) -> str:
        """What this reader cannot read here, with how to read it ('' when it reads every script)."""
        return self.missing_note(missing) if (missing := self.missing()) else ""

    @staticmethod
    def missing_note(models: tuple[str, ...]) -> str:
        names = ", ".join(SCRIPT_NAMES.get(m, m) for m in models)
        return f"no reader installed here for text in {names}: such lines are not read ({install_command(models)})"

    def read(self, image: np.ndarray, min_confidence: float | None = None) -> list[TextRead]:
        threshold = self.min_confidence if min_confidence is None else min_confidence
        models = self._models()
        lines = find_lines(models.detector, image)[: self.max_lines]
        grey = to_grey(image)  # once per photo, not per line
        reads = []
        with models.lock:
            for line in lines:
                text, conf = models.best_read(line.cut(grey))
                if not text:  # whether Tesseract reads at all can turn on a pixel of the box
                    text, conf = models.best_read(line.grown().cut(grey))
                reads.append(TextRead(text, conf, line.box, "tesseract", line_script(text)))
            reads = models.reread_in(dominant_script(reads), reads, grey, lines)
        return [r for r in reads if r.text and r.confidence >= threshold and substantial(r.text, r.confidence)]

    def line_boxes(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        """The line detector's boxes alone (no reading), largest first."""
        return [line.box for line in find_lines(self._models().detector, image)]

    def _models(self) -> "_Models":
        folder = self.folder()
        return shared(("script reader", folder, self.without_word_lists), lambda: _Models.load(
            self.reading_folder(), installed_models(folder)))

    def reading_folder(self) -> str | None:
        """The folder Tesseract loads from: `folder()`, or its copy without the configured word lists."""
        folder = self.folder()
        dropped = tuple(m for m in self.without_word_lists if m in installed_models(folder))
        if not dropped:
            return folder
        try:
            return without_word_lists(folder, dropped)
        except OSError as exc:
            log.warning("script models keep their word lists (%s): cannot write %s: %s",
                        ", ".join(dropped), cache_dir(), exc)
            return folder


@dataclass(frozen=True, eq=False)
class _Models:
    """The line detector and the Tesseract instance of one process."""

    detector: Any  # rapidocr TextDetector
    reader: Any  # tesserocr.PyTessBaseAPI over every installed script model, one line per image
    models: tuple[str, ...]
    folder: str
    lock: threading.Lock
    alone: dict[str, Any] = field(default_factory=dict)  # single-model instances of the photo being read

    @classmethod
    def load(cls, folder: str | None, models: tuple[str, ...]) -> "_Models":
        contain()  # onnxruntime's telemetry off
        try:
            import tesserocr
            import yaml
            from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
        except ImportError as exc:
            raise MissingDependencyError(f"the scripts reader needs tesserocr and rapidocr-onnxruntime: {INSTALL}") \
                from exc
        import rapidocr_onnxruntime

        if not models:
            raise MissingDependencyError("no Tesseract script models installed (make system-deps)")
        root = Path(rapidocr_onnxruntime.__file__).parent
        settings = yaml.safe_load((root / "config.yaml").read_text())["Det"]
        settings["model_path"] = str(root / settings["model_path"])
        detector = TextDetector(settings)
        for shape in (CANVAS, CANVAS[::-1], WIDE_CANVAS, WIDE_CANVAS[::-1]):  # each one's costly first run,
            detector(np.full((*shape, 3), 255, np.uint8))  # before Tesseract's models fill memory
        reader = tesserocr.PyTessBaseAPI(path=folder + "/", lang="+".join(models), psm=tesserocr.PSM.SINGLE_LINE)
        return cls(detector, reader, models, folder, threading.Lock())

    def recognise(self, strip: np.ndarray, model: str | None = None) -> tuple[str, float]:
        """A strip read by every installed model (Tesseract keeps the best per word), or by one."""
        from PIL import Image

        api = self.reader if model is None else self.single(model)
        api.SetImage(Image.fromarray(strip))
        text = join_unspaced(" ".join(api.GetUTF8Text().split()))
        return text, max(api.MeanTextConf(), 0) / 100

    def best_read(self, line: np.ndarray, model: str | None = None) -> tuple[str, float]:
        """A line read dark on light; if unsure, again after a 3 px median (noise), then inverted."""
        import cv2

        best = ("", 0.0)
        dark, inverted = polarities(line)
        for strip in (dark, polarities(cv2.medianBlur(line, 3))[0], inverted):
            best = max(best, self.recognise(strip, model), key=lambda read: read[1])
            if best[1] >= UNSURE:
                break
        return best

    def reread_in(self, script: str | None, reads: list, grey: np.ndarray, lines: list[Line]) -> list:
        """Lines read again by one script's model alone, kept when surer: short Latin reads on a
        sign whose sure lines are in another script (Tesseract, trying Latin first, reads the
        Hebrew "חיפה" as "no'n"), and lines whose words are in another script but hold a few
        Latin letters, by their own script's model. A model alone is loaded for this photo
        only: it loads quickly, and its memory is given back after."""
        model_of = {SCRIPT_MODELS[m]: m for m in reversed(self.models)}
        out = list(reads)
        try:
            for i, (read, line) in enumerate(zip(reads, lines)):
                latin = script_counts(read.text)["Latn"]
                if read.script == "Latn" and latin <= 6 and script != "Latn" and script in model_of:
                    own = script  # a short Latin read on a sign in another script
                    slack = 0.1
                elif read.script not in ("", "Latn") and latin and read.script in model_of:
                    own = read.script  # a mixed line, read by the model of the script of its words
                    slack = 0.0
                else:
                    continue
                text, conf = self.best_read(line.cut(grey), model_of[own])
                if text and conf >= read.confidence - slack and script_counts(text).get(own, 0) >= 2:
                    out[i] = replace(read, text=text, confidence=conf, script=own)
        finally:
            for api in self.alone.values():
                api.End()
            self.alone.clear()
        return out

    def single(self, model: str) -> Any:
        """A Tesseract instance with one script model, built on first use."""
        import tesserocr

        if model not in self.alone:
            self.alone[model] = tesserocr.PyTessBaseAPI(path=self.folder + "/", lang=model,
                                                        psm=tesserocr.PSM.SINGLE_LINE)
        return self.alone[model]


def dominant_script(reads: list) -> str | None:
    """The script of most letters among sure reads (confidence >= 0.8), if any."""
    counts: Counter = Counter()
    for read in reads:
        if read.confidence >= 0.8:
            counts.update(script_counts(read.text))
    return counts.most_common(1)[0][0] if counts else None

