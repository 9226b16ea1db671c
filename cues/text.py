"""The `text` cue: the shared OCR engine reads the photo (small lines again, upscaled), and every
geographic hint in the text becomes a clue (`cues.clues.text`), fused into one likelihood.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geosleuth.cues.base import BaseCue, CueOutput, Evidence
from geosleuth.cues.clues import Clue, clue_log_likelihood
from geosleuth.cues.clues.text import country_codes, extract_clues
from geosleuth.cues.engines.ocr import OcrBackend, OcrEngine, TextRead, read_text, reread_small
from geosleuth.gazetteer.languages import OSD_SCRIPTS, SCRIPT_NAMES, line_script, script_likelihood

if TYPE_CHECKING:
    from geosleuth.fusion.grid import CellGrid
    from geosleuth.photo import Photo


SHOWN_LINES = 20  # text lines listed in the report


def line_evidence(read: TextRead) -> Evidence:
    """One text line as the report shows it: the text, its script, the reader and its confidence."""
    code = read.script or line_script(read.text)
    script = SCRIPT_NAMES.get(code, code) if code else "no letters"
    return Evidence("ocr", f"read \u201c{read.text}\u201d ({script}; {read.backend}, confidence {read.confidence:.2f})",
                    read.confidence, box=read.box, details={"script": code, "reader": read.backend})


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

    def reads(self, photo: "Photo", reader: OcrBackend) -> list[TextRead]:
        """The photo's text as `reader` reads it (memoised per photo)."""
        found = read_text(photo, reader)
        if self.reread_small and found and not reader.scales_lines:
            found = reread_small(photo, reader, found)
        return list(found)

    def observe(self, photo: "Photo", grid: "CellGrid") -> CueOutput:
        reader = self.ocr.first_available()
        if reader is None:
            return CueOutput.abstain("no OCR reader available: " + self.ocr.available()[1])
        reads = self.reads(photo, reader)
        cannot = reader.cannot_read()
        unread = (Evidence("ocr", cannot, 0.0),) if cannot else ()
        if not reads:
            return CueOutput.abstain("no text found" + (f" ({unread[0].summary})" if unread else ""), unread)
        clues = extract_clues(reads, fuzzy=self.fuzzy, max_places=self.max_places)
        clues += self._osd_clues(photo, clues)
        seen = tuple(line_evidence(r) for r in reads[:SHOWN_LINES])
        if len(reads) > SHOWN_LINES:
            seen += (Evidence("ocr", f"... and {len(reads) - SHOWN_LINES} more lines", 0.0),)
        seen += unread
        if not clues:
            return CueOutput.abstain("text found, but nothing with a geographic signal", seen)
        ll, country_given_cell = clue_log_likelihood(clues, grid, self.residual_scale)
        return CueOutput(ll, seen + tuple(c.evidence() for c in clues), country_given_cell=country_given_cell)

    def _osd_clues(self, photo: "Photo", clues: list[Clue]) -> list[Clue]:
        """A reader's own detection of the photo's script (Tesseract's), when one has it and saw
        a script the recognised letters did not already show."""
        found = next(filter(None, (photo.memo((r, "script"), lambda r=r: r.script(photo.array()))
                                   for r in self.ocr.readers)), None)
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
