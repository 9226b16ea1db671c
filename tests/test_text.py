"""The text cue: clue extraction on strings, garbage honesty, and real OCR on rendered signs."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from geosleuth import Geolocator
from geosleuth.cues import create_cue
from geosleuth.cues.clues import clue_log_likelihood
from geosleuth.cues.clues.text import domain_clues, extract_clues, phone_clues, phone_regions, street_clues
from geosleuth.cues.engines.ocr import OcrEngine, TesseractBackend, TextRead
from geosleuth.errors import ConfigError
from geosleuth.gazetteer.languages import script_counts, script_letters, territory_scripts
from geosleuth.photo import Photo


def read(text: str, confidence: float = 0.9) -> TextRead:
    return TextRead(text, confidence, (0.0, 0.0, 100.0, 20.0), "test")


def text_cue(*readers, **settings):
    """The text cue over these readers, its other settings from the default config."""
    return create_cue("text", ocr=OcrEngine(readers), **settings)


def top_countries(clue, n=3):
    return sorted(clue.countries, key=lambda c: -clue.countries[c])[:n]


def kinds(clues):
    return {c.kind for c in clues}


def test_script_detection_in_many_scripts():
    samples = {"Москва": "Cyrl", "Αθήνα": "Grek", "서울": "Hang", "東京": "Hani", "とうきょう": "Jpan",
               "กรุงเทพ": "Thai", "תל אביב": "Hebr", "القاهرة": "Arab", "თბილისი": "Geor", "दिल्ली": "Deva"}
    for text, script in samples.items():
        assert script_counts(text).most_common(1)[0][0] == script, text
    assert territory_scripts()["RU"]["Cyrl"] > 0.9 and territory_scripts()["GR"]["Grek"] > 0.9


@pytest.mark.parametrize("text,country", [
    ("улица Тверская", "RU"), ("Οδός Ερμού", "GR"), ("서울특별시 종로구", "KR"), ("ถนนสุขุมวิท", "TH"),
    ("თბილისი", "GE"), ("とうきょうえき", "JP"),
])
def test_script_clue_points_to_its_countries(text, country):
    clue = next(c for c in extract_clues([read(text)]) if c.kind == "script")
    assert clue.countries[country] == max(clue.countries.values())
    assert clue.countries.get("US", 0) < 0.05


def test_a_codes_latin_looking_letters_are_not_a_script():
    """Tesseract's Cyrillic model reads a Latin plate 'KK550AO' as 'КК°550А0': letters drawn like
    Latin ones, in a word with digits, say nothing of the script; a word of them does ('МОСКВА')."""
    assert script_letters("КК°550А0") == Counter() and script_letters("ΡΚΗ019Η") == Counter()
    assert script_letters("МОСКВА") == Counter({"Cyrl": 6}) and script_letters("Д-123")["Cyrl"] == 1
    assert not any(c.kind == "script" for c in extract_clues([read("КК°550А0", 0.87)]))


def test_a_latin_like_script_is_trusted_as_far_as_its_lines_are():
    """Greek and Cyrillic models win Latin text and noise too: a lone Greek line read at 0.44
    (off a Latin plate) is a coin's toss, two sure lines are not; a script unlike Latin keeps its trust."""
    def reliability(*reads):
        return next(c.reliability for c in extract_clues(list(reads)) if c.kind == "script")

    assert reliability(read("ΞΕΚΕΌΊΘΑΕ", 0.44)) == pytest.approx(0.44)
    assert reliability(read("Οδός Ερμού", 0.9), read("Αθήνα", 0.9)) == pytest.approx(0.99)
    assert reliability(read("ถนนสุขุมวิท", 0.44)) > 0.98


def test_language_clue_is_deterministic_and_smoothed(monkeypatch):
    from langdetect import DetectorFactory, detect_langs

    text = "Boulangerie artisanale, pain au levain et viennoiseries fraîches tous les matins"
    # Unseeded, langdetect sometimes splits this text between French and English; the clue must
    # not depend on the random state another caller left behind.
    seen = set()
    for _ in range(10):
        monkeypatch.setattr(DetectorFactory, "seed", None)
        detect_langs("ein ganz anderer Text, der den Zufall weiterdreht")
        clues = [c for c in extract_clues([read(text)]) if c.kind == "language"]
        assert len(clues) == 1
        seen.add((clues[0].details["language"], clues[0].details["p"], clues[0].reliability))
    assert len(seen) == 1 and clues[0].details == {"language": "fr", "p": 1.0}
    assert top_countries(clues[0], 1) == ["FR"] or clues[0].countries["FR"] > 0.8
    english = [c for c in extract_clues([read("Welcome to the best coffee shop in town, open every day")])
               if c.kind == "language"]
    assert english and min(english[0].countries.values()) >= 0.199  # English does not rule out anywhere
    assert english[0].reliability < clues[0].reliability


@pytest.mark.parametrize("lines", [
    ["xqzt kwpl mnbv rrtz bbbn", "jjkq wxxz plmq"],
    ["AAAAAAAAAAAA AAAAAAA", "AAAA"],
    ["Il1l |1lI 1Il| lI1", "0O0 O00 0OO"],
    ["zzkx", "qwv", "xjw", "kkzq", "vvbx"],
])
def test_garbage_gives_no_confident_country(lines, grid, fake_reader):
    clues = extract_clues([read(t, 0.6) for t in lines])
    assert not kinds(clues) & {"language", "phone", "domain", "place"}
    assert all(c.reliability <= 0.5 for c in clues)
    pred = Geolocator(cues=[text_cue(fake_reader(lines, 0.6))]).locate(np.zeros((64, 64, 3), np.uint8))
    assert max(pred.countries.values()) < 0.5


@pytest.mark.parametrize("number,region,international", [
    ("+33 1 45 67 89 00", "FR", True), ("+1 212 555 0147", "US", True), ("+7 495 123-45-67", "RU", True),
    ("0049 30 1234567", "DE", True), ("01 99 00 12 34", "FR", False),
])
def test_phone_numbers(number, region, international):
    regions, exact = phone_regions(number)
    assert exact == international and regions[region] == max(regions.values())


@pytest.mark.parametrize("text,kind,country", [
    ("www.bahn.de", "domain", "DE"), ("info@shop.co.uk", "domain", "GB"), ("boulangerie-exemple fr", "domain", "FR"),
    ("Croissants 1,30 €", "currency", "FR"), ("Цена 100 ₽", "currency", "RU"), ("Preço R$ 12,90", "currency", "BR"),
    ("London SW1A 1AA", "postal_code", "GB"), ("Ottawa K1A 0B1", "postal_code", "CA"),
    ("1012 AB Amsterdam", "postal_code", "NL"), ("CEP 01310-100", "postal_code", "BR"),
    ("Hauptstraße 5", "street_word", "DE"), ("Damstraat", "street_word", "NL"), ("Calle Mayor", "street_word", "ES"),
    ("Via Roma", "street_word", "IT"), ("Kungsgatan", "street_word", "SE"), ("улица Ленина", "street_word", "RU"),
])
def test_pattern_clues(text, kind, country):
    clue = next(c for c in extract_clues([read(text)]) if c.kind == kind)
    assert country in clue.countries and clue.countries[country] == max(clue.countries.values())


def test_generic_domains_say_nothing():
    assert not [c for c in extract_clues([read("www.example.com"), read("startup.io")]) if c.kind == "domain"]


def test_place_names_with_ambiguity_and_common_words():
    paris = next(c for c in extract_clues([read("Paris")]) if c.kind == "place")
    weights = {}
    for place, w in paris.places:
        weights[place.country] = weights.get(place.country, 0) + w
    assert max(weights, key=weights.get) == "FR" and "US" in weights  # Paris FR, but Paris TX is kept
    moscow = next(c for c in extract_clues([read("Москва")]) if c.kind == "place")
    assert moscow.places[0][0].country == "RU"
    nice = next(c for c in extract_clues([read("NICE")]) if c.kind == "place")
    assert nice.reliability < 0.15  # 'Nice' is also a word
    fuzzy = next(c for c in extract_clues([read("MARSEILE")]) if c.kind == "place")
    assert fuzzy.places[0][0].name == "Marseille" and fuzzy.details["score"] < 100
    assert not [c for c in extract_clues([read("fresh levain bread daily")]) if c.kind == "place"]


def test_a_name_inside_an_unspaced_word_counts_as_an_exact_match():
    """A script written without spaces runs the place name into the next word: the name found
    inside it is an exact match, and weighs like one (a fuzzy search that found nothing first
    must not leave it at score 0)."""
    [beijing] = [c for c in extract_clues([read("北京市朝阳区")]) if c.kind == "place"]
    assert beijing.places[0][0].country == "CN" and beijing.details["score"] == 100
    assert beijing.reliability > 0.5 and "(exact" in beijing.summary


def test_an_exonym_weighs_far_less_than_a_native_name():
    """A word matched through a name in a script its place's country does not write is an
    exonym: 'मंदिर' (Hindi for temple) is also Madera, California's Hindi name. Where the same
    word names a place whose country writes the script ('पटना': Patna, and Putney's Hindi name),
    only that place is kept. Latin names are romanisations written on local signs: native."""
    [temple] = [c for c in extract_clues([read("मंदिर")]) if c.kind == "place"]
    assert temple.places[0][0].country == "US" and temple.reliability < 0.15 and "an exonym" in temple.summary
    [patna] = [c for c in extract_clues([read("पटना")]) if c.kind == "place"]
    assert {p.country for p, _ in patna.places} == {"IN"} and "exonym" not in patna.summary
    [beijing] = [c for c in extract_clues([read("Beijing")]) if c.kind == "place"]
    assert beijing.places[0][0].country == "CN" and "exonym" not in beijing.summary


@pytest.mark.parametrize("text, country", [
    ("欢迎光临", "CN"),  # "welcome", simplified: without the forms, Japan led
    ("营业时间", "CN"),  # "opening hours"
    ("歡迎光臨", "TW"),  # the same, traditional
    ("營業時間", "TW"),
    ("いらっしゃいませ", "JP"),  # kana
])
def test_simplified_traditional_and_japanese_writing_are_told_apart(grid, text, country):
    """The Han script alone is written from Beijing to Tokyo; its forms and kana say where, on
    signs that name no place."""
    pytest.importorskip("zhon")
    clues = extract_clues([read(text)])
    assert any(c.kind == "han_form" for c in clues)
    ll, _ = clue_log_likelihood(clues, grid)
    post = np.exp(grid.log_prior() + ll - (grid.log_prior() + ll).max())
    countries = grid.country_probabilities(post / post.sum())
    assert grid.countries[int(np.argmax(countries))] == country


def test_a_national_number_places_its_area_code_in_the_country_the_photo_supports(grid):
    """'010' is Beijing in China and Genoa in Italy: the area-code clue says where within each
    country and nothing of which country, so beside Chinese text the answer is Beijing."""
    clues = extract_clues([read("北京烤鸭"), read("电话 010-6512-3456")])
    area = next(c for c in clues if c.kind == "phone_place")
    assert {pl.country for pl, _ in area.places} >= {"CN", "IT"} and area.within_country
    ll, _ = clue_log_likelihood(clues, grid)
    post = np.exp(grid.log_prior() + ll - (grid.log_prior() + ll).max())
    best = int(np.argmax(post))
    assert grid.cell_country[best] == "CN" and grid.places[best].endswith("Beijing, CN")
    alone = extract_clues([read("010-6512-3456")])  # on its own, no country gains or loses by it
    with_area, without = (clue_log_likelihood(c, grid) for c in (alone, [c for c in alone if c.kind != "phone_place"]))
    shares = [grid.country_probabilities(np.exp(grid.log_prior() + ll) / np.exp(grid.log_prior() + ll).sum(), given)
              for ll, given in (with_area, without)]
    assert np.abs(shares[0] - shares[1]).max() < 1e-3


def test_a_word_read_twice_is_one_observation():
    once, thrice = extract_clues([read("LEPANTO")]), extract_clues([read("LEPANTO")] * 3)
    assert [c.kind for c in thrice].count("place") == 1 == [c.kind for c in once].count("place")


def test_a_country_in_an_airlines_name_weighs_little():
    """Air France's planes land everywhere: the livery is not a sighting of France."""
    plane = next(c for c in extract_clues([read("AIR FRANCE")]) if c.kind == "place")
    place = next(c for c in extract_clues([read("FRANCE")]) if c.kind == "place")
    assert plane.reliability < 0.2 < 0.9 < place.reliability and "airline" in plane.summary


def test_the_name_index_finds_each_name_and_nothing_else():
    from geosleuth.gazetteer.places import NameIndex

    names = {"paris": [3, 10], "lyon": [5], "zürich": [7], "東京": [1, 2, 4]}
    index = NameIndex.from_dict(names)
    assert {name: index.get(name) for name in names} == names and len(index) == 4
    assert index.get("pari") == index.get("parisx") == index.get("") == index.get("zzz") == []


@pytest.mark.slow
def test_area_codes_say_what_the_phonenumbers_geocoder_says(tmp_path, monkeypatch):
    """The compact table answers as libphonenumber's geocoder (areas; for a mobile number, its
    country), is cached on disk, and loads back the same."""
    import phonenumbers
    from phonenumbers import geocoder

    from geosleuth.gazetteer import area_codes

    monkeypatch.setenv("GEOSLEUTH_CACHE_DIR", str(tmp_path))
    built = area_codes.AreaCodes.load()
    monkeypatch.setattr(area_codes.AreaCodes, "build", classmethod(lambda cls: pytest.fail("not read from the cache")))
    again = area_codes.AreaCodes.load()
    monkeypatch.setattr(area_codes.AreaCodes, "default", classmethod(lambda cls: again))
    for raw in ("+74956291122", "+12012001234", "+33142685300", "+81312345678", "+5491123456789", "+525512345678",
                "+79161234567", "+442079460000", "+61298765432", "+27215551234"):
        number = phonenumbers.parse(raw)
        assert area_codes.area_name(number) == geocoder.description_for_number(number, "en"), raw
    assert again.longest("74956291122") == built.longest("74956291122") == "Moscow"
    assert built.longest("999") == ""


def test_packed_strings_are_a_sorted_sequence_bisect_can_search():
    import bisect

    from geosleuth.gazetteer.packed import PackedStrings

    names = PackedStrings.of(sorted(["Athína", "Lisboa", "東京", "", "Ḩalab"]))
    assert list(names) == sorted(["Athína", "Lisboa", "東京", "", "Ḩalab"]) and names[-1] == "東京"
    assert bisect.bisect_left(names, "Lisboa") == 2 and bisect.bisect_left(names, "Zürich") == 3
    with pytest.raises(IndexError):
        names[5]


def test_reverse_lookup_names_the_nearest_town_on_the_globe():
    import csv

    from geosleuth.gazetteer import reverse_lookup
    from geosleuth.gazetteer.reverse import towns_table
    from geosleuth.geo import haversine_km

    rng = np.random.default_rng(0)
    # random points (most at sea), both poles, the antimeridian from both sides, the middle of the Pacific
    lat = np.r_[rng.uniform(-90, 90, 60), 90, -90, 89.99, -16.5, -16.5, 64.1, 0, 48.853]
    lon = np.r_[rng.uniform(-180, 180, 60), 0, 0, 45, 179.99, -179.99, -179.99, -140, 2.349]
    found = reverse_lookup(lat, lon)
    assert found[-1].label == "Paris, Ile-de-France, FR"
    with open(towns_table(), encoding="utf-8", newline="") as fh:
        towns = np.array([(float(row["lat"]), float(row["lon"])) for row in csv.DictReader(fh)])
    for k, place in enumerate(found):  # against every town
        nearest = haversine_km(lat[k], lon[k], towns[:, 0], towns[:, 1]).min()
        assert haversine_km(place.lat, place.lon, lat[k], lon[k]) == pytest.approx(nearest, abs=1e-6)


def test_clues_combine_into_cells(grid):
    clues = extract_clues([read("Rua Augusta"), read("Lisboa"), read("Preço 2,50 €")])
    ll, _ = clue_log_likelihood(clues, grid)
    lisbon = grid.lookup([38.7223], [-9.1393])[0]
    assert np.argmax(ll + grid.log_prior()) == lisbon or grid.cell_country[np.argmax(ll + grid.log_prior())] == "PT"
    assert np.isfinite(ll).all()


def test_ocr_runs_once_per_photo_and_is_shared(grid, fake_reader):
    fake = fake_reader(["Rue de Rivoli", "75001 Paris"])
    engine = OcrEngine([fake])
    cue = create_cue("text", ocr=engine, reread_small=False)
    photo = Photo.open(np.zeros((32, 32, 3), np.uint8))
    first = cue.observe(photo, grid)
    other = create_cue("text", ocr=engine, reread_small=False, fuzzy=False, max_places=2)  # other settings
    second = other.observe(photo, grid)  # another cue, same photo
    assert fake.calls == 1 and not first.abstained and not second.abstained
    assert second.evidence[0] == first.evidence[0] and second.evidence[0].kind == "ocr"  # what was read
    assert any(e.kind == "place" and "Paris" in e.summary for e in first.evidence)


def test_small_text_is_read_again_from_an_upscaled_crop(fake_reader):
    from geosleuth.cues.engines.ocr import reread_small

    class Sharper(fake_reader):
        """Unsure on the whole photo, sure on an upscaled crop."""

        def read(self, image, min_confidence=None):
            if image.shape[0] > 100:
                return [TextRead("AMERICAN INSTITUTE", 0.97, (5.0, 5.0, 60.0, 30.0), "test")]
            return [TextRead("AMERICAN INSTITUTI", 0.5, (10.0, 40.0, 80.0, 52.0), "test")]

    ocr = Sharper()
    photo = Photo.open(np.zeros((100, 100, 3), np.uint8))
    found = ocr.read(photo.array())
    again = reread_small(photo, ocr, found)
    assert again[0].text == "AMERICAN INSTITUTE" and again[0].confidence == 0.97
    assert 0 <= again[0].box[0] < again[0].box[2] <= 100 and reread_small(photo, ocr, found) is again


def test_missing_models_abstain_with_a_note(grid, tmp_path):
    settings = dict(cues={"text": True}, ocr={"backends": ["easyocr"], "model_dir": str(tmp_path / "no-models")})
    with pytest.raises(ConfigError, match="ocr.model_dir=.*no-models: no such folder"):  # named, so exit 2
        Geolocator.from_config("prior-only", **settings)
    geo = Geolocator.from_config("prior-only", check_models=False, **settings)  # as when a default model is missing
    [cue] = geo.cues
    ok, note = cue.available()
    assert cue.name == "text" and not ok and ("not found" in note or "not installed" in note)
    out = cue.observe(Photo.open(np.zeros((32, 32, 3), np.uint8)), grid)
    assert out.abstained and "no OCR reader available" in out.note
    assert "no-models" in out.note or "not installed" in out.note
    pred = geo.locate(np.zeros((32, 32, 3), np.uint8))
    assert pred.cues["text"].status == "abstained" and pred.cues["text"].note == out.note


def test_no_text_abstains(grid, fake_reader):
    out = text_cue(fake_reader([])).observe(Photo.open(np.zeros((32, 32, 3), np.uint8)), grid)
    assert out.abstained and out.note == "no text found"


def test_no_reader_configured_abstains(grid):
    cue = text_cue()
    assert cue.available() == (False, "no OCR reader configured")
    out = cue.observe(Photo.open(np.zeros((32, 32, 3), np.uint8)), grid)
    assert out.abstained and "no OCR reader available" in out.note


# ---- real OCR on rendered signs ---------------------------------------------------------------


LATIN_SIGNS = [
    (["Rue de Rivoli", "75001 Paris"], "FR"),
    (["Hauptstraße 12", "München"], "DE"),
    (["Calle de Alcalá", "Madrid"], "ES"),
    (["Via Garibaldi", "Firenze"], "IT"),
    (["Rua Augusta", "Lisboa"], "PT"),
    (["Damstraat", "Amsterdam"], "NL"),
    (["ulica Długa", "Gdańsk"], "PL"),
    (["Istiklal Caddesi", "Istanbul"], "TR"),
    (["Kungsgatan", "Göteborg"], "SE"),
]


@pytest.mark.ocr
@pytest.mark.parametrize("lines,country", LATIN_SIGNS, ids=[c for _, c in LATIN_SIGNS])
def test_rendered_latin_signs_through_easyocr(render_sign, ocr_engine, lines, country):
    pred = Geolocator(cues=[create_cue("text", ocr=ocr_engine)]).locate(render_sign(lines))
    assert pred.cues["text"].status == "ok"
    assert next(iter(pred.countries)) == country, (pred.cues["text"].evidence, list(pred.countries.items())[:3])


NON_LATIN_SIGNS = [
    (["улица Тверская", "Москва"], "RU", "Cyrillic", ("DejaVuSans-Bold.ttf",)),
    (["Οδός Ερμού", "Αθήνα"], "GR", "Greek", ("DejaVuSans-Bold.ttf",)),
    (["東京駅", "丸の内"], "JP", "Japanese", ("NotoSansCJK-Regular.ttc",)),
    (["서울특별시", "종로구"], "KR", "Hangul", ("NotoSansCJK-Regular.ttc",)),
]


@pytest.mark.ocr
@pytest.mark.parametrize("lines,country,model,fonts", NON_LATIN_SIGNS, ids=[c for _, c, _, _ in NON_LATIN_SIGNS])
def test_rendered_non_latin_signs_through_tesseract(render_sign, font, lines, country, model, fonts):
    backend = TesseractBackend(languages=model)
    ok, note = backend.available()
    if not ok:
        pytest.skip(note)
    path = font(*fonts)
    if path is None:
        pytest.skip(f"no font for {model} on this machine")
    pred = Geolocator(cues=[text_cue(backend)]).locate(render_sign(lines, path))
    assert next(iter(pred.countries)) == country, (pred.cues["text"].evidence, list(pred.countries.items())[:3])


@pytest.mark.ocr
def test_tesseract_script_detection_adds_a_clue(font, grid):
    from PIL import Image, ImageDraw, ImageFont

    backend = TesseractBackend(languages="Latin")
    ok, note = backend.available()
    if not ok or "osd" not in backend.installed() or font("DejaVuSans.ttf") is None:
        pytest.skip("tesseract with the Latin and osd models (or a Cyrillic font) is not installed")
    notice = ["Уважаемые пассажиры!", "Вход в метро закрыт на ремонт", "с понедельника по пятницу.",
              "Пользуйтесь соседней станцией", "улица Тверская, дом 12", "Москва, Россия",
              "Спасибо за понимание", "Администрация метрополитена"]  # OSD needs a paragraph
    im = Image.new("RGB", (1000, 700), (255, 255, 255))
    draw = ImageDraw.Draw(im)
    for k, line in enumerate(notice):
        draw.text((40, 40 + k * 70), line, font=ImageFont.truetype(font("DejaVuSans.ttf"), 36), fill=(0, 0, 0))
    out = text_cue(backend).observe(Photo.open(im), grid)
    osd = [e for e in out.evidence if e.kind == "script" and "osd" in e.details]
    assert not out.abstained and osd and osd[0].details["script"] == "Cyrl"
    assert "Cyrillic" in osd[0].summary and osd[0].confidence >= 0.5
    moscow, paris = grid.lookup([55.7558, 48.8566], [37.6173, 2.3522])
    assert out.log_likelihood[moscow] > out.log_likelihood[paris]  # Cyrillic: Russia rather than France


@pytest.mark.parametrize("text", ["09.00-18.00", "1987 - 2019", "FIRE BRIGADE", "Renegade Coffee", "Tel.No 0123",
                                  "Fig.In", '2014-04-30 062228"', "30.04.2014 06:22:28", "04/30/2014 062228"])
def test_hours_years_english_words_and_abbreviations_are_not_clues(text):
    """Opening hours, year ranges and a camera's date stamp are not phone numbers, 'brigade' is
    not a Danish street, 'Tel.No' is not a Norwegian web address."""
    read = TextRead(text, 0.9, (0, 0, 10, 10), "test")
    assert phone_clues(read) + street_clues(read) + domain_clues(read) == []
