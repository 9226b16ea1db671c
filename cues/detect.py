"""The `detect` cue: YOLO objects, and licence plates read and matched to the countries issuing them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from geosleuth.cues.base import BaseCue, CueOutput, Evidence
from geosleuth.cues.detector import VEHICLES, Detection, detect_objects, get_detector
from geosleuth.cues.ocr import TextRead, get_backend, read_text
from geosleuth.cues.plates import (iou, looks_like_plate, normalise_plate, plate_box, plate_colours,
                                    plate_countries, plate_specs)
from geosleuth.cues.text import Clue, clue_log_likelihood

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.photo import Photo

Box = tuple[float, float, float, float]
PLATE_MIN_CONFIDENCE = 0.05


@dataclass(frozen=True)
class PlateRead:
    text: str
    box: Box  # the plate, working-image pixels
    aspect: float
    band: str | None
    band_code: str | None
    background: str
    confidence: float
    on_vehicle: bool | None  # None when no detector ran

    def countries(self) -> dict[str, float]:
        return plate_countries(self.text, aspect=self.aspect, band=self.band, band_code=self.band_code,
                               background=self.background)


class DetectCue(BaseCue):
    """Licence plates (from a plate detector when configured, else plate-shaped text, preferably on
    vehicles) matched against per-country formats, shapes and colours; objects as evidence."""

    name = "detect"
    default_weight = 1.0
    default_floor = 1e-4

    def __init__(self, weights: str = "yolov8n.pt", allow_download: bool = False, imgsz: int = 640,
                 conf: float = 0.25, plate_weights: str | None = None, ocr_languages: Sequence[str] = ("en",),
                 ocr_model_dir: str | None = None, ocr_canvas: int = 640, ocr_min_confidence: float = 0.3,
                 ocr_precision: str = "auto", reread_plates: bool = True) -> None:
        self.weights = weights
        self.allow_download = allow_download
        self.imgsz = imgsz
        self.conf = conf
        self.plate_weights = plate_weights
        self.ocr_languages = tuple(ocr_languages)
        self.ocr_model_dir = ocr_model_dir
        self.ocr_canvas = ocr_canvas
        self.ocr_min_confidence = ocr_min_confidence
        self.ocr_precision = ocr_precision
        self.reread_plates = reread_plates

    def _ocr(self, min_confidence: float | None = None):
        # The same settings as the text cue's defaults give the same backend and per-photo memo.
        return get_backend("easyocr", languages=list(self.ocr_languages), model_dir=self.ocr_model_dir,
                           canvas_size=self.ocr_canvas,
                           min_confidence=self.ocr_min_confidence if min_confidence is None else min_confidence,
                           precision=self.ocr_precision)

    def available(self) -> tuple[bool, str]:
        det_ok, det_note = get_detector(self.weights, self.imgsz, self.conf, self.allow_download).available()
        ocr_ok, ocr_note = self._ocr().available()
        return det_ok or ocr_ok, f"objects: {det_note}; plates: {ocr_note}"

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        evidence: list[Evidence] = []
        detector = get_detector(self.weights, self.imgsz, self.conf, self.allow_download)
        det_ok, det_note = detector.available()
        objects: tuple[Detection, ...] = detect_objects(photo, detector) if det_ok else ()
        if objects:
            counts = Counter(d.label for d in objects)
            evidence.append(Evidence("objects", "Objects: " + ", ".join(f"{k} ×{v}" if v > 1 else k
                                                                       for k, v in counts.most_common(8)),
                                     float(max(d.confidence for d in objects)), details=dict(counts)))
        ocr = self._ocr()
        ocr_ok, ocr_note = ocr.available()
        if not ocr_ok:
            return CueOutput.abstain(f"cannot read plates: {ocr_note}" + ("" if det_ok else f"; {det_note}"),
                                     evidence)
        plate_boxes = None
        if self.plate_weights:
            plate_detector = get_detector(self.plate_weights, self.imgsz, self.conf, self.allow_download)
            ok, note = plate_detector.available()
            if ok:
                plate_boxes = [d.box for d in detect_objects(photo, plate_detector)]
            else:
                evidence.append(Evidence("detector", f"plate detector unavailable: {note}", 0.0))
        plates = self.find_plates(photo, ocr, objects if det_ok else None, plate_boxes)
        if not plates:
            note = "no licence plate found" + ("" if det_ok else f" (objects skipped: {det_note})")
            return CueOutput.abstain(note, evidence)
        clues = [self._clue(p) for p in plates]
        evidence += [c.evidence() for c in clues]
        return CueOutput(clue_log_likelihood(clues, grid), tuple(evidence))

    def find_plates(self, photo: "Photo", ocr, objects: Sequence[Detection] | None,
                    plate_boxes: Sequence[Box] | None = None) -> list[PlateRead]:
        """Plates from a plate detector's boxes when given; else plate-shaped text (from the shared
        OCR and from upscaled vehicle crops), grown to the plate's outline; each re-read at
        higher resolution and its colours measured."""
        image = photo.array()
        vehicles = [d.box for d in objects or () if d.label in VEHICLES]
        plates: list[PlateRead] = []
        if plate_boxes is not None:
            for box in plate_boxes:
                crop = image[int(box[1]):int(box[3]) + 1, int(box[0]):int(box[2]) + 1]
                text, confidence, band_code = self._reread(ocr, crop, TextRead("", 0.0, box, "detector"))
                if looks_like_plate(text):
                    band, background = plate_colours(crop)
                    w, h = box[2] - box[0], box[3] - box[1]
                    plates.append(PlateRead(normalise_plate(text), box, w / max(h, 1), band if band != "none" else None,
                                            band_code, background, confidence, True))
            return plates
        # On vehicle crops, keep unsure reads too: a plate's format and shape check them.
        reads = list(read_text(photo, ocr)) + list(self._vehicle_reads(photo, self._ocr(PLATE_MIN_CONFIDENCE),
                                                                        vehicles))
        for read in reads:
            if not looks_like_plate(read.text) or any(iou(read.box, p.box) > 0.3 for p in plates):
                continue
            box = plate_box(image, read.box)
            w, h = box[2] - box[0], box[3] - box[1]
            if h < 6 or not 1.4 <= w / h <= 7:
                continue
            text, confidence, band_code = read.text, read.confidence, None
            crop = image[int(box[1]):int(box[3]) + 1, int(box[0]):int(box[2]) + 1]
            if self.reread_plates:
                text, confidence, band_code = self._reread(ocr, crop, read)
            band, background = plate_colours(crop)
            on_vehicle = None if objects is None else any(_inside(box, v) for v in vehicles)
            plates.append(PlateRead(normalise_plate(text), box, w / h, band if band != "none" else None, band_code,
                                    background, confidence, on_vehicle))
        return plates

    def _vehicle_reads(self, photo: "Photo", ocr, vehicles: list[Box], most: int = 3) -> tuple[TextRead, ...]:
        """OCR of the lower part of the largest vehicles, upscaled: plates are small in the photo."""
        from PIL import Image

        def compute() -> tuple[TextRead, ...]:
            image = photo.array()
            out = []
            for x0, y0, x1, y1 in sorted(vehicles, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))[:most]:
                top = y0 + 0.35 * (y1 - y0)
                crop = image[int(top):int(y1) + 1, int(x0):int(x1) + 1]
                if crop.shape[0] < 16 or crop.shape[1] < 32:
                    continue
                scale = max(1.0, 640 / crop.shape[1])
                big = np.asarray(Image.fromarray(crop).resize((int(crop.shape[1] * scale), int(crop.shape[0] * scale)),
                                                              Image.BICUBIC))
                for r in ocr.read(big):
                    bx = (x0 + r.box[0] / scale, top + r.box[1] / scale, x0 + r.box[2] / scale, top + r.box[3] / scale)
                    out.append(TextRead(r.text, r.confidence, bx, r.backend))
            return tuple(out)

        key = f"vehicle-ocr:{ocr.key}:{hash(tuple(vehicles))}"
        return photo.memo(key, compute)

    def _reread(self, ocr, crop: np.ndarray, read: TextRead) -> tuple[str, float, str | None]:
        """OCR the plate crop alone, upscaled: small plate text reads better. Picks up the EU
        band's country code when it is legible."""
        from PIL import Image

        h, w = crop.shape[:2]
        if h < 4 or w < 8:
            return read.text, read.confidence, None
        scale = max(1.0, 96 / h)
        big = np.asarray(Image.fromarray(crop).resize((int(w * scale), int(h * scale)), Image.BICUBIC))
        reads = ocr.read(big)
        codes = {s.code for s in plate_specs().values()}
        is_code = [r.box[2] < 0.2 * big.shape[1] and r.text.strip().upper() in codes for r in reads]
        band_code = next((r.text.strip().upper() for r, c in zip(reads, is_code) if c), None)
        # The characters may come back in pieces ('B' 'AB' '1234'): join the main row, left to right.
        row = sorted((r for r, c in zip(reads, is_code) if not c and r.box[3] - r.box[1] > 0.35 * big.shape[0]),
                     key=lambda r: r.box[0])
        if not row:
            return read.text, read.confidence, band_code
        text = " ".join(r.text for r in row)
        confidence = float(np.mean([r.confidence for r in row]))
        if not looks_like_plate(text) or confidence < read.confidence - 0.2:
            return read.text, read.confidence, band_code
        return text, confidence, band_code

    @staticmethod
    def _clue(plate: PlateRead) -> Clue:
        countries = plate.countries()
        top = sorted(countries, key=lambda c: -countries[c])[:4]
        support = {True: "on a vehicle", False: "not on a detected vehicle", None: "no detector"}[plate.on_vehicle]
        reliability = {True: 0.9, None: 0.7, False: 0.4}[plate.on_vehicle] * plate.confidence ** 0.7
        shape = f"{plate.aspect:.1f}:1" + (f", {plate.band} band" if plate.band else "") + \
            (f" '{plate.band_code}'" if plate.band_code else "") + \
            (f", {plate.background}" if plate.background in ("yellow",) else "")
        return Clue("plate", f"licence plate '{plate.text}' ({shape}; {support}) fits {', '.join(top)}",
                    reliability, countries, box=plate.box,
                    details={"text": plate.text, "aspect": round(plate.aspect, 2), "band": plate.band,
                             "band_code": plate.band_code, "background": plate.background,
                             "on_vehicle": plate.on_vehicle, "top": top})


def _inside(inner: Box, outer: Box, margin: float = 0.1) -> bool:
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    mw, mh = (outer[2] - outer[0]) * margin, (outer[3] - outer[1]) * margin
    return outer[0] - mw <= cx <= outer[2] + mw and outer[1] - mh <= cy <= outer[3] + mh
