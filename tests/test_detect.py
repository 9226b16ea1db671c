"""The detect cue: YOLO through its real loading code, plates in photos, training, abstentions."""

from __future__ import annotations

import numpy as np
import pytest

from geosleuth import Geolocator
from geosleuth.cues import create_cue
from geosleuth.cues.engines.detector import Detection, YoloDetector, detect_objects
from geosleuth.cues.engines.ocr import OcrEngine
from geosleuth.errors import ConfigError
from geosleuth.photo import Photo


@pytest.fixture(scope="module")
def yolo_weights(shared):
    path = shared / "weights" / "yolov8n_int8.tflite"
    detector = YoloDetector(str(path))
    ok, note = detector.available()
    if not ok:
        pytest.skip(note)
    return str(path)


@pytest.mark.slow
def test_missing_weights_abstain_with_a_note(grid, tmp_path):
    detector = YoloDetector(str(tmp_path / "none.pt"))
    ok, note = detector.available()
    assert not ok and ("not found" in note or "not installed" in note)
    with pytest.raises(ConfigError, match="detector.weights=.*none.pt: YOLO weights not found"):  # named, so exit 2
        Geolocator.from_config("prior-only", cues={"detect": True}, detector={"weights": str(tmp_path / "none.pt")})
    geo = Geolocator.from_config("prior-only", cues={"detect": True}, detector={"weights": str(tmp_path / "none.pt")},
                                 check_models=False)  # as when a default model is missing
    [cue] = geo.cues
    assert cue.name == "detect" and cue.detector is geo.engines.detector
    out = cue.observe(Photo.open(np.zeros((64, 64, 3), np.uint8)), grid)
    assert out.abstained and ("no licence plate" in out.note or "cannot read plates" in out.note)
    assert "none.pt" in out.note or not cue.ocr.available()[0]


def test_official_name_is_not_downloaded_offline():
    ok, note = YoloDetector("yolov8n.pt").available()
    if "not installed" in note:
        pytest.skip(note)
    assert not ok and "allow_download" in note
    assert YoloDetector("yolov8n.pt", allow_download=True).available()[0]


@pytest.mark.slow
def test_yolo_finds_cars_once_per_photo(shared, yolo_weights):
    photo = Photo.open(shared / "data" / "plates" / "images" / "br_JOG9221.jpg")
    detector = YoloDetector(yolo_weights)
    first = detect_objects(photo, detector)
    assert any(d.label == "car" and d.confidence > 0.5 for d in first)
    assert detect_objects(photo, detector) is first  # memoised on the photo
    w, h = photo.image.size
    assert all(0 <= d.box[0] < d.box[2] <= w + 1 and 0 <= d.box[1] < d.box[3] <= h + 1 for d in first)


@pytest.mark.slow
@pytest.mark.ocr
def test_plate_on_a_real_car(shared, yolo_weights, ocr_engine, grid):
    cue = create_cue("detect", ocr=ocr_engine, detector=YoloDetector(yolo_weights))
    photo = Photo.open(shared / "data" / "plates" / "images" / "br_JOG9221.jpg")
    out = cue.observe(photo, grid)
    plates = [e for e in out.evidence if e.kind == "plate"]
    assert plates and plates[0].details["text"].startswith("JOG")
    assert "BR" in plates[0].details["top"][:2]  # Mercosur-era shape (3.1:1) and format
    pred = Geolocator(cues=[cue]).locate(photo)
    prior = Geolocator.from_config("prior-only").locate(photo)
    assert pred.cues["detect"].status == "ok" and pred.countries["BR"] > prior.countries["BR"]
    # Its city line, 'BA-SALVADOR', read above the characters: Brazil first, near Salvador.
    assert any(e.kind == "plate_print" and "Salvador" in e.summary for e in out.evidence)
    assert next(iter(pred.countries)) == "BR" and pred.answer.country == "BR"


# ---- the shared OCR: one read of each photo, whatever the cues' settings ------------------------
SETTINGS = [
    ({}, {}),
    ({"reread_small": False}, {"reread_plates": False, "reread_signs": False}),
    ({"reread_small": True, "fuzzy": False, "max_places": 1}, {"reread_plates": True, "reread_signs": True}),
]


@pytest.mark.parametrize("text_settings,detect_settings", SETTINGS)
@pytest.mark.parametrize("order", ["text first", "detect first"])
def test_text_and_detect_read_each_photo_once(fake_reader, fake_detector, text_settings, detect_settings, order):
    """With the text and detect cues both on, the OCR engine reads each photo's full image once:
    crops (small lines, plates, vehicles, signs) are read again, never the whole photo."""
    reader = fake_reader(["AB-123-CD", "Rue de Rivoli", "75001 Paris"], box=(120.0, 300.0, 220.0, 320.0))
    detector = fake_detector([Detection("car", 0.9, (60.0, 200.0, 400.0, 420.0)),
                              Detection("stop sign", 0.8, (450.0, 40.0, 560.0, 150.0))])
    engine = OcrEngine([reader])
    cues = [create_cue("text", ocr=engine, **text_settings),
            create_cue("detect", ocr=engine, detector=detector, **detect_settings)]
    geo = Geolocator(config="prior-only", cues=cues if order == "text first" else cues[::-1])
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (480, 640, 3), np.uint8), rng.integers(0, 255, (480, 640, 3), np.uint8)]
    for k, image in enumerate(images, 1):
        pred = geo.locate(image)
        assert pred.cues["text"].status == "ok" and pred.cues["detect"].status in ("ok", "abstained")
        full = [shape for shape in reader.shapes if shape == (480, 640, 3)]
        assert len(full) == k, reader.shapes  # once per photo
        assert detector.calls == k
    rereads = reader.calls - len(images)
    if text_settings.get("reread_small", True) or detect_settings.get("reread_signs", True):
        assert rereads > 0  # crops were read: what is counted above is the full image alone


def test_engine_read_counts_per_photo_not_per_cue(fake_reader, fake_detector, grid):
    """Cues observing one photo one after the other share the reads; another photo is read anew."""
    reader = fake_reader(["Hauptstraße 12"])
    engine = OcrEngine([reader])
    detect = create_cue("detect", ocr=engine, detector=fake_detector([]), reread_signs=False,
                        reread_plates=False)
    text = create_cue("text", ocr=engine, reread_small=False)
    photo = Photo.open(np.zeros((64, 96, 3), np.uint8))
    for cue in (detect, text, detect, text):
        cue.observe(photo, grid)
    assert reader.calls == 1
    text.observe(Photo.open(np.zeros((64, 96, 3), np.uint8)), grid)
    assert reader.calls == 2


@pytest.mark.training
def test_train_detector_smoke(tmp_path):
    """One epoch on a few synthetic plate images, on CPU, through the CLI."""
    pytest.importorskip("ultralytics")
    from PIL import Image, ImageDraw

    from geosleuth.app.cli import main

    for split in ("train", "val"):
        (tmp_path / "images" / split).mkdir(parents=True)
        (tmp_path / "labels" / split).mkdir(parents=True)
        rng = np.random.default_rng(0 if split == "train" else 1)
        for i in range(6):
            im = Image.new("RGB", (160, 160), (90, 90, 90))
            x, y = int(rng.integers(10, 80)), int(rng.integers(10, 120))
            ImageDraw.Draw(im).rectangle([x, y, x + 60, y + 14], fill=(255, 255, 255), outline=(0, 0, 0))
            im.save(tmp_path / "images" / split / f"{i}.jpg")
            (tmp_path / "labels" / split / f"{i}.txt").write_text(f"0 {(x + 30) / 160} {(y + 7) / 160} 0.375 0.0875\n")
    data = tmp_path / "data.yaml"
    data.write_text(f"path: {tmp_path}\ntrain: images/train\nval: images/val\nnames:\n  0: plate\n")
    code = main(["train-detector", str(data), "--epochs", "1", "--imgsz", "160", "--batch", "4", "--device", "cpu",
                 "--out", str(tmp_path / "runs")])
    best = tmp_path / "runs" / "detector" / "weights" / "best.pt"
    assert code == 0 and best.is_file()
    trained = YoloDetector(str(best))
    assert trained.available()[0]
    found = trained.detect(np.zeros((160, 160, 3), np.uint8))  # loads and runs
    assert all(d.label == "plate" and 0 <= d.confidence <= 1 for d in found)
    assert main(["train-detector", str(tmp_path / "missing.yaml")]) == 2
