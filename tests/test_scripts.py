"""Text in every script: the `scripts` reader (lines found once, each read by the Tesseract model of
its script), language identification that checks the script, phone area codes, place names in
scripts written without spaces, and the rendered-sign suite through the default pipeline."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from geosleuth.cues.clues.text import phone_clues, place_clues, written_in
from geosleuth.cues.engines.ocr import TextRead
from geosleuth.cues.engines.script_reader import ScriptReader, join_unspaced, polarities
from benchmarks.sign_suite import SIGNS, fonts_present, render

# A sign's writing system -> the scripts its letters show
SHOWS = {"Hans": {"Hani"}, "Hant": {"Hani"}, "Jpan": {"Jpan", "Hani"}, "Hang": {"Hang"}}


def read(text: str, confidence: float = 0.95) -> TextRead:
    return TextRead(text, confidence, (0.0, 0.0, 10.0, 10.0), "tesseract")


def test_spaces_tesseract_puts_between_letters_are_removed():
    assert join_unspaced("上 海 市") == "上海市"
    assert join_unspaced("ก ร ุ ง เท พ") == "กรุงเทพ"
    assert join_unspaced("세 종 대 로") == "세종대로"
    assert join_unspaced("Rue de Rivoli 上 海") == "Rue de Rivoli 上海"


def test_light_text_is_turned_dark_on_light():
    strip = np.full((48, 120), 30, np.uint8)
    strip[16:32, 10:110:8] = 240  # thin light strokes on a dark panel
    dark, inverted = polarities(strip)
    y, x = 12 + 24, 12 + 10  # inside a 12 px white margin
    assert dark[y, x] < 50 and dark[y, x + 2] > 200 and dark[0, 0] == 255  # dark text on light
    assert inverted[y, x] > 200


def test_a_language_must_be_written_in_the_letters_seen():
    assert not written_in("et", "Տիգրան Մեծի փողոց")  # langdetect calls Armenian "Estonian"
    assert written_in("ru", "улица Тверская") and not written_in("ru", "ulica Tverskaya")
    assert written_in("ja", "東京都なんば駅") and written_in("ko", "서울특별시") and written_in("zh-cn", "上海市")


def test_a_line_is_labelled_by_the_script_of_its_words():
    """Latin debris that outnumbers the Devanagari letters (vowel signs are not letters) does not
    name the line Latin; the words do."""
    from geosleuth.gazetteer.languages import line_script, script_counts

    line = "‘nod 3i स्टोर"
    assert script_counts(line).most_common(1)[0][0] == "Latn" and line_script(line) == "Deva"
    assert line_script("Hotel राम") == "Latn" and line_script("2407") == ""


def test_phone_area_code_names_the_city():
    clues = phone_clues(read("+7 495 629-11-22"))
    assert [c.kind for c in clues] == ["phone", "phone_place"]
    place = clues[1].places[0][0]
    assert place.country == "RU" and "Moscow" in place.name


def test_place_names_inside_unspaced_words():
    clues = place_clues([read("臺北市政府")])
    assert clues and clues[0].details["country"] == "TW"
    assert place_clues([read("กรงเทพมหานคร")])[0].details["country"] == "TH"  # a vowel mark lost by OCR


@pytest.fixture(scope="module")
def reader():
    reader = ScriptReader()
    ok, why = reader.available()
    if not ok:
        pytest.skip(why)
    if not fonts_present():
        pytest.skip("the Noto fonts of the sign suite are not installed (make system-deps)")
    return reader


@pytest.mark.ocr
def test_each_line_is_read_in_its_script(reader):
    """Every sign's text is read by the model of its script: the letters read are in that script."""
    wrong = []
    for i, sign in enumerate(SIGNS):
        reads = [r for r in reader.read(render(sign, i)) if r.text]
        seen = Counter(r.script for r in reads for _ in r.text if r.script)
        if not seen or seen.most_common(1)[0][0] not in SHOWS.get(sign.script, {sign.script}):
            wrong.append((i, sign.country, [r.text for r in reads]))
    # measured: 3 of 43 (Arabic, Hebrew, Thai), 0 before the detector's fixed canvases moved the
    # boxes by 1-3 px: Tesseract's reads of these lines flip with such shifts
    assert len(wrong) <= 3, wrong


@pytest.fixture(scope="module")
def results(reader):
    from geosleuth.api import Geolocator

    geo = Geolocator.from_config("default")
    return [(sign, geo.locate(render(sign, i))) for i, sign in enumerate(SIGNS)]


@pytest.mark.ocr
def test_sign_suite_through_the_pipeline(results):
    """With the default config, the most probable country is the sign's for at least 90 % of
    signs (measured: 40 of 43; Armenian letters alone, with the city misread, stay below the
    prior's US, as do an Arabic and a Hebrew sign whose words are misread), and no sign is
    confidently wrong."""
    guesses = [(sign.country, *next(iter(pred.countries.items()))) for sign, pred in results]
    right = sum(truth == guess for truth, guess, _ in guesses)
    confidently_wrong = [g for g in guesses if g[0] != g[1] and g[2] >= 0.5]
    assert len({sign.script for sign, _ in results}) >= 14
    assert right >= 0.9 * len(guesses), guesses
    assert confidently_wrong == [], confidently_wrong


@pytest.mark.ocr
def test_report_shows_each_line_with_script_reader_and_box(results):
    sign, pred = results[0]  # Russian: street, city, phone
    lines = [e for e in pred.cues["text"].evidence if e.kind == "ocr"]
    assert any("Тверская" in e.summary and "Cyrillic" in e.summary and "tesseract" in e.summary for e in lines)
    assert all(e.box is not None for e in lines)
    kinds = Counter(e.kind for e in pred.cues["text"].evidence)
    assert kinds["phone"] == 1 and kinds["phone_place"] == 1


def test_the_install_command_names_the_makefiles_packs():
    from pathlib import Path

    from geosleuth.cues.engines.script_reader import SCRIPT_MODELS, install_command

    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    scripts = next(line for line in makefile.splitlines() if line.startswith("SCRIPTS = ")).split()[2:]
    assert install_command(tuple(SCRIPT_MODELS)).split()[2:] == [f"tesseract-ocr-script-{s}" for s in scripts]


@pytest.mark.ocr
def test_a_missing_script_model_is_named_with_its_install_command(reader, tmp_path, grid):
    """With only the Latin model installed, a Thai sign yields no Thai claim, and the report says
    that Thai text cannot be read here and how to install its reader."""
    from geosleuth.cues import create_cue
    from geosleuth.cues.engines.ocr import OcrEngine
    from geosleuth.photo import Photo

    (tmp_path / "Latin.traineddata").symlink_to(f"{reader.folder().rstrip('/')}/Latin.traineddata")
    latin_only = ScriptReader(tessdata=str(tmp_path))
    ok, note = latin_only.available()
    assert ok and "no reader installed here for text in Cyrillic" in note and "tesseract-ocr-script-thai" in note
    ocr = OcrEngine([latin_only])
    thai = next(i for i, sign in enumerate(SIGNS) if sign.script == "Thai")
    out = create_cue("text", ocr=ocr).observe(Photo.open(render(SIGNS[thai], thai)), grid)
    said = [e.summary for e in out.evidence]
    assert any("Thai" in s and "apt-get install" in s and "tesseract-ocr-script-thai" in s for s in said), said
    assert out.abstained or not any(e.details.get("script") == "Thai" for e in out.evidence)


def test_a_word_list_is_dropped_and_every_other_entry_kept(tmp_path):
    """A .traineddata file is an entry count, that many offsets (-1: absent), then the entries."""
    import io
    import struct

    from geosleuth.cues.engines.script_reader import WORD_LIST, drop_entry

    def pack(entries: dict[int, bytes]) -> bytes:
        offsets, at = [-1] * 24, 4 + 8 * 24
        for i in sorted(entries):
            offsets[i], at = at, at + len(entries[i])
        return struct.pack("<i24q", 24, *offsets) + b"".join(entries[i] for i in sorted(entries))

    def unpack(data: bytes) -> dict[int, bytes]:
        offsets = struct.unpack_from("<24q", data, 4)
        present = sorted((o, i) for i, o in enumerate(offsets) if o >= 0)
        ends = [o for o, _ in present[1:]] + [len(data)]
        return {i: data[o:end] for (o, i), end in zip(present, ends)}

    entries = {17: b"network" * 9, 18: b"punctuation", WORD_LIST: b"words" * 1000, 20: b"numbers", 23: b"4.00"}
    (tmp_path / "X.traineddata").write_bytes(pack(entries))
    out = io.BytesIO()
    drop_entry(tmp_path / "X.traineddata", out, WORD_LIST)
    assert unpack(out.getvalue()) == {i: e for i, e in entries.items() if i != WORD_LIST}


@pytest.mark.ocr
def test_models_without_word_lists_are_built_once_in_the_cache_and_still_read(reader, tmp_path, monkeypatch):
    from pathlib import Path

    import tesserocr

    from geosleuth.gazetteer.languages import script_counts

    monkeypatch.setenv("GEOSLEUTH_CACHE_DIR", str(tmp_path))
    lean = ScriptReader(without_word_lists=["Cyrillic"])
    folder = Path(lean.reading_folder())
    assert folder.is_relative_to(tmp_path) and lean.reading_folder() == str(folder)
    full = Path(reader.folder()) / "Cyrillic.traineddata"
    assert (folder / "Cyrillic.traineddata").stat().st_size < full.stat().st_size / 10
    assert (folder / "Latin.traineddata").resolve() == (Path(reader.folder()) / "Latin.traineddata").resolve()
    moscow = next(i for i, sign in enumerate(SIGNS) if sign.country == "RU")
    with tesserocr.PyTessBaseAPI(path=f"{folder}/", lang="Cyrillic") as api:
        from PIL import Image

        api.SetImage(Image.fromarray(render(SIGNS[moscow], moscow)))
        assert script_counts(api.GetUTF8Text())["Cyrl"] >= 10


def test_an_unknown_script_model_is_a_config_error():
    from geosleuth.api import Geolocator
    from geosleuth.errors import ConfigError

    with pytest.raises(ConfigError, match="no script model 'Cyrilic'.*Cyrillic"):
        Geolocator.from_config("default", sets=["ocr.without_word_lists=[Cyrilic]"], check_models=False)


def test_the_line_detector_sees_four_shapes_and_lines_come_back_in_image_pixels():
    from geosleuth.cues.engines.script_reader import CANVAS, WIDE_CANVAS, find_lines

    seen = []

    def detector(canvas: np.ndarray):  # one line found where the image's top-left quarter maps
        seen.append(canvas.shape)
        h, w = canvas.shape[:2]
        ink = np.argwhere(canvas.min(axis=2) < 128)
        (y0, x0), (y1, x1) = ink.min(axis=0), ink.max(axis=0) + 1
        return np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float32), 0.0

    shapes = {CANVAS, CANVAS[::-1], WIDE_CANVAS, WIDE_CANVAS[::-1]}
    for h, w in ((480, 640), (640, 480), (520, 1000), (2048, 28), (28, 2048), (1, 500), (3000, 3000), (1080, 1920)):
        image = np.full((h, w, 3), 255, np.uint8)
        image[: max(h // 2, 1), : max(w // 2, 1)] = 0
        (line,) = find_lines(detector, image)
        assert seen[-1][:2] in shapes and seen[-1][2] == 3
        x0, y0, x1, y1 = line.box
        assert (x0, y0) == (0, 0) and x1 == pytest.approx(max(w // 2, 1), rel=0.02, abs=1.5) \
            and y1 == pytest.approx(max(h // 2, 1), rel=0.02, abs=1.5)
    assert {shape[:2] for shape in seen} == shapes
