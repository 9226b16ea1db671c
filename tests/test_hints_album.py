"""Analyst hints and album mode: both are fused like cues and reported with their bits."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import geosleuth
from geosleuth.album import locate_album
from geosleuth.api import Geolocator
from geosleuth.app.cli import main
from geosleuth.errors import ConfigError, GeosleuthError
from geosleuth.fusion.combine import log_normalise
from geosleuth.geo import haversine_km
from geosleuth.hints import Hint, parse_hints


@pytest.fixture(scope="module")
def geo():
    return Geolocator.from_config("prior-only", cues={"exif": True})


def test_parse_and_errors():
    assert Hint.parse("country=fr") == Hint.in_country("FR")
    assert Hint.parse("exclude country=US").kind == "exclude"
    assert Hint.parse("near=48.85,2.35,50km").radius_km == 50
    assert [h.name for h in parse_hints(["country=FR"], ["country=US"], ["1,2,3"])] == [
        "hint:country=FR", "hint:exclude=US", "hint:near=1,2,3km"]
    for bad in ("country=XX", "country=", "near=1,2", "near=95,0,10", "near=1,2,-5", "planet=mars"):
        with pytest.raises(ConfigError):
            Hint.parse(bad)
    with pytest.raises(ConfigError, match="country=CC"):
        parse_hints(excludes=["US"])


def test_hints_move_the_answer_and_are_reported(geo):
    base = geo.locate(geosleuth.example_image())
    pred = geo.locate(geosleuth.example_image(), hints=[Hint.in_country("JP")])
    assert pred.best.country == "JP" and pred.countries["JP"] > 0.5 > 100 * base.countries.get("JP", 0)
    rep = pred.cues["hint:country=JP"]
    assert rep.status == "ok" and rep.bits > 1 and rep.favoured_country == "JP" and "Japan" in rep.evidence[0].summary
    out = geo.locate(geosleuth.example_image(), hints=[Hint.not_in_country("FR")])
    assert out.countries.get("FR", 0) < 0.05 < base.countries["FR"]
    near = geo.locate(geosleuth.example_image(), hints=[Hint.near_point(35.68, 139.69, 30)])
    # The photo's UTC offset (+02:00) disagrees with the hint, so the mass is split between Europe and
    # Tokyo: the densest place is near Tokyo, while the expected-GeoScore answer may stay in Europe.
    top = near.top_k[0]
    assert top.country == "JP" and haversine_km(top.lat, top.lon, 35.68, 139.69) < 60
    assert near.countries["JP"] > 0.1 > 20 * base.countries.get("JP", 0)


def test_country_hint_outweighs_the_prior_and_names_the_country_within_border_cells():
    """Armenia has 1/2300 of the prior's mass of the US, and its photos share a cell with
    Georgia's: the hint still makes it the answer's country."""
    geo = Geolocator.from_config("prior-only")
    photo = np.full((64, 64, 3), 128, np.uint8)
    pred = geo.locate(photo, hints=[Hint.in_country("AM")])
    assert pred.answer.country == "AM" and pred.top_k[0].country == "AM" and pred.countries["AM"] > 0.9
    assert pred.answer.place.endswith(", AM")  # the cell's mean point lies in Turkey: Armenia's largest town in it
    assert geo.locate(photo, hints=[Hint.not_in_country("GE")]).countries.get("GE", 0.0) < 1e-3


def test_hint_floor_keeps_the_truth_possible(geo, grid):
    pred = geo.locate(geosleuth.example_image(), hints=[Hint.in_country("JP")])
    assert pred.posterior[grid.lookup([48.8566], [2.3522])[0]] > 0


def test_album_counts_the_prior_once(geo, tmp_path, grid, gps_photo):
    a = gps_photo(tmp_path / "a.jpg", 48.8566, 2.3522)
    b = gps_photo(tmp_path / "b.jpg", 48.86, 2.34)
    result = locate_album(geo, [a, b], floor=1e-12)
    singles = [it.prediction for it in result.photos]
    log_prior = geo.log_prior()
    expected = log_normalise(log_prior + sum(np.log(p.posterior) - log_prior for p in singles))
    assert np.allclose(np.log(result.prediction.posterior), expected, atol=1e-6)
    assert result.prediction.best.country == "FR"
    assert set(result.prediction.cues) == {"a.jpg", "b.jpg"}


def test_album_reports_each_photo_and_survives_a_bad_one(geo, tmp_path, gps_photo):
    paris = gps_photo(tmp_path / "paris.jpg", 48.8566, 2.3522)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    result = locate_album(geo, [geosleuth.example_image(), paris, str(tmp_path / "broken.jpg")],
                          hints=[Hint.not_in_country("US")])
    cues = result.prediction.cues
    assert cues["paris.jpg"].status == "ok" and cues["paris.jpg"].bits > cues["example_street.jpg"].bits
    assert cues["broken.jpg"].status == "failed" and "not a recognised image" in cues["broken.jpg"].note
    assert "hint:exclude=US" in cues and len(result.failed) == 1
    d = result.to_dict()
    assert d["schema"] == "geosleuth.album/1" and d["prediction"]["top_k"][0]["country"] == "FR"
    json.dumps(d)
    with pytest.raises(GeosleuthError, match="none of the 1 photos"):
        locate_album(geo, [str(tmp_path / "broken.jpg")])


def test_cli_album_hints_and_report(tmp_path, capsys, gps_photo):
    folder = tmp_path / "trip"
    folder.mkdir()
    gps_photo(folder / "one.jpg", 41.39, 2.17)
    gps_photo(folder / "two.jpg", 41.40, 2.16)
    (folder / "bad.png").write_bytes(b"junk")
    report = tmp_path / "album.html"
    code = main(["locate", "--album", str(folder), "--config", "prior-only", "--set", "cues.exif=true",
                 "--exclude", "country=FR", "--report", str(report), "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and "bad.png" in err  # the bad file is reported, the album still answered
    d = json.loads(out)
    assert d["prediction"]["top_k"][0]["country"] == "ES"
    assert set(d["prediction"]["cue_reports"]) == {"one.jpg", "two.jpg", "bad.png", "hint:exclude=FR"}
    page = report.read_text(encoding="utf-8")
    assert "id=cues" in page and "one.jpg" in page and "hint:exclude=FR" in page


def test_cli_hint_errors_exit_2(capsys):
    assert main(["locate", "--config", "prior-only", "--hint", "country=ZZ"]) == 2
    assert "unknown country code" in capsys.readouterr().err
    assert main(["locate", "a.jpg", "b.jpg", "--report", "x.html", "--config", "prior-only"]) == 2


def test_shadows_and_the_exif_time_say_where_the_sun_stood(tmp_path):
    """A photo taken in Paris at 17:00 (+02:00) on the solstice, its shadows pointing away from
    where the sun stood there: the hint favours Europe's band and rules out where it was night."""
    import datetime as dt

    from geosleuth.sun import sun_position

    azimuth, elevation = (float(v[0]) for v in sun_position(
        [48.8566], [2.3522], dt.datetime(2024, 6, 21, 17, tzinfo=dt.timezone(dt.timedelta(hours=2)))))
    exif = Image.Exif()
    exif.get_ifd(0x8769).update({0x9003: "2024:06:21 17:00:00", 0x9011: "+02:00"})
    Image.new("RGB", (64, 64)).save(tmp_path / "shadow.jpg", exif=exif)
    hint = Hint.parse(f"shadow={(azimuth + 180) % 360:.1f},{elevation:.1f}")
    assert hint.name.startswith("hint:shadow=") and hint.floor == 1e-2
    geo = Geolocator.from_config("prior-only", cues={"exif": True})
    pred = geo.locate(tmp_path / "shadow.jpg", hints=[hint])
    said = pred.cues[hint.name]
    assert said.status == "ok" and "45° high at 2024-06-21 17:00 (UTC+02:00)" in said.evidence[0].summary
    eff = pred.posterior
    tokyo, sydney, paris = pred.grid.lookup([35.68, -33.87, 48.86], [139.69, 151.21, 2.35])
    assert eff[paris] > 50 * eff[tokyo] and eff[paris] > 50 * eff[sydney]  # night there then
    no_time = geo.locate(np.zeros((32, 32, 3), np.uint8), hints=[hint]).cues[hint.name]
    assert no_time.status == "abstained" and "needs the photo's date and time" in no_time.note
    with pytest.raises(ConfigError, match="AZIMUTH"):
        Hint.parse("shadow=north")
    with pytest.raises(ConfigError, match="elevation must be in"):
        Hint.parse("shadow=120,95")


def test_sun_position_matches_astral():
    import datetime as dt

    astral_sun = pytest.importorskip("astral.sun")
    from astral import Observer

    from geosleuth.sun import sun_position

    rng = np.random.default_rng(3)
    for _ in range(50):
        lat, lon = rng.uniform(-70, 70), rng.uniform(-180, 180)
        when = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=float(rng.uniform(0, 525600)))
        azimuth, elevation = sun_position([lat], [lon], when)
        assert elevation[0] == pytest.approx(astral_sun.elevation(Observer(lat, lon), when, with_refraction=False),
                                             abs=1e-3)
        assert azimuth[0] == pytest.approx(astral_sun.azimuth(Observer(lat, lon), when), abs=1e-3)


def test_moved_the_answer_compares_the_places_the_report_names(tmp_path, gps_photo):
    """The exif cue moved the answer from the prior's point to the GPS fix: the distance is
    between those two points, not between the centres of their cells."""
    geo = Geolocator.from_config("prior-only", cues={"exif": True})
    pred = geo.locate(gps_photo(tmp_path / "fix.jpg", 43.7696, 11.2558))
    rep = pred.cues["exif"]
    assert abs(pred.answer.lat - 43.7696) < 1e-3 and abs(pred.answer.lon - 11.2558) < 1e-3
    assert rep.moved_km == pytest.approx(haversine_km(pred.answer.lat, pred.answer.lon,
                                                      rep.top_without.lat, rep.top_without.lon))
    assert rep.moved_km > 500  # from northern France, the prior's best point
