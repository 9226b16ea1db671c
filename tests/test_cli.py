from __future__ import annotations

import ast
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import geosleuth
from geosleuth.app.cli import CSV_COLUMNS, csv_rows, main

APP = Path(__file__).resolve().parents[1] / "geosleuth" / "app"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_locate_example_by_default(capsys):
    code, out, err = run(capsys, "locate")
    assert code == 0 and "bundled example" in err and "Confidence  Country: France" in out


@pytest.mark.slow
def test_locate_json_keys(capsys):
    code, out, _ = run(capsys, "locate", geosleuth.example_image(), "--json", "--top-k", "3")
    d = json.loads(out)
    assert code == 0 and len(d["top_k"]) == 3
    assert {"lat", "lon", "probability", "country"} <= set(d["top_k"][0])
    assert isinstance(d["countries"], dict) and isinstance(d["cues"], dict)


@pytest.mark.slow
def test_locate_geojson(capsys):
    """Compact by default: under 300 bytes a cell even with nothing but the prior (3,706 cells,
    1.06 MB), coordinates to about 1 % of each cell's width."""
    code, out, _ = run(capsys, "locate", geosleuth.example_image(), "--geojson", "--config", "prior-only")
    features = json.loads(out)["features"]
    cells = [f for f in features if f["properties"]["kind"] == "cell"]
    assert code == 0 and json.loads(out)["type"] == "FeatureCollection" and len(cells) > 3000
    assert len(out.encode()) <= 300 * len(features) and "\n" not in out.strip() and '": ' not in out
    code, pretty, _ = run(capsys, "locate", geosleuth.example_image(), "--geojson", "--config", "prior-only",
                          "--indent", "1")
    assert code == 0 and json.loads(pretty) == json.loads(out) and pretty.count("\n") > 1000


@pytest.mark.slow
def test_batch_directory_with_junk(capsys, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(geosleuth.example_image(), folder / "a.jpg")
    shutil.copy(geosleuth.example_image(), folder / "b.JPEG")
    (folder / "notes.txt").write_text("not a photo")
    (folder / "fake.png").write_bytes(b"junk junk junk")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / ".hidden.jpg").write_bytes(b"ignored")
    out_csv = tmp_path / "out.csv"
    code, out, err = run(capsys, "locate", str(folder), "--csv", str(out_csv))
    assert code == 1  # some files failed, the batch still finished
    assert "notes.txt" in err and "fake.png" in err and "empty.jpg" in err and "2 of 4 images failed" in err
    rows = list(csv.reader(out_csv.read_text().splitlines()))
    assert rows[0] == ["IMG_ID", "LAT", "LON", "COUNTRY", "PROBABILITY", "CONFIDENCE"]
    by_id = {r[0]: r for r in rows[1:]}
    assert set(by_id) == {"a.jpg", "b.JPEG", "fake.png", "empty.jpg"}
    assert float(by_id["a.jpg"][1]) and by_id["a.jpg"][3] and by_id["fake.png"][1:] == ["", "", "", "", ""]


@pytest.mark.slow
def test_batch_json_lines_report_errors(capsys, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\x00" * 10)
    code, out, _ = run(capsys, "locate", geosleuth.example_image(), str(bad), "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(lines) == 2 and "top_k" in lines[0] and "bad.jpg" in lines[1]["error"]


def test_exit_codes(capsys, tmp_path):
    assert run(capsys, "locate", str(tmp_path / "missing.jpg"))[0] == 1
    code, _, err = run(capsys, "locate", "--set", "output.topk=3")
    assert code == 2 and "did you mean 'top_k'" in err
    assert run(capsys, "locate", "--config", "nosuch")[0] == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("image: {max_side: big}\n")
    assert run(capsys, "locate", "--config", str(bad))[0] == 2
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2


def test_config_show_and_cues(capsys):
    code, out, _ = run(capsys, "config", "show", "--set", "output.top_k=9")
    assert code == 0 and "top_k: 9" in out
    code, out, _ = run(capsys, "cues")
    assert code == 0 and {line.split()[0] for line in out.splitlines()} >= set(geosleuth.list_cues())


def test_cues_lists_cues_and_shared_engines(capsys, tmp_path):
    code, out, _ = run(capsys, "cues", "--set", "ocr.backends=[]", "--set", f"detector.weights={tmp_path / 'no.pt'}")
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    assert code == 0 and set(geosleuth.list_cues()) | {"ocr", "detector", "features"} <= set(lines)
    assert lines["exif"][:2] == ["available", "on"] and lines["detect"][1] == "off"
    assert "(off by default: a photo with vehicles takes seconds" in out and "(off by default: it sends the photo" in out
    assert lines["text"][:2] == ["unavailable", "on"]  # its OCR engine has no reader
    assert lines["ocr"][0] == "missing" and " ".join(lines["ocr"][1:]) == "no OCR reader configured (used by detect, text)"
    assert lines["detector"][0] == "missing" and any("no.pt" in word for word in lines["detector"])
    assert lines["features"][0] in ("present", "missing") and lines["features"][-2:] == ["scene,", "visual)"]
    code, out, _ = run(capsys, "cues", "--set", f"detector.weights={tmp_path / 'no.pt'}")
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    ocr_here = lines["ocr"][0] == "present"  # detect reads plates without the detector: only partly there
    assert lines["detect"][0] == ("partly" if ocr_here else "unavailable") and lines["detector"][0] == "missing"
    code, _, err = run(capsys, "cues", "--set", "ocr.canvas_size=1")
    assert code == 2 and "ocr.canvas_size must be in" in err


def test_cues_says_which_optional_models_are_not_configured(capsys, tmp_path):
    code, out, _ = run(capsys, "cues", "--set", f"cues.visual.gallery={tmp_path / 'none.npz'}")
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert code == 0 and lines["plate-detector"].split()[1:3] == ["not", "configured"]
    assert "cues.detect.plate_weights" in lines["plate-detector"] and "geosleuth train-detector" in lines["plate-detector"]
    assert lines["sign-detector"].split()[1:3] == ["not", "configured"]
    assert lines["gallery"].split()[1] == "missing" and "none.npz" in lines["gallery"]


def test_csv_rows_helper(tmp_path):
    with csv_rows(None) as write:
        assert write is None
    pred = geosleuth.Geolocator.from_config("prior-only").locate(geosleuth.example_image())
    with csv_rows(tmp_path / "out.csv") as write:
        write("a.jpg", pred)
        write("b.jpg", None)
    b = pred.best
    assert list(csv.reader((tmp_path / "out.csv").read_text().splitlines())) == [
        list(CSV_COLUMNS), ["a.jpg", f"{b.lat:.6f}", f"{b.lon:.6f}", b.country, f"{b.probability:.6f}", "none"],
        ["b.jpg", "", "", "", "", ""]]


def test_album_csv_is_one_row(capsys, tmp_path):
    folder = tmp_path / "trip"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(geosleuth.example_image(), folder / name)
    out_csv = tmp_path / "album.csv"
    code, out, _ = run(capsys, "locate", "--album", str(folder), "--config", "prior-only", "--csv", str(out_csv))
    rows = list(csv.reader(out_csv.read_text().splitlines()))
    assert code == 0 and out == "" and rows[0] == list(CSV_COLUMNS)
    assert len(rows) == 2 and rows[1][0].startswith("trip") and float(rows[1][4]) > 0


def test_training_module_loads_only_to_train(capsys):
    script = ("import sys; from geosleuth.app.cli import main; main(['config', 'show']); main(['cells', 'info']); "
              "print(sorted(m for m in sys.modules if m.startswith('geosleuth.cues.training.')))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.splitlines()[-1] == "[]"  # neither classifier nor detector
    with pytest.raises(SystemExit) as exc:
        main(["train-classifier", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "--tau-km" in out and "--holdout" in out and "(default 0.2)" in out


def test_front_ends_import_only_public_library_names():
    private = [f"{path.name}: {node.module}.{alias.name}" for path in APP.glob("*.py")
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("geosleuth")
               and not node.module.startswith("geosleuth.app") for alias in node.names
               if alias.name.startswith("_") and not alias.name.endswith("__")]
    assert private == []


@pytest.mark.slow
def test_cells_build_and_info(capsys, tmp_path):
    coords = tmp_path / "coords.csv"
    rows = ["LAT,LON"] + [f"{48.8 + i * 0.001},{2.3 + i * 0.001}" for i in range(60)] + ["-33.9,151.2", "35.7,139.7"]
    coords.write_text("\n".join(rows) + "\n")
    out_grid = tmp_path / "g.npz"
    code, out, _ = run(capsys, "cells", "build", str(coords), "--t-max", "10", "--t-min", "2", "--out", str(out_grid))
    assert code == 0 and out_grid.is_file()
    code, out, _ = run(capsys, "cells", "info", str(out_grid))
    assert code == 0 and '"t_max": 10' in out
    code, _, err = run(capsys, "locate", "--set", f"grid={out_grid}", "--json")
    assert code == 0
    assert run(capsys, "cells", "build", str(coords), "--t-max", "1", "--t-min", "5")[0] == 2
    assert run(capsys, "cells", "build", str(tmp_path / "none.csv"))[0] == 2


@pytest.mark.slow
def test_console_script_runs():
    exe = shutil.which("geosleuth", path=str(__import__("pathlib").Path(sys.executable).parent))
    if exe is None:
        pytest.skip("console script not installed")
    proc = subprocess.run([exe, "locate", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and json.loads(proc.stdout)["top_k"]
