"""Sign-like detections read closer by the shared OCR; their new text becomes text clues."""

from __future__ import annotations

import numpy as np
import pytest

from geosleuth.cues import create_cue
from geosleuth.cues.clues.signs import is_sign, new_text, read_signs
from geosleuth.cues.engines.detector import Detection, YoloDetector
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
def ocr(ocr_reader):
    """The reader the detect cue reads crops with (the default config's first OCR reader)."""
    return ocr_reader


@pytest.mark.ocr
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


@pytest.mark.ocr
@pytest.mark.parametrize("found_by", ["objects", "sign detector"])
def test_sign_detector_feeds_text_clues(ocr_reader, fake_detector, font, grid, found_by):
    """Sign-like boxes, from the object detector or from a dedicated sign detector (fakes
    standing in for the models), come out as 'signs' evidence and text clues of the detect cue
    when the text cue's reader (here EasyOCR alone, at 640 px) missed the sign."""
    from geosleuth.cues.engines.ocr import OcrEngine

    path = font("DejaVuSans-Bold.ttf")
    if path is None:
        pytest.skip("no TrueType font")
    image, box = far_sign(path)
    photo = Photo.open(image)
    sign = Detection("storefront", 0.7, box)
    objects = fake_detector([sign] if found_by == "objects" else [Detection("car", 0.9, (0, 600, 400, 900))])
    cue = create_cue("detect", ocr=OcrEngine([ocr_reader]), detector=objects,
                     sign_weights="signs.pt" if found_by == "sign detector" else None)
    if found_by == "sign detector":
        assert isinstance(cue.sign_detector, YoloDetector) and cue.sign_detector.weights == "signs.pt"
        assert (cue.sign_detector.imgsz, cue.sign_detector.conf) == (objects.imgsz, objects.conf)
        cue.sign_detector = fake_detector([sign])  # stands in for the model at signs.pt
    out = cue.observe(photo, grid)
    signs = [e for e in out.evidence if e.kind == "signs"]
    assert signs and signs[0].details["regions"][0]["label"] == "storefront"
    assert "RIVOLI" in " ".join(signs[0].details["regions"][0]["text"]).upper()
    assert not out.abstained and any(e.kind == "street_word" for e in out.evidence)  # 'rue': a text clue


@pytest.mark.ocr
def test_a_sign_the_text_cue_reads_is_not_counted_twice(ocr_engine, fake_detector, font, grid):
    """The default readers: the text cue's reads the far sign whole, so the detect cue reads it
    closer (its 'signs' evidence) but adds no clue of its own."""
    from geosleuth.cues.engines.ocr import read_text

    path = font("DejaVuSans-Bold.ttf")
    if path is None:
        pytest.skip("no TrueType font")
    image, box = far_sign(path)
    photo = Photo.open(image)
    reader = ocr_engine.first_available()
    if "RIVOLI" not in " ".join(r.text for r in read_text(photo, reader)).upper():
        pytest.skip(f"{reader!r} does not read the sign at photo scale here")
    cue = create_cue("detect", ocr=ocr_engine, detector=fake_detector([Detection("storefront", 0.7, box)]))
    out = cue.observe(photo, grid)
    assert any(e.kind == "signs" for e in out.evidence) and not any(e.kind == "street_word" for e in out.evidence)


@pytest.mark.ocr
def test_no_sign_detector_no_sign_reads(ocr_engine, grid):
    cue = create_cue("detect", ocr=ocr_engine, detector=YoloDetector("missing.pt"))
    out = cue.observe(Photo.open(np.full((64, 64, 3), 200, np.uint8)), grid)
    assert out.abstained and not any(e.kind == "signs" for e in out.evidence)


def test_sign_reads_follow_the_setting(fake_reader, fake_detector, grid):
    """reread_signs: false reads no sign crop; true reads the sign-like boxes only."""
    from geosleuth.cues.engines.ocr import OcrEngine

    detections = [Detection("stop sign", 0.8, (10.0, 10.0, 60.0, 60.0)), Detection("car", 0.9, (0.0, 70.0, 30.0, 90.0))]
    for reread, expected in ((False, 0), (True, 1)):
        reader = fake_reader([])
        cue = create_cue("detect", ocr=OcrEngine([reader]), detector=fake_detector(detections),
                         reread_signs=reread, reread_plates=False)
        out = cue.observe(Photo.open(np.full((100, 100, 3), 200, np.uint8)), grid)
        crops = [shape for shape in reader.shapes if shape != (100, 100, 3)]
        assert len(crops) == expected and out.abstained
        assert any(e.kind == "signs" for e in out.evidence) == reread
