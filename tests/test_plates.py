"""Licence plates: format/shape/colour matching on rendered plates, and the detect cue's plumbing."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from geosleuth.cues.clues.plates import format_countries, format_size, looks_like_plate, normalise_plate, plate_box, \
    plate_colours, plate_countries, plate_specs, printed_places, shape_words, word_countries
from geosleuth.geo import haversine_km

EU_BLUE = (0, 51, 153)

# (country, characters as printed, band, band code, background, aspect)
PLATES = [
    ("DE", "B AB 1234", "eu", "D", (255, 255, 255), 4.7),
    ("FR", "AB-123-CD", "eu", "F", (255, 255, 255), 4.7),
    ("IT", "AB 123 CD", "eu", "I", (255, 255, 255), 4.7),
    ("ES", "1234 BCD", "eu", "E", (255, 255, 255), 4.7),
    ("NL", "12-ABC-3", "eu", "NL", (255, 204, 0), 4.7),
    ("BE", "1-ABC-123", "eu", "B", (255, 255, 255), 4.7),
    ("PL", "WA 12345", "eu", "PL", (255, 255, 255), 4.7),
    ("CZ", "1A2 3456", "eu", "CZ", (255, 255, 255), 4.7),
    ("SK", "BA-123AB", "eu", "SK", (255, 255, 255), 4.7),
    ("AT", "W 12345 A", "eu", "A", (255, 255, 255), 4.7),
    ("PT", "AA-00-AA", "eu", "P", (255, 255, 255), 4.7),
    ("HU", "ABC-123", "eu", "H", (255, 255, 255), 4.7),
    ("RO", "B 123 ABC", "eu", "RO", (255, 255, 255), 4.7),
    ("GB", "AB12 CDE", None, None, (255, 204, 0), 4.7),
    ("BR", "ABC1D23", "mercosur", None, (255, 255, 255), 3.1),  # Mercosur, since 2018
    ("BR", "OKL·0817", None, None, (200, 200, 200), 3.1),  # grey, 1990-2018, the dot between the groups
    ("US", "ABC 1234", None, None, (255, 255, 255), 2.0),  # New York, Pennsylvania, Texas...
    ("RU", "А123ВС77", None, None, (255, 255, 255), 4.5),
]


def render_plate(text, band, code, background, aspect, font_path, height=110):
    from PIL import Image, ImageDraw, ImageFont

    width = int(height * aspect)
    im = Image.new("RGB", (width + 40, height + 40), (90, 90, 95))  # a car body around the plate
    d = ImageDraw.Draw(im)
    x0, y0, x1, y1 = 20, 20, 20 + width, 20 + height
    d.rectangle([x0, y0, x1, y1], fill=background, outline=(0, 0, 0), width=3)
    left = x0
    if band == "eu":
        d.rectangle([x0, y0, x0 + int(height * 0.42), y1], fill=EU_BLUE)
        d.text((x0 + int(height * 0.21), y1 - 25), code, font=ImageFont.truetype(font_path, 30), fill=(255, 255, 255),
               anchor="mm")
        left = x0 + int(height * 0.42)
    top = y0
    if band == "mercosur":
        d.rectangle([x0, y0, x1, y0 + int(height * 0.25)], fill=EU_BLUE)
        top = y0 + int(height * 0.25)
    size = int(height * 0.62)  # the characters fill the plate's width at most (a US plate's are narrow)
    while size > 12 and ImageFont.truetype(font_path, size).getlength(text) > 0.9 * (x1 - left):
        size -= 2
    d.text(((left + x1) / 2, (top + y1) / 2), text, font=ImageFont.truetype(font_path, size), fill=(0, 0, 0),
           anchor="mm")
    return np.asarray(im), (x0, y0, x1, y1)


def test_table_covers_many_countries():
    specs = plate_specs()
    assert len(specs) >= 30 and all(s.formats for s in specs.values())
    assert {s.band for s in specs.values()} == {"eu", "mercosur", "none"}


@pytest.mark.parametrize("country,text,band,code,background,aspect", PLATES, ids=[p[0] for p in PLATES])
def test_format_shape_and_colour_pick_the_country(font, country, text, band, code, background, aspect):
    """The matcher on what the plate shows: characters, printed band code, colours from pixels."""
    path = font("DejaVuSans-Bold.ttf")
    if path is None:
        pytest.skip("no TrueType font")
    image, box = render_plate(text, band, code, background, aspect, path)
    crop = image[box[1]:box[3] + 1, box[0]:box[2] + 1]
    seen_band, seen_background = plate_colours(crop)
    assert seen_band == (band or "none")
    countries = plate_countries(text, aspect=crop.shape[1] / crop.shape[0], band=band, band_code=code,
                                background=seen_background)
    assert max(countries, key=countries.get) == country


def detect_cue(ocr_engine):
    """The detect cue over the default config's OCR; no object detector (plates come from boxes)."""
    from geosleuth.cues import create_cue
    from geosleuth.cues.engines.detector import YoloDetector

    return create_cue("detect", ocr=ocr_engine, detector=YoloDetector("missing.pt"))


@pytest.mark.ocr
def test_rendered_plates_read_by_ocr(font, ocr_engine, ocr_reader):
    """End to end on pixels for the plates EasyOCR can read: >= 90 % matched to their country,
    each plate box read by the detect cue as a plate detector's box would be."""
    from geosleuth.photo import Photo

    path = font("DejaVuSans-Bold.ttf")
    if path is None:
        pytest.skip("no TrueType font")
    cue = detect_cue(ocr_engine)
    correct, wrong = 0, []
    latin = [p for p in PLATES if p[0] != "RU"]  # the offline EasyOCR model reads Latin letters only
    for country, text, band, code, background, aspect in latin:
        image, box = render_plate(text, band, code, background, aspect, path)
        plates = cue.find_plates(Photo.open(image), ocr_reader, None, plate_boxes=[box])
        assert len(plates) <= 1 and all(p.box == box and p.on_vehicle for p in plates)
        countries = plates[0].countries() if plates else {}
        # Best or tied best: without a legible band code, 'AB 123 CD' fits IT and FR alike.
        if countries.get(country, 0.0) == max(countries.values(), default=-1.0):
            correct += 1
        else:
            wrong.append((country, plates[0].text if plates else None))
    assert correct >= 0.9 * len(latin), f"{correct}/{len(latin)}; wrong: {wrong}"


def test_a_format_counts_as_much_as_it_is_specific():
    """The size principle: a format admitting fewer strings says more when it fits."""
    assert format_size(r"^[A-Z]{3}\d{4}$") == 26 ** 3 * 10 ** 4
    assert format_size(r"^(AG|AI|AR)\d{1,2}$") == 3 * (10 + 100)
    assert format_size(r"^\d{2}[A-Z]{1,2}[EH]?$") == 100 * (26 + 26 ** 2) * 3
    fits = format_countries("RK755AJ")  # a Slovak district code (Ruzomberok), else France's or Italy's format
    assert max(fits, key=fits.get) == "SK" and fits["FR"] == fits["IT"] < fits["SK"]
    assert max(format_countries("ABC1D23"), key=format_countries("ABC1D23").get) == "BR"
    assert format_countries("3B97236")["CZ"] == 1.0
    # 'LLL NNNN' is both Brazil's grey plates and several US states': the characters cannot tell.
    assert format_countries("OKL0817")["BR"] == format_countries("OKL0817")["US"] == 1.0
    # Characters alone never rule a country out: formats are approximations, reads go wrong.
    assert min(format_countries("RK755AJ").values()) > 0


def test_shape_words_name_the_specified_plates():
    assert shape_words(3.1).startswith("3.1:1, as BR, AR") and "400 x 130 mm" in shape_words(3.1)
    assert "US" in shape_words(2.0) and "520 x 110 mm" in shape_words(4.7)
    assert shape_words(9.0) == "9.0:1"


def test_plate_text_helpers():
    assert normalise_plate("ab-123 cd") == "AB123CD" and normalise_plate("А123ВС77") == "A123BC77"
    assert looks_like_plate("AB-123-CD") and looks_like_plate("7ABC123")
    assert not looks_like_plate("Croissants 1,30 €") and not looks_like_plate("BOULANGERIE")
    assert not looks_like_plate("12,50")


def test_plate_box_grows_to_the_plate(font):
    path = font("DejaVuSans-Bold.ttf")
    if path is None:
        pytest.skip("no TrueType font")
    image, box = render_plate("AB-123-CD", None, None, (255, 255, 255), 4.7, path)
    from geosleuth.cues.clues.plates import iou

    text_box = (box[0] + 60, box[1] + 25, box[2] - 60, box[3] - 25)
    grown = plate_box(image, text_box)
    assert iou(grown, box) > iou(text_box, box) and iou(grown, box) > 0.6


def test_plate_box_takes_in_the_eu_band(font):
    """The band ends the white panel but not the plate: the box holds it, so its colour is seen."""
    path = font("DejaVuSans-Bold.ttf")
    if path is None:
        pytest.skip("no TrueType font")
    image, box = render_plate("AB-123-CD", "eu", "F", (255, 255, 255), 4.7, path)
    band = int(110 * 0.42)
    text_box = (box[0] + band + 40, box[1] + 22, box[2] - 40, box[3] - 22)
    found = plate_box(image, text_box)
    assert found[0] <= box[0] + 4 and abs(found[2] - box[2]) <= 4
    assert plate_colours(image[int(found[1]):int(found[3]) + 1, int(found[0]):int(found[2]) + 1])[0] == "eu"


def test_border_strokes_and_printed_words():
    # A plate edge read as 'I' still lets the format fit, its character counted as any.
    assert plate_countries("IUG9L8U")["US"] >= 0.5 and plate_countries("UG9L8U")["US"] == 1.0
    assert word_countries(["Caiifornia"]) == {"US"} and word_countries(["Land of Lincoln"]) == {"US"}
    assert word_countries(["BA-SALVADOR"]) == {"BR"} and word_countries(["Ontario"]) == {"CA"}
    assert not word_countries(["SCJP303", "TOYOTA", "PA 12345"])
    named = plate_countries("ABC1234", aspect=3.1, named={"BR"})
    assert max(named, key=named.get) == "BR" and plate_countries("ABC1234", named={"US"})["BR"] < 0.2


@pytest.mark.ocr
@pytest.mark.parametrize("country, small, characters, place", [
    ("BR", "SP-SAO PAULO", "ABC-1234", "São Paulo"),  # Brazil's 1990-2018 plates: 'UF-CITY' above
    ("BR", "BA-SALVADOR", "OKL·0817", "Salvador"),  # the dot between the groups
    ("US", "CALIFORNIA", "ABC 1234", "California"),  # a state's name: "LLL NNNN" is also Brazil's format
])
def test_small_print_read_around_the_plate(font, ocr_engine, ocr_reader, country, small, characters, place):
    """The plate re-read returns the small print above the characters, and it places the plate."""
    from PIL import Image, ImageDraw, ImageFont

    from geosleuth.cues.detect import AT_HOME, plate_clues
    from geosleuth.photo import Photo

    path = font("DejaVuSans-Bold.ttf")
    if path is None:
        pytest.skip("no TrueType font")
    im = Image.new("RGB", (420, 200), (90, 90, 95))
    d = ImageDraw.Draw(im)
    box = (30, 40, 390, 156)
    d.rectangle(box, fill=(200, 200, 200), outline=(0, 0, 0), width=3)
    d.text((210, 58), small, font=ImageFont.truetype(path, 18), fill=(0, 0, 0), anchor="mm")
    d.text((210, 112), characters, font=ImageFont.truetype(path, 52), fill=(0, 0, 0), anchor="mm")
    [plate] = detect_cue(ocr_engine).find_plates(Photo.open(im), ocr_reader, None, plate_boxes=[box])
    assert plate.text == normalise_plate(characters) and word_countries(plate.words) == {country}
    assert max(plate.countries(), key=plate.countries().get) == country
    clues = plate_clues(plate)
    printed = [c for c in clues if c.kind == "plate_print"]
    assert [c.countries for c in printed] == [{country: 1.0}] and printed[0].reliability >= 0.85
    homes = [c for c in clues if c.kind == "plate_home"]
    assert [c.places[0][0].name for c in homes] == [place] and homes[0].home_share == AT_HOME


@pytest.mark.ocr
def test_a_plate_no_reader_made_sense_of_is_found_on_a_vehicle(font, ocr_reader, fake_reader):
    """A line the text cue's reader found but could not read, on a detected car, is read closer
    by the crop reader: the plate search starts from the line detector's boxes."""
    from geosleuth.cues import create_cue
    from geosleuth.cues.engines.detector import Detection, YoloDetector
    from geosleuth.cues.engines.ocr import OcrEngine
    from geosleuth.photo import Photo

    path = font("DejaVuSans-Bold.ttf")
    if path is None:
        pytest.skip("no TrueType font")
    image, box = render_plate("AB-123-CD", "eu", "F", (255, 255, 255), 4.7, path)
    text_box = (box[0] + 86, box[1] + 22, box[2] - 40, box[3] - 22)

    class Unread(fake_reader):  # the text cue's reader: a line, no text
        def line_boxes(self, image):
            return [text_box]

    cue = create_cue("detect", ocr=OcrEngine([Unread(), ocr_reader]), detector=YoloDetector("missing.pt"))
    car = Detection("car", 0.9, (0.0, 0.0, float(image.shape[1]), float(image.shape[0])))
    plates = cue.find_plates(Photo.open(image), ocr_reader, [car])
    assert [p.text for p in plates] == ["AB123CD"] and plates[0].on_vehicle and plates[0].band == "eu"
    assert cue.find_plates(Photo.open(image), ocr_reader, []) == []  # no vehicle: only the text cue's reads


@pytest.mark.parametrize("line, country, place", [
    ("BA-SALVADOR", "BR", "Salvador"),
    ("BA · SIMÕES FILHO", "BR", "Simões Filho"),  # a town of 115,000
    ("A SALVADOR", "BR", "Salvador"),  # the federation unit's code half read
    ("BA-SALYADOR", "BR", "Salvador"),  # a letter misread
    ("Pe- SAL ¥ a DORÎ", "BR", "Salvador"),  # 'UF-' then the name in pieces: the layout says city line
    ("SP-SAO PAULO", "BR", "São Paulo"),
    ("ВА-САМАСАЋ|", "BR", "Camaçari"),  # read by the Cyrillic model: its look-alikes are Latin letters
    ("BRA SILIA", "BR", "Brasília"),  # the city, though it holds BRASIL
    ("TEX ASi", "US", "Texas"),
    ("Texas", "US", "Texas"),
    ("Caiifornia", "US", "California"),
    ("Sunshine State", "US", "Florida"),  # a slogan names its state
    ("WEST VIRGINIA", "US", "West Virginia"),  # the longest name printed, not Virginia inside it
    ("Kansas", "US", "Kansas"),  # printed whole, not Arkansas a letter or two off
    ("Ontario", "CA", "Ontario"),
    ("Newfoundland", "CA", "Newfoundland and Labrador"),
    ("BRASIL", "BR", None),
])
def test_small_print_is_placed_through_the_gazetteer(line, country, place):
    [printed] = printed_places([line])
    assert printed.country == country and (printed.place.name if printed.place else None) == place


def test_a_plates_state_is_its_home_four_times_in_five(grid):
    """'TEXAS' on a plate: the country, and Texas as the car's home, where it is seen 4 times in 5
    whatever the state's size; it says nothing more of which country."""
    from geosleuth.cues.clues import clue_log_likelihood
    from geosleuth.cues.detect import AT_HOME, PlateRead, plate_clues

    plate = PlateRead("CDL4461", (0, 0, 240, 120), 2.0, None, None, "white", 0.8, True, ("TEXAS",))
    clues = plate_clues(plate)
    prior = np.exp(grid.log_prior() - grid.log_prior().max())
    prior /= prior.sum()

    def posterior(chosen):
        ll, _ = clue_log_likelihood(chosen, grid)
        post = prior * np.exp(ll - ll.max())
        return post / post.sum()

    us = grid.cell_country == "US"
    for state in ("TEXAS", "VERMONT"):  # 8 % and 0.2 % of the US prior
        plate = replace(plate, words=(state,))
        home = [c for c in plate_clues(plate) if c.kind == "plate_home"]
        inside = np.array([place.endswith(f", {state.title()}, US") for place in grid.places])
        post = posterior(home)
        assert post[inside].sum() / post[us].sum() == pytest.approx(AT_HOME, abs=0.05)
        assert post[us].sum() == pytest.approx(prior[us].sum(), abs=0.01)  # not which country
    both = posterior(clues)
    assert both[us].sum() > 0.9


def test_noise_on_a_plate_names_nothing():
    assert printed_places(["HIM", "ALUN U 4 |", "TOYOTA", "PA 12345", "SCJP303", "", "Pa AA Fal", "PA - XYZWQK"]) == []


def test_a_city_line_places_the_plate_near_its_city(grid):
    """The city line outweighs the characters, and its likelihood peaks near the city."""
    from geosleuth.cues.clues import clue_log_likelihood
    from geosleuth.cues.detect import PlateRead, plate_clues

    plate = PlateRead("JOG9221", (0, 0, 310, 100), 3.1, None, None, "other", 0.8, True, ("BA-SALVADOR",))
    ll, _ = clue_log_likelihood(plate_clues(plate), grid)
    post = np.exp(grid.log_prior() + ll - (grid.log_prior() + ll).max())
    post /= post.sum()
    countries = grid.country_probabilities(post)
    assert grid.countries[int(np.argmax(countries))] == "BR" and countries.max() > 0.5
    best = int(np.argmax(post))
    assert haversine_km(grid.lat[best], grid.lon[best], -12.97, -38.50) < 100  # Salvador


@pytest.mark.ocr
@pytest.mark.parametrize("damage", ["tiny", "rotated", "blurred", "no_vehicle"])
def test_a_bad_plate_crop_says_little_and_breaks_nothing(font, ocr_engine, ocr_reader, damage):
    """A tiny, rotated or blurred plate, or one on no vehicle, gives at most a weak clue: no
    error, and no printed place made up from noise."""
    from PIL import Image, ImageFilter

    from geosleuth.cues.detect import plate_clues, small_print
    from geosleuth.photo import Photo

    path = font("DejaVuSans-Bold.ttf")
    if path is None:
        pytest.skip("no TrueType font")
    image, box = render_plate("ABC-1234", None, None, (255, 255, 255), 2.0, path)
    im = Image.fromarray(image)
    if damage == "tiny":
        im = im.resize((im.width // 12, im.height // 12))
        box = tuple(v // 12 for v in box)
    elif damage == "rotated":
        im = im.rotate(35, expand=False, fillcolor=(90, 90, 95))
    elif damage == "blurred":
        im = im.filter(ImageFilter.GaussianBlur(6))
    photo = Photo.open(np.asarray(im))
    if damage == "no_vehicle":  # plate-shaped text, a detector that found no vehicle
        plates = detect_cue(ocr_engine).find_plates(photo, ocr_reader, (), plate_boxes=None)
    else:
        plates = detect_cue(ocr_engine).find_plates(photo, ocr_reader, None, plate_boxes=[box])
    for plate in plates:
        assert small_print(ocr_reader, photo.array(), plate) == () or not printed_places(plate.words)
        assert all(c.kind != "plate_print" for c in plate_clues(plate))
        assert damage != "no_vehicle" or plate.on_vehicle is not True  # never said to be on a vehicle
