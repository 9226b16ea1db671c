"""The HTML report: self-contained, offline, with the photo's boxes, maps and the cue table."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

import geosleuth
from geosleuth.api import Geolocator
from geosleuth.app.cli import main
from geosleuth.cues.base import BaseCue, CueOutput, Evidence
from conftest import CHROMIUM
from geosleuth.app.report import annotate_photo, render_map, render_report, write_report, zoom_extent
from geosleuth.photo import Photo


class SignCue(BaseCue):
    """A cue that read one sign at a known place in the image (boxes in working-image pixels)."""

    name = "sign"

    def observe(self, photo, grid):
        ll = np.where(grid.cell_country == "IT", 0.0, -5.0)
        box = (10.0, 20.0, photo.image.width / 2, photo.image.height / 2)
        return CueOutput(ll, (Evidence("street_word", "street word 'via' (IT)", 0.8, box=box),))


@pytest.fixture(scope="module")
def located():
    geo = Geolocator(cues=[SignCue(weight=1.0, floor=1e-3)], config={"cues": {"exif": False, "text": False, "detect": False,
                                                         "visual": False, "scene": False}})
    photo = Photo.open(geosleuth.example_image())
    return photo, geo.locate(photo)


def images_in(page: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(m))) for m in re.findall(r"data:image/\w+;base64,([^'\"]+)", page)]


def test_report_is_self_contained(located):
    photo, pred = located
    page = render_report(pred, [(photo, pred)])
    loaded = re.sub(r"<a href='[^']*'", "<a", page)  # links are followed only by a click: nothing loads from them
    assert "http://" not in loaded and "https://" not in loaded and "<script src" not in page and "<link" not in page
    for needle in ("id=confidence", "id=map-world", "id=top-k", "id=countries", "id=region", "id=cues", "street word 'via'",
                   "Italy", "bits"):
        assert needle in page
    pics = images_in(page)
    assert len(pics) >= 2 and pics[1].size == (1200, 600)  # the photo, then the world map
    data = re.search(r"id=prediction-data>(.*?)</script>", page, re.S).group(1)
    assert '"schema": "geosleuth.prediction/2"' in data


def test_report_says_when_nothing_located_the_photo():
    pred = Geolocator.from_config("prior-only").locate(geosleuth.example_image())
    page = render_report(pred)
    assert "level-none" in page and "No confident location." in page and "Leading countries: United States" in page


def test_evidence_box_is_drawn(located):
    photo, pred = located
    im, legend = annotate_photo(photo, pred, max_side=4096)
    assert legend == [{"n": 1, "cue": "sign", "kind": "street_word", "summary": "street word 'via' (IT)",
                       "colour": "#e6194b"}]
    before, after = np.asarray(photo.image), np.asarray(im)
    assert (after[20, 12:200] != before[20, 12:200]).any()  # the top edge of the box


def test_map_colours_the_credible_region(located):
    _, pred = located
    world = np.asarray(render_map(pred))
    warm = world[..., 0].astype(int) > world[..., 2].astype(int) + 60  # region colours, not land or sea

    def box(lon0, lon1, lat0, lat1):
        return warm[int((90 - lat1) / 180 * 600):int((90 - lat0) / 180 * 600),
                    int((lon0 + 180) / 360 * 1200):int((lon1 + 180) / 360 * 1200)].sum()

    assert box(7, 18, 37, 46) > 5 * max(box(113, 153, -43, -11), 5)  # Italy, hardly Australia
    extent = zoom_extent(pred)
    assert extent is not None and extent[0] < 12.5 < extent[1]
    zoom = render_map(pred, extent, 600)
    assert zoom.width == 600 and 300 < zoom.height < 600


def test_escapes_untrusted_text(located):
    photo, pred = located
    from dataclasses import replace

    page = render_report(replace(pred, image="<script>alert(1)</script>"), [(photo, pred)])
    assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_cli_report(tmp_path, capsys):
    out = tmp_path / "r.html"
    code = main(["locate", geosleuth.example_image(), "--config", "prior-only", "--hint", "country=FR",
                 "--report", str(out)])
    assert code == 0 and "wrote report" in capsys.readouterr().err
    page = out.read_text(encoding="utf-8")
    assert "hint:country=FR" in page and "id=map-world" in page


@pytest.mark.slow
def test_each_place_has_coordinates_to_copy_and_links_to_check_it(tmp_path):
    from geosleuth.app.links import coordinates, links, zoom_for

    assert coordinates(48.8566, 2.3522, 35.7) == "48.856600, 2.352200 ± 36 km"
    assert coordinates(48.8566, 2.3522, 0.05) == "48.856600, 2.352200 ± 50 m"
    assert zoom_for(5000) < zoom_for(36) < zoom_for(0.05) <= 18
    urls = links(48.8566, 2.3522, 0.05, taken="2024-05-01 14:30:00")
    assert set(urls) == {"OpenStreetMap", "Google Maps", "Street View", "Mapillary", "SunCalc", "Overpass"}
    assert urls["SunCalc"].endswith("/2024.05.01/14:30/1/3") and "48.856600,2.352200" in urls["Google Maps"]
    assert "around%3A1000%2C48.856600%2C2.352200" in urls["Overpass"] and "mlat=48.856600" in urls["OpenStreetMap"]
    pred = geosleuth.Geolocator.from_config("default").locate(geosleuth.example_image())
    page = render_report(pred, [(geosleuth.example_image(), pred)])
    assert page.count("<code class=coords>") == len(pred.top_k) + 1  # the answer and each candidate
    assert page.count(">Street View</a>") == len(pred.top_k) + 1 and "openstreetmap.org/?mlat=" in page
    taken = next(e.details["taken"] for e in pred.cues["exif"].evidence if "taken" in e.details)
    assert f"SunCalc opens at the photo's EXIF time, {taken}" in page


@pytest.mark.slow
def test_the_sun_when_the_photo_was_taken_at_each_place():
    pred = geosleuth.Geolocator.from_config("default").locate(geosleuth.example_image())
    page = render_report(pred, [(geosleuth.example_image(), pred)])
    assert "<th>sun when taken</th>" in page
    suns = re.findall(r"<td>(sun \d+°, -?\d+° high|sun down \(-?\d+°\))</td>", page)
    assert len(suns) == len(pred.top_k) + 1


def test_a_gps_fix_is_framed_with_its_accuracy_and_towns_are_named(tmp_path, gps_photo):
    from geosleuth.app.report import zoom_extent

    gps_photo(tmp_path / "fix.jpg", 43.7696, 11.2558)  # Florence
    pred = Geolocator.from_config("prior-only", cues={"exif": True}).locate(tmp_path / "fix.jpg")
    assert pred.answer.radius_km < 1 and abs(pred.answer.lat - 43.7696) < 1e-3
    lon0, lon1, lat0, lat1 = zoom_extent(pred)
    assert lon0 < 11.2558 < lon1 and lat0 < 43.7696 < lat1 and lat1 - lat0 < 0.25  # a town, not a region
    zoom = np.asarray(render_map(pred, (lon0, lon1, lat0, lat1), 800))
    x, y = (11.2558 - lon0) / (lon1 - lon0) * 800, (lat1 - 43.7696) / (lat1 - lat0) * zoom.shape[0]
    near = zoom[int(y) - 16:int(y) + 17, int(x) - 16:int(x) + 17]
    assert (near == (0, 90, 200)).all(axis=-1).sum() > 50  # the accuracy circle shows around its number
    assert "Blue circle: 43.769600, 11.255800 ± " in render_report(pred)
    world = zoom_extent(Geolocator.from_config("prior-only").locate(np.zeros((32, 32, 3), np.uint8)))
    assert world is None  # the prior alone: no zoom helps
    from geosleuth.gazetteer.places import Gazetteer

    towns = Gazetteer.default().largest(10.5, 12.0, 43.0, 44.0, n=3)  # Tuscany, south of Bologna
    assert towns[0].name == "Florence" and [t.population for t in towns] == sorted((t.population for t in towns),
                                                                                  reverse=True)


def test_sureness_is_said_only_where_a_cue_gave_one():
    assert Evidence("ocr", "read 'Via Roma'", 0.87).sureness == "87% sure"
    assert Evidence("gps", "GPS fix", 1.0).sureness == Evidence("ocr", "no reader for Thai here", 0.0).sureness == ""


@pytest.mark.slow
def test_a_box_is_numbered_once_whatever_it_held():
    from geosleuth.app.report import annotate_photo

    pred = Geolocator.from_config("default").locate(geosleuth.example_image())
    _, legend = annotate_photo(Photo.open(geosleuth.example_image()), pred)
    numbers = [row["n"] for row in legend]
    assert numbers == sorted(numbers) and len(set(numbers)) == max(numbers)  # 1..N, rows of one box together
    phone = next(row["n"] for row in legend if row["kind"] == "phone")
    assert [row["kind"] for row in legend if row["n"] == phone] == ["ocr", "phone", "phone_place"]  # the line, what it said


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make system-deps)")
def test_reports_in_a_browser_a_gps_photo_a_sign_and_a_photo_with_nothing(shared, tmp_path):
    """Three reports opened in Chromium: each renders with no console error, its maps name towns,
    zoom, and link every candidate to the tools an analyst checks with; each says what it saw.
    Screenshots go to $GEOSLEUTH_SCREENSHOTS when set."""
    import os
    from pathlib import Path

    from benchmarks.sign_suite import SIGNS, fonts_present, render

    sync_api = pytest.importorskip("playwright.sync_api")
    if not fonts_present():
        pytest.skip("the Noto fonts of the sign suite are not installed (make system-deps)")
    moscow = next(i for i, sign in enumerate(SIGNS) if sign.country == "RU")
    Image.fromarray(render(SIGNS[moscow], moscow)).save(tmp_path / "moscow_sign.png")
    photos = {"gps": shared / "data" / "exif-samples" / "DSCN0010.jpg", "sign": tmp_path / "moscow_sign.png",
              "nothing": shared / "data" / "im2gps3k-dev" / "images" / "101220879_0a1be45b79_33_24311489@N00.jpg"}
    geo = Geolocator.from_config("default")
    preds = {name: geo.locate(path) for name, path in photos.items()}
    for name, path in photos.items():
        write_report(tmp_path / f"{name}.html", preds[name], [(path, preds[name])])
    shots = Path(os.environ.get("GEOSLEUTH_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            for name, pred in preds.items():
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto((tmp_path / f"{name}.html").as_uri())
                assert page.locator("#map-world .towns text").count() >= 5, name
                assert page.locator("#map-world .cells a[href^='https://www.openstreetmap.org/']").count() >= 1
                for tool in ("OpenStreetMap", "Google Maps", "Street View", "Mapillary", "SunCalc", "Overpass"):
                    assert page.locator("#top-k a", has_text=tool).count() == len(pred.top_k) + 1, (name, tool)
                page.screenshot(path=str(shots / f"report_{name}.png"), full_page=True)
                page.locator("#map-world + .map-tools button[data-act=in]").click()
                assert page.get_attribute("#map-world", "viewBox") == "300 150 600 300"
                text = page.inner_text("body")
                assert not re.search(r"\(\w+, 1\.00\)", text)  # no "sure" printed where a cue did not say
                assert errors == [], (name, errors)
                page.close()
        finally:
            browser.close()
    gps, sign, nothing = preds["gps"], preds["sign"], preds["nothing"]
    assert gps.answer.radius_km < 1 and gps.answer.country == "IT" and gps.confidence.confident
    assert sign.answer.country == "RU" and next(iter(sign.countries)) == "RU"
    assert not nothing.confidence.confident and "No confident location." in render_report(nothing)
