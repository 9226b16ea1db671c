"""Which countries write which languages and scripts (CLDR territory data through babel)."""

from __future__ import annotations

import unicodedata
from collections import Counter
from functools import lru_cache

# Unicode character-name prefix -> ISO 15924 script code.
_SCRIPT_PREFIXES = {
    "LATIN": "Latn", "CYRILLIC": "Cyrl", "GREEK": "Grek", "ARABIC": "Arab", "HEBREW": "Hebr",
    "HANGUL": "Hang", "HIRAGANA": "Jpan", "KATAKANA": "Jpan", "CJK": "Hani", "THAI": "Thai",
    "DEVANAGARI": "Deva", "BENGALI": "Beng", "TAMIL": "Taml", "TELUGU": "Telu", "KANNADA": "Knda",
    "MALAYALAM": "Mlym", "GUJARATI": "Gujr", "GURMUKHI": "Guru", "ORIYA": "Orya", "SINHALA": "Sinh",
    "GEORGIAN": "Geor", "ARMENIAN": "Armn", "ETHIOPIC": "Ethi", "KHMER": "Khmr", "LAO": "Laoo",
    "MYANMAR": "Mymr", "TIBETAN": "Tibt", "MONGOLIAN": "Mong", "THAANA": "Thaa", "SYRIAC": "Syrc",
    "TIFINAGH": "Tfng", "CHEROKEE": "Cher", "CANADIAN": "Cans",
}
SCRIPT_NAMES = {"Latn": "Latin", "Cyrl": "Cyrillic", "Grek": "Greek", "Arab": "Arabic", "Hebr": "Hebrew",
                "Hang": "Hangul", "Jpan": "Japanese kana", "Hani": "Han (Chinese characters)", "Thai": "Thai",
                "Deva": "Devanagari", "Beng": "Bengali", "Taml": "Tamil", "Telu": "Telugu", "Knda": "Kannada",
                "Mlym": "Malayalam", "Gujr": "Gujarati", "Guru": "Gurmukhi", "Orya": "Odia", "Sinh": "Sinhala",
                "Geor": "Georgian", "Armn": "Armenian", "Ethi": "Ethiopic", "Khmr": "Khmer", "Laoo": "Lao",
                "Mymr": "Myanmar", "Tibt": "Tibetan", "Mong": "Mongolian", "Thaa": "Thaana", "Syrc": "Syriac",
                "Tfng": "Tifinagh", "Cher": "Cherokee", "Cans": "Canadian syllabics"}
# A writing system -> the scripts its text shows (Japanese mixes kana and Han, Korean may show Han).
SYSTEM_SCRIPTS = {"Jpan": ("Jpan", "Hani"), "Kore": ("Hang", "Hani"), "Hans": ("Hani",), "Hant": ("Hani",)}
# Scripts written without spaces between words.
UNSPACED = frozenset({"Hani", "Jpan", "Thai", "Laoo", "Khmr", "Mymr"})
# Tesseract OSD script names -> ISO 15924
OSD_SCRIPTS = {"Latin": "Latn", "Cyrillic": "Cyrl", "Greek": "Grek", "Arabic": "Arab", "Hebrew": "Hebr",
               "Hangul": "Hang", "Japanese": "Jpan", "Han": "Hani", "Thai": "Thai", "Devanagari": "Deva",
               "Bengali": "Beng", "Tamil": "Taml", "Telugu": "Telu", "Kannada": "Knda", "Malayalam": "Mlym",
               "Gujarati": "Gujr", "Gurmukhi": "Guru", "Oriya": "Orya", "Sinhala": "Sinh", "Georgian": "Geor",
               "Armenian": "Armn", "Ethiopic": "Ethi", "Khmer": "Khmr", "Lao": "Laoo", "Myanmar": "Mymr",
               "Tibetan": "Tibt", "Thaana": "Thaa", "Syriac": "Syrc"}
# langdetect codes that differ from CLDR's
LANGDETECT_TO_CLDR = {"zh-cn": "zh", "zh-tw": "zh", "no": "nb", "tl": "fil", "he": "he"}


def script_of(ch: str) -> str | None:
    """ISO 15924 code of a letter's script (None for digits, punctuation, symbols)."""
    if not ch.isalpha():
        return None
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return None
    return _SCRIPT_PREFIXES.get(name.split(" ")[0])


def script_counts(text: str) -> Counter:
    """Letters per script in a text."""
    return Counter(s for s in map(script_of, text) if s)


# Scripts with letters drawn like Latin capitals (and Cyrillic small letters drawn like small
# capitals), and the Latin letter each is read as: a plate or a code read by these scripts'
# models comes out in them.
LATIN_LIKE = ("Grek", "Cyrl")
LATIN_LOOKALIKES = str.maketrans("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧАВЕКМНОРСТУХІЈЅавекмнорстухіјѕ",
                                 "ABEZHIKMNOPTYXABEKMHOPCTYXIJSABEKMHOPCTYXIJS")


def script_letters(text: str) -> Counter:
    """Letters per script in a text, not counting those that say nothing of their script: in a
    word holding digits (a plate, a code: 'КК550А0'), Greek and Cyrillic letters drawn like
    Latin ones are as likely Latin letters read by the wrong model."""
    out: Counter = Counter()
    for word in text.split():
        coded = any(ch.isdigit() for ch in word)
        out.update(s for ch in word if (s := script_of(ch))
                   and not (coded and s in LATIN_LIKE and ch.translate(LATIN_LOOKALIKES) != ch))
    return out


def line_script(text: str) -> str:
    """The script that carries a line's words ('' if none): each word counts its letters and
    their vowel signs (which Unicode does not call letters) for the script of most of its
    letters, so a few Latin letters beside Devanagari words do not name the line Latin.

    >>> line_script("‘nod 3i स्टोर"), line_script("Hotel Roma")
    ('Deva', 'Latn')
    """
    weight: Counter = Counter()
    for word in text.split():
        counts = script_counts(word)
        if counts:
            marks = sum(unicodedata.category(ch) in ("Mn", "Mc") for ch in word)
            weight[counts.most_common(1)[0][0]] += sum(counts.values()) + marks
    return weight.most_common(1)[0][0] if weight else ""


def han_forms(text: str) -> Counter:
    """Letters that tell Chinese and Japanese writing apart: "simplified" (characters written
    only in simplified Chinese), "traditional" (only in traditional Chinese), "kana" (Japanese
    syllabaries). Characters of both forms count as neither."""
    simplified, traditional = _han_only()
    out: Counter = Counter()
    for ch in text:
        if ch in simplified:
            out["simplified"] += 1
        elif ch in traditional:
            out["traditional"] += 1
        elif unicodedata.name(ch, "").startswith(("HIRAGANA", "KATAKANA")):
            out["kana"] += 1
    return out


@lru_cache(maxsize=1)
def _han_only() -> tuple[frozenset[str], frozenset[str]]:
    """Characters written only in simplified Chinese, and only in traditional (CC-CEDICT, as
    the zhon package lists them); empty without zhon."""
    try:
        from zhon import cedict
    except ImportError:
        return frozenset(), frozenset()
    simplified, traditional = set(cedict.simplified), set(cedict.traditional)
    return frozenset(simplified - traditional), frozenset(traditional - simplified)


@lru_cache(maxsize=1)
def territory_languages() -> dict[str, dict[str, float]]:
    """Country (ISO alpha-2) -> {language: share of population using it (0..1)} from CLDR."""
    from babel.core import get_global
    from babel.languages import get_territory_language_info

    out = {}
    for territory in get_global("territory_languages"):
        if len(territory) == 2 and territory.isalpha():
            info = get_territory_language_info(territory)
            out[territory] = {lang: min(v["population_percent"] / 100, 1.0) for lang, v in info.items()}
    return out


@lru_cache(maxsize=4096)
def _script_of_language(lang: str, territory: str) -> tuple[str, ...]:
    from babel.core import get_global

    likely = get_global("likely_subtags")
    tag = likely.get(f"{lang}_{territory}") or likely.get(lang) or ""
    parts = tag.split("_")
    script = parts[1] if len(parts) > 2 else ""
    return SYSTEM_SCRIPTS.get(script, (script,) if script else ())


@lru_cache(maxsize=1)
def territory_scripts() -> dict[str, dict[str, float]]:
    """Country -> {script: share of population writing it (0..1)}."""
    out: dict[str, dict[str, float]] = {}
    for territory, langs in territory_languages().items():
        shares: dict[str, float] = {}
        for lang, share in langs.items():
            for script in _script_of_language(lang.split("_")[0], territory):
                shares[script] = min(1.0, shares.get(script, 0.0) + share)
        out[territory] = shares
    return out


def language_likelihood(lang: str, countries: tuple[str, ...], baseline: float) -> list[float]:
    """P(text in `lang` | country) for each country: CLDR share, at least `baseline` (travellers,
    international signage)."""
    lang = LANGDETECT_TO_CLDR.get(lang, lang).split("-")[0]
    table = territory_languages()
    return [max(table.get(c, {}).get(lang, 0.0), baseline) for c in countries]


def script_likelihood(script: str, countries: tuple[str, ...], baseline: float) -> list[float]:
    """P(text in `script` | country): the share writing it, at least `baseline`."""
    table = territory_scripts()
    return [max(table.get(c, {}).get(script, 0.0), baseline) for c in countries]
