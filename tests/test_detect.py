"""The detect cue: YOLO through its real loading code, plates in photos, training, abstentions."""

from __future__ import annotations

import numpy as np
import pytest

from geosleuth import Geolocator
from geosleuth.cues.detect import DetectCue
from geosleuth.cues.detector import YoloDetector, detect_objects, get_detector
from geosleuth.photo import Photo


@pytest.fixture(scope="module")
def yolo_weights(shared):
    path = shared / "weights" / "yolov8n_int8.tflite"
    detector = YoloDetector(str(path))
    ok, note = detector.available()
    if not ok:
        pytest.skip(note)
    return str(path)


def test_missing_weights_abstain_with_a_note(grid, tmp_path):
    detector = YoloDetector(str(tmp_path / "none.pt"))
    ok, note = detector.available()
    assert not ok and ("not found" in note or "not installed" in note)
    cue = DetectCue(weights=str(tmp_path / "none.pt"))
    out = cue.observe(Photo.open(np.zeros((64, 64, 3), np.uint8)), grid)
    assert out.abstained and ("no licence plate" in out.note or "cannot read plates" in out.note)
    assert "none.pt" in out.note or not cue._ocr().available()[0]


def test_official_name_is_not_downloaded_offline():
    ok, note = YoloDetector("yolov8n.pt").available()
    if "not installed" in note:
        pytest.skip(note)
    assert not ok and "allow_download" in note
    assert YoloDetector("yolov8n.pt", allow_download=True).available()[0]


def test_yolo_finds_cars_once_per_photo(shared, yolo_weights):
    photo = Photo.open(shared / "data" / "plates" / "images" / "br_JOG9221.jpg")
    detector = get_detector(yolo_weights)
    first = detect_objects(photo, detector)
    assert any(d.label == "car" and d.confidence > 0.5 for d in first)
    assert detect_objects(photo, detector) is first  # memoised on the photo
    w, h = photo.image.size
    assert all(0 <= d.box[0] < d.box[2] <= w + 1 and 0 <= d.box[1] < d.box[3] <= h + 1 for d in first)


def test_plate_on_a_real_car(shared, yolo_weights, grid):
    cue = DetectCue(weights=yolo_weights)
    if not cue._ocr().available()[0]:
        pytest.skip("EasyOCR not available")
    photo = Photo.open(shared / "data" / "plates" / "images" / "br_JOG9221.jpg")
    out = cue.observe(photo, grid)
    plates = [e for e in out.evidence if e.kind == "plate"]
    assert plates and plates[0].details["text"].startswith("JOG")
    assert "BR" in plates[0].details["top"][:2]  # Mercosur-era shape (3.1:1) and format
    pred = Geolocator(cues=[cue]).locate(photo)
    prior = Geolocator.from_config("prior-only").locate(photo)
    assert pred.cues["detect"].status == "ok" and pred.countries["BR"] > prior.countries["BR"]


def test_train_detector_smoke(tmp_path):
    """One epoch on a few synthetic plate images, on CPU, through the CLI."""
    pytest.importorskip("ultralytics")
    from PIL import Image, ImageDraw

    from geosleuth.cli import main

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
    assert isinstance(trained.detect(np.zeros((160, 160, 3), np.uint8)), list)  # loads and runs
    assert main(["train-detector", str(tmp_path / "missing.yaml")]) == 2
