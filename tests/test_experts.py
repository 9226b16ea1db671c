"""Experts: a vision-language model behind a real OpenAI-compatible server on loopback (started
here, answering as real servers do when they work and when they fail), recorded answers
replayed from CSV, and calibration that keeps an expert only when it helps out of author fold."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

import geosleuth
from conftest import serving
from geosleuth.app.cli import main
from geosleuth.cues.clues.expert import ExpertSettings

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

PATRAS = {"place": "Patras, Greece", "country": "GR", "lat": 38.2466, "lon": 21.7346, "confidence": 0.8}
ANSWER = {"candidates": [PATRAS, {"place": "Bari", "country": "IT", "lat": 41.12, "lon": 16.87, "confidence": 0.1}],
          "clues": ["Greek letters on the shop sign", "a harbour with ferries"]}


def chat(content: str, **message) -> dict:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content, **message}}]}


class FakeVlm:
    """Behaviours by URL prefix: /<mode>/v1/chat/completions. Records each request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = self.most_in_flight = 0

    def app(self):
        from fastapi.responses import JSONResponse

        app = fastapi.FastAPI()

        @app.post("/{mode}/v1/chat/completions")
        async def complete(mode: str, body: dict, request: fastapi.Request):
            self.requests.append((mode, body))
            self.headers.append(dict(request.headers))
            seen = sum(m == mode for m, _ in self.requests)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                await asyncio.sleep(3.0 if mode == "slow" else 0.2 if mode == "batch" else 0)
            finally:
                self.in_flight -= 1
            if mode in ("ok", "slow", "batch"):
                return chat(json.dumps(ANSWER))
            if mode == "prose":
                return chat("Looking at the sign, I think:\n```json\n" + json.dumps(ANSWER) + "\n```\nHope it helps.")
            if mode == "noschema":
                if "response_format" in body:
                    return JSONResponse({"error": {"message": "response_format is not supported"}}, 400)
                return chat("Answer: " + json.dumps(ANSWER))
            if mode == "malformed":
                return chat("Greece, probably near Patras {candidates: [oops")
            if mode == "refusal":
                return chat("", refusal="I can't help with locating this image.")
            if mode == "error":
                return JSONResponse({"error": {"message": "model crashed"}}, 500)
            if mode == "ratelimit":
                if seen == 1:
                    return JSONResponse({"error": {"message": "slow down"}}, 429, headers={"Retry-After": "0.1"})
                return chat(json.dumps(ANSWER))
            if mode == "outofrange":
                return chat(json.dumps({"candidates": [{"place": "", "country": "", "lat": 123, "lon": 400,
                                                        "confidence": 0.9}], "clues": []}))
            if mode == "namedonly":  # a place without coordinates, and one with coordinates far from it
                return chat(json.dumps({"candidates": [
                    {"place": "Patras", "country": "GR", "lat": None, "lon": None, "confidence": 0.6},
                    {"place": "Patras", "country": "GR", "lat": 0.0, "lon": 0.0, "confidence": 0.3}], "clues": []}))
            return JSONResponse({"error": "unknown mode"}, 404)

        return app


@pytest.fixture(scope="module")
def vlm():
    fake = FakeVlm()
    app = fake.app()
    with serving(lambda port: uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                            log_level="error"))) as url:
        fake.url = url
        yield fake


@pytest.fixture(scope="module")
def sharp(tmp_path_factory) -> Path:
    """Expert settings that put most of the model's answers within 25 km (as if calibrated on a
    sharp model)."""
    path = tmp_path_factory.mktemp("settings") / "sharp.yaml"
    path.write_text(ExpertSettings({"any": (0, 0, 0.95, 0, 0, 0, 0, 0, 0, 0, 0.05)}, weight=1.0, floor=1e-6,
                                   fitted="by hand, for tests").to_yaml())
    return path


def vlm_sets(vlm, mode: str, *extra: str) -> list[str]:
    return ["--config", "prior-only", "--set", "cues.vlm.enabled=true",
            "--set", f"cues.vlm.base_url={vlm.url}/{mode}/v1", "--set", "cues.vlm.timeout_s=1", *extra]


def locate_json(capsys, *args: str) -> tuple[int, dict, str]:
    code = main(["locate", geosleuth.example_image(), "--json", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err, err
    return code, json.loads(out) if out.strip() else {}, err


@pytest.mark.parametrize("mode", ["ok", "prose", "noschema", "ratelimit"])
def test_a_model_answer_moves_the_answer_and_is_quoted_as_its_claim(capsys, vlm, sharp, mode):
    code, pred, _ = locate_json(capsys, *vlm_sets(vlm, mode, "--set", f"cues.vlm.settings={sharp}"))
    report = pred["cue_reports"]["vlm"]
    assert code == 0 and report["status"] == "ok"
    # It said 80 %, and Bari 10 %; the rest of its mass follows the prior, part of it where people live.
    assert pred["answer"]["country"] == "GR" and 0.6 < pred["countries"]["GR"] < 0.9
    assert pred["confidence"]["level"] in ("none", "continent")  # not 90 % sure of a country
    summaries = [e["summary"] for e in report["evidence"]]
    assert any(f"{vlm.url}/{mode}/v1/chat/completions" in s for s in summaries)  # where the photo went
    assert any("Patras, Greece" in s and "80% confidence" in s for s in summaries)
    assert any(s.endswith("(its claim): Greek letters on the shop sign") for s in summaries)
    asked = [body for m, body in vlm.requests if m == mode][-1]
    assert asked["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")


@pytest.mark.parametrize("mode, why", [
    ("malformed", "holds no JSON answer"),
    ("refusal", "the model declined: I can't help"),
    ("error", "answered HTTP 500: "),
    ("slow", "did not answer within 1 s"),
    ("outofrange", "none of the model's 1 candidates has a usable place"),
    ("missing", "answered HTTP 404"),
])
def test_a_model_that_fails_makes_the_cue_abstain_in_one_line(capsys, vlm, mode, why):
    code, pred, _ = locate_json(capsys, *vlm_sets(vlm, mode))
    report = pred["cue_reports"]["vlm"]
    assert code == 0 and report["status"] == "abstained" and why in report["note"], report["note"]
    assert pred["answer"]["lat"] is not None  # the other cues and the prior still answer


def test_a_server_that_is_down_makes_the_cue_abstain(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    code, pred, _ = locate_json(capsys, "--config", "prior-only", "--set", "cues.vlm.enabled=true",
                                "--set", f"cues.vlm.base_url=http://127.0.0.1:{port}/v1")
    assert code == 0 and "cannot reach" in pred["cue_reports"]["vlm"]["note"]


def test_a_named_place_without_coordinates_or_far_from_them_is_put_at_the_place(vlm):
    from geosleuth.cues.engines.vlm import VlmClient

    answer = VlmClient(f"{vlm.url}/namedonly/v1", "m", timeout_s=5).ask(np.zeros((64, 64, 3), np.uint8))
    assert len(answer.candidates) == 2
    for c in answer.candidates:
        assert abs(c.lat - 38.25) < 0.2 and abs(c.lon - 21.73) < 0.2 and c.country == "GR"


@pytest.mark.parametrize("url", ["https://api.example.com/v1", "http://192.168.1.20:11434/v1", "ftp://localhost/v1"])
def test_a_photo_is_never_sent_off_the_machine_unless_allowed(capsys, url):
    code = main(["locate", geosleuth.example_image(), "--config", "prior-only", "--set", "cues.vlm.enabled=true",
                 "--set", f"cues.vlm.base_url={url}"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "allow_remote=true" in err or "must be an http(s) URL" in err


def test_remote_allowed_is_said_and_the_key_comes_from_the_named_variable(vlm, monkeypatch):
    """allow_remote lets a non-loopback URL through the check; the key is read from the
    environment variable the config names and sent as a bearer token."""
    from geosleuth.cues.engines.vlm import check_destination

    check_destination("https://api.example.com/v1", allow_remote=True)
    monkeypatch.setenv("GEOSLEUTH_TEST_KEY", "sk-test-123")
    geo = geosleuth.Geolocator.from_config("prior-only", cues={"vlm": {
        "enabled": True, "base_url": f"{vlm.url}/ok/v1", "api_key_env": "GEOSLEUTH_TEST_KEY"}})
    assert geo.locate(geosleuth.example_image()).cues["vlm"].status == "ok"
    assert vlm.headers[-1].get("authorization") == "Bearer sk-test-123"


def test_a_batch_keeps_several_requests_in_flight(vlm, tmp_path):
    for i in range(8):
        shutil.copy(geosleuth.example_image(), tmp_path / f"p{i}.jpg")
    geo = geosleuth.Geolocator.from_config("prior-only", cues={"vlm": {
        "enabled": True, "base_url": f"{vlm.url}/batch/v1", "in_flight": 4}})
    vlm.most_in_flight = 0
    items = list(geo.locate_many(sorted(tmp_path.glob("*.jpg"))))
    assert all(it.ok and it.prediction.cues["vlm"].status == "ok" for it in items)
    assert vlm.most_in_flight >= 2


# ---- recorded experts ----------------------------------------------------------------------------
def write_csv(path: Path, rows: list[list[str]], header=("IMG_ID", "LAT", "LON", "PLACE", "EVIDENCE_COUNT")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_recorded_answer_is_replayed_for_its_photo(capsys, tmp_path):
    answers = write_csv(tmp_path / "colleague.csv", [["example_street.jpg", "-33.87", "151.21", "Sydney", "3"],
                                                     ["other.jpg", "0", "0", "", ""]])
    code, pred, _ = locate_json(capsys, "--config", "prior-only", "--expert", str(answers))
    report = pred["cue_reports"]["expert:colleague"]
    assert code == 0 and report["status"] == "ok" and next(iter(pred["countries"])) == "AU"  # the leading country
    assert "colleague.csv says: Sydney (-33.8700, 151.2100), evidence cited: 3" in report["evidence"][0]["summary"]


def test_a_photo_missing_from_the_file_makes_the_expert_abstain(capsys, tmp_path):
    answers = write_csv(tmp_path / "tool.csv", [["someone_else.jpg", "10", "10", "", ""]])
    code, pred, _ = locate_json(capsys, "--config", "prior-only", "--expert", str(answers))
    assert code == 0 and pred["cue_reports"]["expert:tool"]["status"] == "abstained"


@pytest.mark.parametrize("rows, header, message", [
    ([["a.jpg", "48.8", "2.3", "", ""], ["b.jpg", "north", "2.3", "", ""]], None, "line 3: could not convert"),
    ([["a.jpg", "95", "2.3", "", ""]], None, "line 2: coordinates out of range"),
    ([["a.jpg", "48", "2", "", "-1"]], None, "line 2: EVIDENCE_COUNT must be >= 0"),
    ([["a.jpg", "48", "2"]], ("IMG", "LAT", "LON"), "line 1: expected the columns IMG_ID,LAT,LON"),
])
def test_a_malformed_recorded_file_is_refused_naming_the_line(capsys, tmp_path, rows, header, message):
    bad = write_csv(tmp_path / "bad.csv", rows, header or ("IMG_ID", "LAT", "LON", "PLACE", "EVIDENCE_COUNT"))
    code = main(["locate", geosleuth.example_image(), "--config", "prior-only", "--expert", str(bad)])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and message in err, err


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> Path:
    """Forty labelled photos of four photographers in ten cities; good.csv answers within ~10 km,
    bad.csv names random places."""
    root = tmp_path_factory.mktemp("labelled")
    rng = np.random.default_rng(0)
    images = root / "images"
    images.mkdir()
    cities = [(48.86, 2.35), (35.68, 139.69), (-33.87, 151.21), (40.71, -74.01), (-23.55, -46.63), (55.75, 37.62),
              (1.29, 103.85), (30.04, 31.24), (19.43, -99.13), (-1.29, 36.82)]
    labels, good, bad = [], [], []
    for i in range(40):
        name = f"p{i:02d}.jpg"
        shutil.copy(geosleuth.example_image(), images / name)
        lat, lon = cities[i % len(cities)]
        labels.append([name, f"author{i % 4}", f"{lat}", f"{lon}"])
        good.append([name, f"{lat + rng.normal(0, 0.05):.4f}", f"{lon + rng.normal(0, 0.05):.4f}", "", "2"])
        bad.append([name, f"{rng.uniform(-60, 70):.4f}", f"{rng.uniform(-180, 180):.4f}", "", "2"])
    write_csv(root / "labels.csv", labels, ("IMG_ID", "AUTHOR", "LAT", "LON"))
    write_csv(root / "good.csv", good)
    write_csv(root / "bad.csv", bad)
    return root


def calibrate(capsys, labelled: Path, out_config: Path, *args: str) -> None:
    code = main(["calibrate", "--images", str(labelled / "images"), "--labels", str(labelled / "labels.csv"),
                 "--config", "prior-only", "--folds", "4", "--out", str(out_config), "--no-progress", *args])
    out, err = capsys.readouterr()
    assert code == 0, err


@pytest.mark.slow
def test_calibration_keeps_an_expert_that_helps_and_drops_one_that_does_not(capsys, labelled, tmp_path):
    out_config = tmp_path / "mine.yaml"
    calibrate(capsys, labelled, out_config, "--expert", str(labelled / "good.csv"), "--expert",
              str(labelled / "bad.csv"))
    good_settings = ExpertSettings.load(tmp_path / "mine.good.yaml")
    bad_settings = ExpertSettings.load(tmp_path / "mine.bad.yaml")
    assert good_settings.weight > 0 and good_settings.near("evidence 2")[1] <= 100
    assert bad_settings.weight == 0
    geo = geosleuth.Geolocator.from_config(out_config)
    experts = {c.name: c.weight for c in geo.cues if c.name.startswith("expert:")}
    assert experts == {"expert:good": good_settings.weight, "expert:bad": 0.0}


@pytest.mark.slow
def test_calibrating_the_model_writes_its_settings_file_into_the_config(capsys, labelled, tmp_path, vlm):
    """The fake model says Patras for every photo: it does not help, and its file says so."""
    out_config = tmp_path / "mine.yaml"
    calibrate(capsys, labelled, out_config, "--set", "cues.vlm.enabled=true", "--set",
              f"cues.vlm.base_url={vlm.url}/ok/v1")
    settings = ExpertSettings.load(tmp_path / "mine.vlm.yaml")
    assert settings.weight == 0 and "4 author folds" in settings.fitted
    config = geosleuth.load_config(out_config)
    assert config["cues"]["vlm"]["settings"] == str((tmp_path / "mine.vlm.yaml").resolve())


@pytest.mark.slow
def test_the_report_and_geojson_show_the_claims_and_where_the_photo_went(vlm, sharp, tmp_path):
    from geosleuth.app.report import render_report

    geo = geosleuth.Geolocator.from_config("prior-only", cues={"vlm": {
        "enabled": True, "base_url": f"{vlm.url}/ok/v1", "model": "test-vlm", "settings": str(sharp)}})
    pred = geo.locate(geosleuth.example_image())
    claims = [f["properties"] for f in pred.to_geojson()["features"] if f["properties"]["kind"] == "expert_claim"]
    assert [(c["cue"], c["place"], c["stated_confidence"]) for c in claims] == [
        ("vlm", "Patras, Greece", 0.8), ("vlm", "Bari", 0.1)]
    page = render_report(pred, [(geosleuth.example_image(), pred)])
    assert "What the experts claimed" in page and "id='claim-E2'" in page
    assert f"the photo was sent to {vlm.url}/ok/v1/chat/completions (model test-vlm), as configured" in page
    quiet = geosleuth.Geolocator.from_config("prior-only").locate(geosleuth.example_image())
    assert "nothing was uploaded" in render_report(quiet)


def test_an_expert_at_weight_0_is_not_consulted(vlm, tmp_path):
    """A model calibration found useless is not sent the photo at all."""
    useless = tmp_path / "useless.yaml"
    useless.write_text(ExpertSettings(weight=0.0, fitted="geosleuth calibrate on labels.csv").to_yaml())
    asked = len(vlm.requests)
    geo = geosleuth.Geolocator.from_config("prior-only", cues={"vlm": {
        "enabled": True, "base_url": f"{vlm.url}/ok/v1", "settings": str(useless)}})
    report = geo.locate(geosleuth.example_image()).cues["vlm"]
    assert report.status == "abstained" and "not consulted" in report.note and len(vlm.requests) == asked


def test_a_local_model_is_reached_directly_even_with_a_proxy_set(vlm, monkeypatch):
    """A proxy in the environment would carry the photo off the machine: loopback bypasses it."""
    monkeypatch.setenv("http_proxy", "http://198.51.100.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://198.51.100.1:9")
    from geosleuth.cues.engines.vlm import VlmClient

    answer = VlmClient(f"{vlm.url}/ok/v1", "m", timeout_s=5).ask(np.zeros((64, 64, 3), np.uint8))
    assert answer.candidates[0].place == "Patras, Greece"


def test_fitted_errors_say_how_far_an_expert_s_answers_land():
    """Three answers in four within a few km of the truth, the rest another photo's place: about
    three quarters are found near the truth, half of those within a few km, and a level seen on
    few photos stays near the pooled fit."""
    from geosleuth.cues.clues.expert import ExpertAnswer, ExpertCandidate, fit_errors

    grid = geosleuth.Geolocator.from_config("prior-only").grid
    rng = np.random.default_rng(1)
    prior = np.exp(grid.log_prior() - np.logaddexp.reduce(grid.log_prior()))
    truth = rng.choice(len(grid), 300, p=prior)
    lat, lon = grid.lat[truth], grid.lon[truth]
    near = rng.random(300) < 0.75
    other = rng.permutation(300)
    said_lat = np.where(near, lat + rng.normal(0, 0.03, 300), lat[other])
    said_lon = np.where(near, lon + rng.normal(0, 0.03, 300), lon[other])
    answers = [ExpertAnswer((ExpertCandidate(a, b, evidence_count=1 if i < 297 else 3),))
               for i, (a, b) in enumerate(zip(said_lat, said_lon))]
    errors = fit_errors(grid, answers, lat, lon)
    settings = ExpertSettings(errors, floor=1e-6)
    assert 0.65 < sum(errors["any"][:3]) < 0.85  # kernels of 1, 5 and 25 km
    assert settings.near("any")[1] < 50
    assert settings.near("evidence 3")[1] < 100  # 3 photos: shrunk towards the pooled fit
    assert sum(errors["evidence 1"][:3]) == pytest.approx(sum(errors["any"][:3]), abs=0.05)


def test_a_calibrated_expert_places_the_answer_at_its_claim_but_never_makes_it_exact(tmp_path):
    """A sharp expert's claim (the Opera House, not a cell's mean photo location) is where the
    answer lands; a claim is not a sighting, so the confidence is never "exact"."""
    answers = write_csv(tmp_path / "sharp.csv", [["example_street.jpg", "-33.8568", "151.2153", "Sydney Opera House", ""]])
    settings = tmp_path / "sharp.yaml"
    settings.write_text(ExpertSettings({"any": (0.9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.1)}, floor=1e-3,
                                       fitted="by hand, for tests").to_yaml())
    geo = geosleuth.Geolocator.from_config("prior-only", experts=[{"file": str(answers), "settings": str(settings)}])
    pred = geo.locate(geosleuth.example_image())
    assert (pred.answer.lat, pred.answer.lon) == (-33.8568, 151.2153) and pred.answer.country == "AU"
    assert pred.confidence.level != "exact"
    claim = pred.cues["expert:sharp"].evidence[0]
    assert "90% of such answers (any) land near the truth, half of those within ~2 km" in claim.summary  # sqrt(3) x 1 km
    assert claim.confidence == 0.0
