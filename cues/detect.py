"""The `detect` cue: YOLO objects, and licence plates read and matched to the countries issuing them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from geosleuth.cues.base import BaseCue, CueOutput, Evidence
from geosleuth.cues.clues import Clue, clue_log_likelihood, distinct
from geosleuth.cues.clues.plates import (format_countries, iou, look_countries, looks_like_plate, normalise_plate,
                                         plate_box, plate_colours, plate_countries, plate_specs, printed_places,
                                         shape_words, word_countries)
from geosleuth.cues.clues.signs import is_sign, new_text, read_signs
from geosleuth.cues.clues.text import extract_clues
from geosleuth.cues.engines.detector import VEHICLES, Detection, YoloDetector, detect_objects
from geosleuth.cues.engines.ocr import OcrBackend, OcrEngine, TextRead, line_boxes, read_region, read_text, upscale

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.photo import Photo

Box = tuple[float, float, float, float]
PLATE_MIN_CONFIDENCE = 0.05
MAX_GARBLED = 4  # garbled or unread text boxes on vehicles re-read per photo
CLOSE_UP = 0.12  # characters this share of the photo's width wide: a close-up of a car
SMALL_PRINT_PX = 96  # a plate's small print is read enlarged as if its characters were this tall


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
    words: tuple[str, ...] = ()  # other text on and around the plate
    printed: str = ""  # the characters as read, separators kept ('OKL·0817')

    def countries(self) -> dict[str, float]:
        """Every feature together, as one likelihood over countries."""
        return plate_countries(self.text, aspect=self.aspect, band=self.band, band_code=self.band_code,
                               background=self.background, named=word_countries(self.words))

    def with_small_print(self, ocr: OcrBackend, image: np.ndarray) -> "PlateRead":
        """The plate with the lines printed just above and below it read by `ocr` (`small_print`)
        added to its words."""
        more = small_print(ocr, image, self)
        return replace(self, words=self.words + tuple(w for w in more if w not in self.words))


class DetectCue(BaseCue):
    """Licence plates (from a plate detector when configured, else plate-shaped text, preferably on
    vehicles) matched against per-country formats, shapes and colours; sign-like detections
    ('stop sign', or a `sign_weights` detector's storefronts) read closer for text clues; objects
    as evidence."""

    name = "detect"
    why_off = ("off by default: a photo with vehicles takes seconds (YOLO, then OCR of plates and their small "
               "print), its GeoScore gain on the dev photos is within noise, and YOLO weights must be supplied "
               "(--set detector.weights=PATH); see the README's 'Licence plates'")

    def __init__(self, *, ocr: OcrEngine, detector: YoloDetector, plate_weights: str | None,
                 sign_weights: str | None, reread_plates: bool, reread_signs: bool, weight: float,
                 floor: float) -> None:
        super().__init__(weight=weight, floor=floor)
        self.ocr = ocr
        self.detector = detector
        # Dedicated detectors run at the shared detector's size and threshold.
        self.plate_detector = self._also(plate_weights)
        self.sign_detector = self._also(sign_weights)  # a storefront/sign detector, read closer
        self.reread_plates = reread_plates
        self.reread_signs = reread_signs

    def _also(self, weights: str | None) -> YoloDetector | None:
        d = self.detector
        return YoloDetector(weights, d.imgsz, d.conf, d.allow_download) if weights else None

    def optional_models(self) -> dict[str, tuple[str, str]]:
        return {"plate-detector": (f"cues.{self.name}.plate_weights", "train one with `geosleuth train-detector`"),
                "sign-detector": (f"cues.{self.name}.sign_weights",
                                  "a YOLO storefront/sign detector (`geosleuth train-detector`)")}

    def available(self) -> tuple[bool, str]:
        det_ok, det_note = self.detector.available()
        ocr_ok, ocr_note = self.ocr.available()
        return det_ok or ocr_ok, f"objects: {det_note}; plates: {ocr_note}"

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        evidence: list[Evidence] = []
        det_ok, det_note = self.detector.available()
        objects: tuple[Detection, ...] = detect_objects(photo, self.detector) if det_ok else ()
        if objects:
            counts = Counter(d.label for d in objects)
            evidence.append(Evidence("objects", "Objects: " + ", ".join(f"{k} ×{v}" if v > 1 else k
                                                                       for k, v in counts.most_common(8)),
                                     float(max(d.confidence for d in objects)), details=dict(counts)))
        ocr = self.ocr.crop_reader()
        if ocr is None:
            ocr_note = self.ocr.available()[1]
            return CueOutput.abstain(f"cannot read plates: {ocr_note}" + ("" if det_ok else f"; {det_note}"),
                                     evidence)
        plate_boxes = None
        if self.plate_detector is not None:
            found = self._extra_detections(photo, self.plate_detector, "plate", evidence)
            plate_boxes = None if found is None else [d.box for d in found]
        plates = self.read_plates(photo, ocr, objects if det_ok else None, plate_boxes)
        clues = distinct([clue for p in plates for clue in plate_clues(p)])
        if self.reread_signs:
            signs = list(objects) + list(self._extra_detections(photo, self.sign_detector, "sign", evidence) or ())
            clues += self._sign_clues(photo, ocr, signs, evidence)
        if not clues:
            note = "no licence plate or sign text found" + ("" if det_ok else f" (objects skipped: {det_note})")
            return CueOutput.abstain(note, evidence)
        evidence += [c.evidence() for c in clues]
        ll, country_given_cell = clue_log_likelihood(clues, grid)
        return CueOutput(ll, tuple(evidence), country_given_cell=country_given_cell)

    @staticmethod
    def _extra_detections(photo: "Photo", detector: YoloDetector | None, role: str,
                          evidence: list[Evidence]) -> tuple[Detection, ...] | None:
        """Detections of a dedicated plate or sign detector; None (with a note) when unavailable."""
        if detector is None:
            return None
        ok, note = detector.available()
        if not ok:
            evidence.append(Evidence("detector", f"{role} detector unavailable: {note}", 0.0))
            return None
        return detect_objects(photo, detector)

    def _sign_clues(self, photo: "Photo", ocr: OcrBackend, detections: Sequence[Detection],
                    evidence: list[Evidence]) -> list[Clue]:
        """Sign-like boxes read again, upscaled; text the first OCR pass missed becomes text clues."""
        if not any(is_sign(d.label) for d in detections):
            return []
        signs = read_signs(photo, ocr, detections)
        regions = [{"label": s.label, "box": [round(v, 1) for v in s.box], "text": [r.text for r in s.reads]}
                   for s in signs]
        evidence.append(Evidence("signs", "Signs read closer: " + "; ".join(
            f"{s.label}: " + (" | ".join(r.text for r in s.reads) or "no text") for s in signs),
            float(np.mean([r.confidence for s in signs for r in s.reads] or [0.0])),
            box=signs[0].box if signs else None, details={"regions": regions}))
        return extract_clues(new_text(signs, self.lines(photo, ocr)))

    def lines(self, photo: "Photo", ocr: OcrBackend) -> tuple[TextRead, ...]:
        """The photo's lines as the text cue reads them (memoised per photo, so read once for
        both cues); `ocr` reads them when no other reader can."""
        return read_text(photo, self._text_reader(ocr))

    def _text_reader(self, ocr: OcrBackend) -> OcrBackend:
        """The text cue's reader (the engine's first that can run), else `ocr`."""
        return self.ocr.first_available() or ocr

    def read_plates(self, photo: "Photo", ocr: OcrBackend, objects: Sequence[Detection] | None,
                    plate_boxes: Sequence[Box] | None = None) -> list[PlateRead]:
        """The plates `find_plates` finds, with the small print that a plate's own read did not
        place read closer in strips (`small_print`), by each reader in turn."""
        plates = self.find_plates(photo, ocr, objects, plate_boxes)
        for reader in filter(None, (ocr, self.ocr.other_than(ocr))):
            plates = [p if word_countries(p.words) else p.with_small_print(reader, photo.array()) for p in plates]
        return plates

    def find_plates(self, photo: "Photo", ocr: OcrBackend, objects: Sequence[Detection] | None,
                    plate_boxes: Sequence[Box] | None = None) -> list[PlateRead]:
        """Plates from a plate detector's boxes when given; else plate-shaped text (the text cue's
        lines, and `ocr`'s reads of upscaled vehicle crops), grown to the plate's outline; each
        re-read by `ocr` at higher resolution and its colours measured. In a photo without
        vehicles only the text cue's plate-like lines are read again."""
        image = photo.array()
        vehicles = [d.box for d in objects or () if d.label in VEHICLES]
        plates: list[PlateRead] = []
        if plate_boxes is not None:
            for box in plate_boxes:
                text, confidence, band_code, words = self._reread(ocr, image, box, TextRead("", 0.0, box, "detector"))
                if looks_like_plate(text):
                    plates.append(_plate_read(image, box, text, confidence, band_code, True, words))
            return plates
        # On vehicle crops, keep unsure reads too: a plate's format and shape check them.
        reads = list(self.lines(photo, ocr)) + list(self._vehicle_reads(photo, ocr, vehicles))
        reads += _joined(reads)
        if vehicles:  # lines no reader made sense of, largest first: a plate is often one
            reads += [TextRead("", 0.0, box, "line detector") for box in line_boxes(photo, self._text_reader(ocr))
                      if not any(iou(box, r.box) > 0.3 for r in reads)]
        garbled = 0
        for read in reads:
            if any(iou(read.box, p.box) > 0.3 for p in plates):
                continue
            on_vehicle = None if objects is None else any(_inside(read.box, v) for v in vehicles)
            if on_vehicle is False and read.box[2] - read.box[0] >= CLOSE_UP * image.shape[1]:
                on_vehicle = None  # a close-up: the car fills the frame, where the detector rarely boxes it
            # Text on a vehicle that OCR garbled ('^' for a plate) gets a closer look when plate-shaped.
            second_look = on_vehicle is not False and self.reread_plates and garbled < MAX_GARBLED and \
                len(normalise_plate(read.text)) <= 8
            if not looks_like_plate(read.text) and not second_look:
                continue
            box = plate_box(image, read.box)
            w, h = box[2] - box[0], box[3] - box[1]
            if h < 6 or not 1.4 <= w / h <= 7:
                continue
            text, confidence, band_code, words = read.text, read.confidence, None, ()
            if not looks_like_plate(read.text):
                garbled += 1
                text, confidence, band_code, words = self._reread(ocr, image, box,
                                                                  TextRead("", 0.0, read.box, read.backend))
                if not looks_like_plate(text):
                    continue
            elif self.reread_plates:
                text, confidence, band_code, words = self._reread(ocr, image, box, read)
            plates.append(_plate_read(image, box, text, confidence, band_code, on_vehicle, words))
        return plates

    @staticmethod
    def _vehicle_reads(photo: "Photo", ocr: OcrBackend, vehicles: list[Box], most: int = 3) -> tuple[TextRead, ...]:
        """OCR of the lower part of the largest vehicles, upscaled: plates are small in the photo."""
        def compute() -> tuple[TextRead, ...]:
            image = photo.array()
            out: list[TextRead] = []
            for x0, y0, x1, y1 in sorted(vehicles, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))[:most]:
                region = (int(x0), int(y0 + 0.35 * (y1 - y0)), int(x1), int(y1))
                height = min(region[3], image.shape[0] - 1) - region[1] + 1
                width = min(region[2], image.shape[1] - 1) - region[0] + 1
                if height < 16 or width < 32:
                    continue
                out += read_region(ocr, image, region, 640 / width, PLATE_MIN_CONFIDENCE)
            return tuple(out)

        return photo.memo((ocr, "vehicles", tuple(vehicles)), compute)

    @staticmethod
    def _reread(ocr: OcrBackend, image: np.ndarray, box: Box, read: TextRead) -> tuple[str, float, str | None,
                                                                                 tuple[str, ...]]:
        """OCR of the plate crop alone, upscaled: small plate text reads better. Returns the
        characters, their confidence, the EU band's country code when legible, and the plate's
        other printed lines (state names, Brazil's city line). The crop has no margin: one reads
        the characters worse and finds few more words."""
        w, h = box[2] - box[0], box[3] - box[1]
        if h < 4 or w < 8:
            return read.text, read.confidence, None, ()
        crop = image[int(box[1]):int(box[3]) + 1, int(box[0]):int(box[2]) + 1]
        big = upscale(crop, 96 / h)
        reads = ocr.read(big)
        codes = {s.code for s in plate_specs().values()}
        is_code = [r.box[2] < 0.2 * big.shape[1] and r.text.strip().upper() in codes for r in reads]
        band_code = next((r.text.strip().upper() for r, c in zip(reads, is_code) if c), None)
        # The characters may come back in pieces ('B' 'AB' '1234'): join the main row, left to right.
        in_row = [not c and r.box[3] - r.box[1] > 0.35 * big.shape[0] for r, c in zip(reads, is_code)]
        words = tuple(r.text for r, c, m in zip(reads, is_code, in_row) if not c and not m)
        row = sorted((r for r, m in zip(reads, in_row) if m), key=lambda r: r.box[0])
        if not row:
            return read.text, read.confidence, band_code, words
        text = " ".join(r.text for r in row)
        confidence = float(np.mean([r.confidence for r in row]))
        if not looks_like_plate(text) or confidence < read.confidence - 0.2:
            return read.text, read.confidence, band_code, words
        return text, confidence, band_code, words

# Small print read apart from the characters and found in plates.yaml or the gazetteer (a city
# line, a state's name) is rarely a coincidence, on a plate or off it.
PRINT_RELIABILITY = 0.98
# How often a car is seen in the city or state its plate names rather than elsewhere in its
# country (cars travel): assumed; 17 of the 20 Brazilian plates in the shared photos name one state.
AT_HOME = 0.8
BAND_CODE_RELIABILITY = 0.9  # the band's country code, read apart from the characters
BANDS = {"eu": "blue EU band on the left", "mercosur": "blue Mercosur band on top"}
# How much a plate-shaped read's characters and shape are trusted, by whether it lies on a detected
# vehicle (None: no detector, or a close-up): chosen out of region on the shared real plates
# (benchmarks/eval_plates.py, `check`) as the setting that leaves the fewest confidently wrong.
ON_PLATE = {True: 0.6, None: 0.45, False: 0.3}
WHOLE_PLATE_CHARS = 6  # the fewest characters of a read taken as a whole plate (most formats have 6-8)


def small_print(ocr: OcrBackend, image: np.ndarray, plate: PlateRead) -> tuple[str, ...]:
    """The lines printed just above and below a plate's characters (Brazil's city line, a US
    state's name or slogan), each strip read enlarged: a plate box found from its characters
    often stops at them, and the print is a fifth of their height."""
    x0, y0, x1, y1 = (int(v) for v in plate.box)
    h = y1 - y0
    if h < 8 or x1 - x0 < 16:
        return ()
    scale = min(max(2.0, SMALL_PRINT_PX / h), 4.0)
    strips = [(max(y0 - h // 2, 0), y0 + h // 3), (y1 - h // 3, min(y1 + h // 2, image.shape[0] - 1))]
    reads = [r for top, low in strips for r in read_region(ocr, image, (x0, top, x1, low), scale, PLATE_MIN_CONFIDENCE)]
    return tuple(r.text for r in reads if normalise_plate(r.text) != plate.text and not looks_like_plate(r.text)
                 and len(r.text.strip()) >= 4)


def plate_clues(plate: PlateRead) -> list[Clue]:
    """A plate as independent clues, each with its own reliability: its characters (formats);
    how it looks (shape, band, colours); the band's country code, when read; each place or
    country its small print names (a city line, a state), through the gazetteer. Independent
    evidence multiplies: a city line beside the characters outweighs the characters alone."""
    fits = format_countries(plate.text)
    looks = look_countries(plate.aspect, plate.band, plate.background)
    both = {cc: fits[cc] * looks[cc] for cc in fits}
    top = sorted(both, key=lambda c: -both[c])[:4]
    support = {True: "on a vehicle", False: "not on a detected vehicle",
               None: "no vehicle detected"}[plate.on_vehicle]
    on_plate = ON_PLATE[plate.on_vehicle]
    shape = shape_words(plate.aspect) + (f"; {BANDS[plate.band]}" if plate.band else "") + \
        ("; yellow" if plate.background == "yellow" else "")
    fitting = [cc for cc in sorted(fits, key=lambda c: -fits[c]) if fits[cc] >= 0.5]
    printed = printed_places(plate.words)
    said = "; ".join(f"small print '{p.line}' -> " + (p.place.label if p.place else p.country) for p in printed)
    details = {"text": plate.text, "printed": plate.printed, "aspect": round(plate.aspect, 2), "band": plate.band,
               "band_code": plate.band_code, "background": plate.background, "on_vehicle": plate.on_vehicle,
               "words": list(plate.words), "named": sorted({p.country for p in printed}), "top": top}
    characters = (f"its characters fit {', '.join(fitting[:4])}" + (" ..." if len(fitting) > 4 else "")
                  if len(fitting) < len(fits) else "its characters fit no format better than another")
    clues = [Clue("plate", f"licence plate '{plate.printed or plate.text}' ({support}): {shape}; {characters}"
                  + (f"; {said}" if said else ""), on_plate, fits, box=plate.box, details=details)]
    if len(plate.text) >= WHOLE_PLATE_CHARS:  # fewer characters: likely part of a plate, its box's shape a part's
        clues.append(Clue("plate_look", f"plate shape {shape}", on_plate, looks, box=plate.box))
    if plate.band_code:
        coded = {spec.country: 1.0 for spec in plate_specs().values() if spec.code == plate.band_code}
        clues.append(Clue("plate_code", f"plate band code '{plate.band_code}' -> {', '.join(sorted(coded))}",
                          on_plate * BAND_CODE_RELIABILITY, coded, box=plate.box))
    for p in printed:  # the country, and the city or state named as the plate's home (cars travel)
        named = p.place.label if p.place else p.country
        details = {"line": p.line, "country": p.country, "place": p.place.label if p.place else None}
        clues.append(Clue("plate_print", f"plate small print '{p.line}' -> {named}", PRINT_RELIABILITY,
                          {p.country: 1.0}, box=plate.box, details=details))
    for p in printed:
        if p.place is None:
            continue
        clues.append(Clue("plate_home", f"the car's home: {p.place.label} (cars taken to be seen at home "
                                        f"{AT_HOME:.0%} of the time)",
                          PRINT_RELIABILITY, places=((p.place, 1.0),), box=plate.box, home_share=AT_HOME,
                          within_country=True))
    return distinct(clues)


def _plate_read(image: np.ndarray, box: Box, text: str, confidence: float, band_code: str | None,
                on_vehicle: bool | None, words: tuple[str, ...]) -> PlateRead:
    """A plate read with its shape and the colours measured on its crop."""
    band, background = plate_colours(image[int(box[1]):int(box[3]) + 1, int(box[0]):int(box[2]) + 1])
    w, h = box[2] - box[0], box[3] - box[1]
    return PlateRead(normalise_plate(text), box, w / max(h, 1), band if band != "none" else None, band_code,
                     background, confidence, on_vehicle, words, " ".join(text.split()))


def _inside(inner: Box, outer: Box, margin: float = 0.1) -> bool:
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    mw, mh = (outer[2] - outer[0]) * margin, (outer[3] - outer[1]) * margin
    return outer[0] - mw <= cx <= outer[2] + mw and outer[1] - mh <= cy <= outer[3] + mh


def _joined(reads: Sequence[TextRead]) -> list[TextRead]:
    """Neighbouring pieces of one line joined ('CJ' + 'J79'): an emblem or a gap on the plate
    splits the characters into separate text boxes."""
    out = []
    for a in reads:
        ha = a.box[3] - a.box[1]
        right = [b for b in reads if b is not a and 0 <= b.box[0] - a.box[2] < 0.8 * ha
                 and 0.67 < (b.box[3] - b.box[1]) / max(ha, 1) < 1.5
                 and min(a.box[3], b.box[3]) - max(a.box[1], b.box[1]) > 0.6 * ha]
        for b in right[:1]:
            out.append(TextRead(f"{a.text} {b.text}", min(a.confidence, b.confidence),
                                (a.box[0], min(a.box[1], b.box[1]), b.box[2], max(a.box[3], b.box[3])), a.backend))
    return out
