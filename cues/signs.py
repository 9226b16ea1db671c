"""Storefront and street signs: detector boxes of sign-like classes read again, upscaled, by the
shared OCR, so small sign text reaches the text clues."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from geosleuth.cues.detector import Detection
from geosleuth.cues.ocr import OcrBackend, TextRead

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
    from PIL import Image

    signs = sorted((d for d in detections if is_sign(d.label)), key=lambda d: -d.confidence)[:most]

    def compute() -> tuple[SignRead, ...]:
        image = photo.array()
        out = []
        for d in signs:
            x0, y0, x1, y1 = (int(round(v)) for v in d.box)
            x0, y0 = max(x0, 0), max(y0, 0)
            crop = image[y0:y1 + 1, x0:x1 + 1]
            if crop.shape[0] < 8 or crop.shape[1] < 8:
                continue
            scale = max(1.0, min(sign_height / crop.shape[0], max_side / max(crop.shape[:2])))
            big = np.asarray(Image.fromarray(crop).resize((int(crop.shape[1] * scale), int(crop.shape[0] * scale)),
                                                          Image.BICUBIC)) if scale > 1 else crop
            reads = tuple(TextRead(r.text, r.confidence, (x0 + r.box[0] / scale, y0 + r.box[1] / scale,
                                                          x0 + r.box[2] / scale, y0 + r.box[3] / scale), r.backend)
                          for r in ocr.read(big))
            out.append(SignRead(d.label, d.box, reads))
        return tuple(out)

    return photo.memo(f"signs:{ocr.key}:{hash(tuple(d.box for d in signs))}", compute)


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
