"""Sign-like detections read closer by the shared OCR; their new text becomes text clues."""

from __future__ import annotations

import numpy as np
import pytest

from geosleuth.cues.detect import DetectCue
from geosleuth.cues.detector import Detection, get_detector
from geosleuth.cues.signs import is_sign, new_text, read_signs
from geosleuth.photo import Photo


def test_sign_like_class_names():
    assert all(is_sign(x) for x in ("stop sign", "traffic_sign", "Signboard", "shop-sign", "storefront"))
    assert not any(is_sign(x) for x in ("car", "person", "design", "signal light"))


def far_sign(font_path):
    """A 1600 px wide wall with a small shop sign: too small for the first OCR pass at 640 px."""
    from PIL import Image, ImageDraw, ImageFont

    im = Image.new("RGB", (1600, 900), (185, 180, 170))
    d = ImageDraw.Draw(im)
    box = (1100, 200, 1240, 226)
    d.rectangle(box, fill=(25, 60, 130))
    d.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), "RUE DE RIVOLI", font=ImageFont.truetype(font_path, 12),
           fill=(255, 255, 255), anchor="mm")
    return np.asarray(im), tuple(float(v) for v in box)


@pytest.fixture(scope="module")
def ocr():
    backend = DetectCue()._ocr()
    ok, note = backend.available()
    if not ok:
        pytest.skip(note)
    return backend


def test_sign_boxes_read_closer(ocr, font):
    path = font("DejaVuSans-Bold.ttf")
    if path is None:
        pytest.skip("no TrueType font")
    image, box = far_sign(path)
    photo = Photo.open(image)
    signs = read_signs(photo, ocr, [Detection("shop sign", 0.8, box), Detection("car", 0.9, (0, 600, 400, 900))])
    assert [s.label for s in signs] == ["shop sign"]
    assert "RIVOLI" in " ".join(r.text.upper() for r in signs[0].reads)
    assert all(box[0] - 5 <= r.box[0] and r.box[2] <= box[2] + 5 for r in signs[0].reads)  # photo coordinates
    assert read_signs(photo, ocr, [Detection("shop sign", 0.8, box)]) is signs  # memoised per photo
    assert new_text(signs, signs[0].reads) == []  # text the first pass already read is not counted again


def test_sign_detector_feeds_text_clues(ocr, font, grid, tmp_path):
    """A configured sign detector's boxes (injected through the photo's detection memo, as a
    model run would fill it) come out as 'signs' evidence and text clues of the detect cue."""
    pytest.importorskip("ultralytics")
    path = font("DejaVuSans-Bold.ttf")
    if path is None:
        pytest.skip("no TrueType font")
    image, box = far_sign(path)
    photo = Photo.open(image)
    weights = tmp_path / "signs.pt"
    weights.write_bytes(b"")  # only its name is used: the detections below stand in for the model's
    cue = DetectCue(weights=str(tmp_path / "none.pt"), sign_weights=str(weights))
    detector = get_detector(str(weights), cue.imgsz, cue.conf)
    photo.memo(f"detect:{detector.key}", lambda: (Detection("storefront", 0.7, box),))
    out = cue.observe(photo, grid)
    signs = [e for e in out.evidence if e.kind == "signs"]
    assert signs and signs[0].details["regions"][0]["label"] == "storefront"
    assert "RIVOLI" in " ".join(signs[0].details["regions"][0]["text"]).upper()
    assert not out.abstained and any(e.kind == "street_word" for e in out.evidence)  # 'rue': a text clue


def test_no_sign_detector_no_sign_reads(ocr, grid):
    out = DetectCue(weights="missing.pt").observe(Photo.open(np.full((64, 64, 3), 200, np.uint8)), grid)
    assert out.abstained and not any(e.kind == "signs" for e in out.evidence)
