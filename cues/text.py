"""The `text` cue: the shared OCR engine reads the photo (small lines again, upscaled), and every
geographic hint in the text becomes a clue (`cues.clues.text`), fused into one likelihood.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from geosleuth.cues.base import BaseCue, CueOutput, Evidence
from geosleuth.cues.clues import Clue, clue_log_likelihood
from geosleuth.cues.clues.text import country_codes, extract_clues
from geosleuth.cues.engines.ocr import OcrEngine, TesseractBackend, TextRead, read_text, reread_small
from geosleuth.gazetteer.languages import OSD_SCRIPTS, SCRIPT_NAMES, script_likelihood

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.photo import Photo


class TextCue(BaseCue):
    """Reads the photo's text with the shared OCR engine and turns it into a likelihood over cells."""

    name = "text"

    def __init__(self, *, ocr: OcrEngine, fuzzy: bool, max_places: int, residual_scale: float,
                 reread_small: bool, weight: float, floor: float) -> None:
        super().__init__(weight=weight, floor=floor)  # each clue has its own floor; this caps the cue
        self.ocr = ocr
        self.fuzzy = fuzzy
        self.max_places = max_places
        self.residual_scale = residual_scale  # < 1 trusts every clue more (fitted on an author split)
        self.reread_small = reread_small  # read small/unsure lines again from upscaled crops

    def available(self) -> tuple[bool, str]:
        return self.ocr.available()

    def reads(self, photo: "Photo") -> tuple[list[TextRead], list[str]]:
        """Text from every available reader (memoised per photo), and notes on unavailable ones."""
        reads: list[TextRead] = []
        notes = []
        for reader in self.ocr.readers:
            ok, note = reader.available()
            if ok:
                found = read_text(photo, reader)
                reads += reread_small(photo, reader, found) if self.reread_small and found else found
            else:
                notes.append(note)
        return reads, notes

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        reads, notes = self.reads(photo)
        if len(notes) == len(self.ocr.readers):
            return CueOutput.abstain("no OCR reader available: " + ("; ".join(notes) or "none configured"))
        if not reads:
            return CueOutput.abstain("no text found")
        clues = extract_clues(reads, fuzzy=self.fuzzy, max_places=self.max_places)
        clues += self._osd_clues(photo, clues)
        seen = Evidence("ocr", "Read: " + " | ".join(r.text for r in reads[:12]) + (" ..." if len(reads) > 12 else ""),
                        float(np.mean([r.confidence for r in reads])), details={"lines": len(reads)})
        if not clues:
            return CueOutput.abstain("text found, but nothing with a geographic signal", (seen,))
        ll = clue_log_likelihood(clues, grid, self.residual_scale)
        return CueOutput(ll, (seen,) + tuple(c.evidence() for c in clues))

    def _osd_clues(self, photo: "Photo", clues: list[Clue]) -> list[Clue]:
        """Tesseract's own script detection, when that backend is in use and saw a script the
        recognised letters did not already show."""
        tess = next((r for r in self.ocr.readers if isinstance(r, TesseractBackend)), None)
        if tess is None or "osd" not in tess.installed():
            return []
        found = photo.memo((tess, "script"), lambda: tess.script(photo.array()))
        if not found:
            return []
        name, confidence = found
        script = OSD_SCRIPTS.get(name)
        if script is None or script == "Latn" or confidence < 2.0 or \
                any(c.kind == "script" and c.details.get("script") == script for c in clues):
            return []
        countries = country_codes()
        lik = script_likelihood(script, countries, 0.002)
        return [Clue("script", f"Tesseract script detection: {SCRIPT_NAMES.get(script, name)} "
                               f"(confidence {confidence:.1f})", min(0.9, 0.5 + confidence / 20),
                     dict(zip(countries, lik)), details={"script": script, "osd": name})]
