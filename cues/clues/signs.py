"""Storefront and street signs: detector boxes of sign-like classes read again, upscaled, by the
shared OCR, so small sign text reaches the text clues."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from geosleuth.cues.engines.detector import Detection
from geosleuth.cues.engines.ocr import OcrBackend, TextRead, read_region

if TYPE_CHECKING:
    from geosleuth.photo import Photo

# Words in a detector's class names that mark a sign ("stop sign", "traffic_sign", "Signboard"...).
SIGN_WORDS = frozenset({"sign", "signs", "signboard", "signage", "storefront", "shopfront", "billboard", "banner"})


@dataclass(frozen=True)
class SignRead:
    label: str  # the detector's class
    box: tuple[float, float, float, float]  # the sign, working-image pixels
    reads: tuple[TextRead, ...]  # its text, working-image pixels


def is_sign(label: str) -> bool:
    """Whether a detector class name is sign-like: 'stop sign', 'shop_sign', 'Storefront'."""
    return bool(SIGN_WORDS & set(re.split(r"[\s_\-]+", label.lower())))


def read_signs(photo: "Photo", ocr: OcrBackend, detections: Sequence[Detection], most: int = 6,
               sign_height: int = 192, max_side: int = 1280) -> tuple[SignRead, ...]:
    """OCR of the most confident sign-like boxes, each upscaled to `sign_height` px (the longer
    side at most `max_side`). Memoised per photo and OCR backend."""
    signs = sorted((d for d in detections if is_sign(d.label)), key=lambda d: -d.confidence)[:most]

    def compute() -> tuple[SignRead, ...]:
        image = photo.array()
        out = []
        for d in signs:
            x0, y0, x1, y1 = (int(round(v)) for v in d.box)
            x0, y0 = max(x0, 0), max(y0, 0)
            h, w = image[y0:y1 + 1, x0:x1 + 1].shape[:2]
            if h < 8 or w < 8:
                continue
            scale = min(sign_height / h, max_side / max(h, w))
            out.append(SignRead(d.label, d.box, read_region(ocr, image, (x0, y0, x1, y1), scale)))
        return tuple(out)

    return photo.memo((ocr, "signs", tuple(d.box for d in signs)), compute)


def new_text(signs: Sequence[SignRead], seen: Sequence[TextRead]) -> list[TextRead]:
    """Sign text the photo's first OCR pass did not already read (so no line counts twice)."""
    def key(text: str) -> str:
        return re.sub(r"\W+", "", text.lower())

    known = {key(r.text) for r in seen}
    out, kept = [], set()
    for sign in signs:
        for r in sign.reads:
            k = key(r.text)
            if len(k) >= 2 and k not in known and k not in kept:
                kept.add(k)
                out.append(r)
    return out
