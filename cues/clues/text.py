"""Clues from text lines: Unicode scripts and languages (lingua, CLDR population shares) become
country likelihoods; place names (GeoNames in every script, exact and fuzzy) and phone area codes
become place kernels; phone numbers, web domains, currencies, postal codes and street-type words
add country votes. Garbage text yields no clue at all.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from functools import lru_cache
from typing import Sequence

import numpy as np

from geosleuth.cues.clues import Clue, distinct
from geosleuth.cues.engines.ocr import TextRead
from geosleuth.gazetteer.area_codes import area_name
from geosleuth.gazetteer.countries import countries as country_facts
from geosleuth.gazetteer.languages import (LANGDETECT_TO_CLDR, LATIN_LIKE, SCRIPT_NAMES, SYSTEM_SCRIPTS, UNSPACED,
                                          han_forms, language_likelihood, script_counts, script_letters,
                                          script_likelihood, script_of, territory_scripts)
from geosleuth.gazetteer.lexicon import lexicon
from geosleuth.gazetteer.places import Gazetteer, Place, normalise


def extract_clues(reads: Sequence[TextRead], fuzzy: bool = True, max_places: int = 8) -> list[Clue]:
    if not reads:
        return []
    clues = script_clues(reads)
    clues += han_form_clues(reads)
    clues += language_clues(reads)
    clues += place_clues(reads, fuzzy=fuzzy, limit=max_places)
    for read in reads:
        clues += phone_clues(read) + domain_clues(read) + currency_clues(read) + postal_clues(read)
        clues += street_clues(read)
    return distinct(clues)


def script_clues(reads: Sequence[TextRead]) -> list[Clue]:
    """Each script's letters, counted in the lines it dominates (a stray Cyrillic letter that OCR
    put in a Latin line is not Cyrillic text; nor are a code's Latin-looking letters,
    `script_letters`)."""
    confidence = float(np.mean([r.confidence for r in reads])) if reads else 0.0
    counts: Counter = Counter()
    misread: dict[str, float] = {}
    for read in reads:
        line = script_letters(read.text)
        if line:
            script, n = line.most_common(1)[0]
            counts[script] += n
            misread[script] = misread.get(script, 1.0) * (1 - min(read.confidence, 0.999))
    countries = country_codes()
    clues = []
    for script, n in counts.items():
        if script == "Latn":
            if n < 8 or len(counts) > 1:
                continue  # Latin letters are everywhere; alone they only hint away from other scripts
            reliability, baseline = 0.5, 0.3
        else:
            if n < (1 if script in ("Hani", "Jpan", "Hang") else 2):
                continue
            if script in LATIN_LIKE:
                # Their models win Latin text and noise too ('ΞΕΚΕΌΊΘΑΕ' at 0.44 off a Latin plate):
                # the script is wrongly seen only when every line showing it is a misread, each
                # line right with its reader's confidence.
                reliability = 1 - misread[script]
            else:  # OCR rarely invents several letters of a script unlike Latin.
                reliability = 1 - (0.02 * (1 - confidence) * min(1.0, 3 / n) + 0.001)
            baseline = 0.0005  # foreign-script signs (a Chinatown, a Russian ship in Stockholm)
        lik = script_likelihood(script, countries, baseline)
        top = _top(countries, lik)
        clues.append(Clue("script", f"{n} letters in {SCRIPT_NAMES.get(script, script)} script "
                                    f"(written in {', '.join(top)}...)", reliability,
                          dict(zip(countries, lik)), details={"script": script, "letters": n}))
    return clues


# Where each form of Chinese and Japanese writing is the everyday one. Japanese kanji keep many
# traditional forms, so traditional characters without kana still hint at Japan.
HAN_FORMS = {"kana": {"JP": 1.0}, "simplified": {"CN": 1.0, "SG": 1.0},
             "traditional": {"TW": 1.0, "HK": 1.0, "MO": 1.0, "JP": 0.3}}
HAN_FORM_NAMES = {"kana": "kana (Japanese)", "simplified": "simplified Chinese characters",
                  "traditional": "traditional Chinese characters"}


def han_form_clues(reads: Sequence[TextRead]) -> list[Clue]:
    """Kana, or else characters written only in simplified or only in traditional Chinese: the
    Han script alone is written from Beijing to Tokyo; its forms tell the PRC and Singapore,
    Taiwan, Hong Kong and Macau, and Japan apart."""
    forms: Counter = Counter()
    for read in reads:
        forms += han_forms(read.text)
    form = "kana" if forms["kana"] else max(("simplified", "traditional"), key=lambda f: forms[f])
    n = forms[form]
    if n == 0 or (form != "kana" and forms["simplified"] == forms["traditional"]):
        return []
    # Kanji share forms with both Chinese standards; without kana, mixed forms are a misread or two places' text.
    others = 0 if form == "kana" else sum(forms.values()) - n
    reliability = (1 - 0.2 / min(n, 4)) * n / (n + others)
    return [Clue("han_form", f"{n} {HAN_FORM_NAMES[form]} ({', '.join(HAN_FORMS[form])})", reliability,
                 dict(HAN_FORMS[form]), details={"form": form, "letters": n, **forms})]


_VOWELS = set("aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ")


def _word_like(text: str) -> bool:
    """Reject OCR garbage before language detection: random letters, walls of one letter."""
    words = re.findall(r"[^\W\d_]{3,}", text)
    if len(words) < 2:
        return False
    letters = "".join(words).lower()
    if len(set(letters)) < 0.25 * min(len(letters), 40) or re.search(r"(.)\1{3,}", letters):
        return False
    latin = [w for w in words if w.isascii()]
    if latin:
        voweled = sum(1 for w in latin if set(w.lower()) & _VOWELS and not re.search(r"[^aeiouy]{5,}", w.lower()))
        if voweled < 0.8 * len(latin):
            return False
    return True


# How often a language shows up on signs far from where it is spoken: English everywhere, a few
# world languages often, the rest rarely. And the languages langdetect confuses with each other.
INTERNATIONAL = {"en": 0.2, "fr": 0.003, "es": 0.003, "de": 0.003, "ru": 0.003, "ar": 0.003, "zh": 0.003,
                 "pt": 0.003, "it": 0.002, "ja": 0.002, "ko": 0.002}
RARE_ABROAD = 0.0005
CONFUSABLE = ({"no", "nb", "nn", "da", "sv"}, {"es", "pt", "gl", "ca"}, {"hr", "sr", "bs", "sl"}, {"cs", "sk"},
              {"id", "ms"}, {"ru", "uk", "bg", "be", "mk"}, {"fr", "ca"}, {"nl", "af"})


def language_clues(reads: Sequence[TextRead]) -> list[Clue]:
    good = [r for r in reads if r.confidence >= 0.5]
    text = " ".join(r.text for r in good)
    letters = sum(ch.isalpha() for ch in text)
    if letters < 20 or not _word_like(text):
        return []
    guesses = detect_languages(text.lower())  # detectors mistake upper-case English for German
    if not guesses or guesses[0][1] < 0.8 or not written_in(guesses[0][0], text):
        return []  # unsure, or a language that is not written in these letters (Armenian is not Estonian)
    lang, p = guesses[0]
    countries = country_codes()
    vec = np.zeros(len(countries))
    for code, prob in guesses:
        code = LANGDETECT_TO_CLDR.get(code, code).split("-")[0]
        vec += prob * np.asarray(language_likelihood(code, countries, INTERNATIONAL.get(code, RARE_ABROAD)))
        for group in CONFUSABLE:  # a share of the belief goes to languages it is often mistaken for
            if code in group:
                for other in group - {code}:
                    vec += 0.1 * prob * np.asarray(language_likelihood(other, countries, 0.0))
    if vec.max() <= 2 * INTERNATIONAL.get(lang, RARE_ABROAD):
        return []
    reliability = 0.98 * p * min(1.0, letters / 30) * (0.5 if lang == "en" else 1.0)
    from babel import Locale

    try:
        name = Locale.parse(LANGDETECT_TO_CLDR.get(lang, lang).split("-")[0]).english_name
    except Exception:
        name = lang
    return [Clue("language", f"language {name} (p = {p:.2f}; spoken in {', '.join(_top(countries, vec))}...)",
                 reliability, dict(zip(countries, vec.tolist())), details={"language": lang, "p": round(p, 3)})]


def written_in(language: str, text: str) -> bool:
    """Whether `language` (an ISO 639-1 code, or langdetect's) is usually written in the script of most of the
    letters of `text` (CLDR likely subtags: "et" -> Latn, "ja" -> Jpan)."""
    from babel.core import get_global

    counts = script_counts(text)
    if not counts:
        return False
    code = LANGDETECT_TO_CLDR.get(language, language).split("-")[0]
    likely = get_global("likely_subtags").get(code, "")
    script = next((part for part in likely.split("_")[1:] if len(part) == 4), None)
    return counts.most_common(1)[0][0] in SYSTEM_SCRIPTS.get(script, (script,))


def detect_languages(text: str) -> list[tuple[str, float]]:
    """Language guesses (ISO 639-1, probability), most likely first: lingua, made for short text
    and surer than langdetect on sign lines (benchmarks/compare_language_id.py), in its
    low-accuracy mode, which loads in a fraction of the time and memory; langdetect where lingua
    is not installed."""
    try:
        detector = _lingua()
    except ImportError:
        return _langdetect(text)
    # Rounded: lingua's sums differ in the last bits from call to call.
    return [(v.language.iso_code_639_1.name.lower(), round(float(v.value), 4))
            for v in detector.compute_language_confidence_values(text)[:5]]


@lru_cache(maxsize=1)
def _lingua():
    from lingua import LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


def _langdetect(text: str) -> list[tuple[str, float]]:
    """langdetect's guesses with a fixed seed (deterministic), most likely first."""
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    try:
        return [(g.lang, float(g.prob)) for g in detect_langs(text)]
    except LangDetectException:
        return []


def place_clues(reads: Sequence[TextRead], fuzzy: bool = True, limit: int = 8) -> list[Clue]:
    gaz = Gazetteer.default()
    common = lexicon().common_words
    found: list[tuple[float, Clue]] = []
    for read in reads:
        words = [w for w in re.split(r"[\s,;:/|()\[\]\"]+", read.text) if w]
        used = [False] * len(words)
        for n in (3, 2, 1):
            for i in range(len(words) - n + 1):
                if any(used[i:i + n]):
                    continue
                phrase = " ".join(words[i:i + n])
                key = normalise(phrase)
                if len(key) < (4 if key.isascii() else 2) or key.replace(" ", "").isdigit():
                    continue
                if phrase.islower() and not read.text.islower():
                    continue  # a lower-case word in mixed-case text is not a proper noun
                places = gaz.lookup(phrase)
                score = 100.0
                cased = phrase[:1].lower() != phrase[:1].upper()
                if not places and fuzzy and n == 1 and read.confidence >= 0.5 and \
                        (len(key) >= 7 and phrase[:1].isupper() if cased else len(key) >= 5):
                    # Names in scripts without case are proper nouns as much as any word; a slip
                    # costs more of a short word, so they are allowed a lower ratio.
                    matches = [m for m in gaz.fuzzy(phrase, min_score=90 if cased else 85) if m.place.kind == "city"]
                    places = [m.place for m in matches]
                    score = max((m.score for m in matches), default=0.0)
                if not places and n == 1 and len(phrase) >= 3 and script_of(phrase[0]) in UNSPACED:
                    phrase, places = _name_inside(gaz, phrase)
                    score = 100.0  # an exact name inside the word, whatever the fuzzy search scored
                if not places:
                    continue
                for k in range(i, i + n):
                    used[k] = True
                places, exonym = _native(phrase, places)
                clue = _place_clue(phrase, places, score, read, is_common=n == 1 and is_common_word(key, places, common),
                                   exonym=exonym)
                if all(p.kind == "country" for p in places) and _AIRLINE.search(read.text):
                    clue = replace(clue, reliability=clue.reliability * AIRLINE_WEIGHT,
                                   summary=clue.summary + " in an airline's name: its planes fly everywhere")
                found.append((clue.reliability, clue))
    found.sort(key=lambda t: -t[0])
    return [c for _, c in found[:limit]]


_AIRLINE = re.compile(r"\b(?:air|airlines?|airways)\b", re.I)  # "Air France", "Turkish Airlines"
AIRLINE_WEIGHT = 0.15
EXONYM_SCRIPT_SHARE = 0.05  # a script fewer people write in a country names its places as exonyms there
EXONYM_WEIGHT = 0.15


def _native(phrase: str, places: list["Place"]) -> tuple[list["Place"], bool]:
    """The places whose country writes the name's script (a Devanagari word names Indian
    places, not a Californian city through its Hindi name), and whether only exonyms matched.
    Latin names are taken as native everywhere: romanised names are written on local signs."""
    script = next((s for s in map(script_of, phrase) if s), None)
    if script is None or script == "Latn":
        return places, False
    writes = territory_scripts()
    native = [p for p in places if writes.get(p.country, {}).get(script, 0.0) >= EXONYM_SCRIPT_SHARE]
    return (native, False) if native else (places, True)


def _name_inside(gaz: Gazetteer, word: str) -> tuple[str, list["Place"]]:
    """The longest place name inside a word of a script written without spaces ("臺北市政府" holds
    "臺北市"), and its places."""
    for size in range(len(word) - 1, 1, -1):
        for start in range(len(word) - size + 1):
            places = gaz.lookup(word[start:start + size])
            if places:
                return word[start:start + size], places
    return word, []


WORD_LANGUAGES = ("en", "fr", "de", "es", "it", "pt")


def is_common_word(key: str, places: list["Place"], listed: frozenset[str]) -> bool:
    """Is this name more likely an everyday word than a place? ('Hall', 'Temple', 'Welcome' yes;
    'Madrid', 'Istanbul' no): its word frequency is high for the size of the biggest place it names."""
    if key in listed:
        return True
    try:
        from wordfreq import zipf_frequency
    except ImportError:
        return False
    # The small lists, a tenth of the large lists' size, hold every word above zipf 3 (1 per million).
    zipf = max(zipf_frequency(key, lang, wordlist="small") for lang in WORD_LANGUAGES)
    return zipf >= 3.0 and zipf - np.log10(max(_place_size(p) for p in places)) > -0.5


def _place_size(place: "Place") -> float:
    """How many people a name stands for: a city's population; regions and countries as big."""
    if place.kind == "city":
        return max(place.population, 1000)
    return 3e6 if place.kind == "admin1" else 3e7


def _place_clue(phrase: str, places: list["Place"], score: float, read: TextRead, is_common: bool,
                exonym: bool = False) -> Clue:
    size = np.array([_place_size(p) for p in places], dtype=np.float64)
    w = np.sqrt(size)
    w /= w.sum()
    order = np.argsort(-w)[:10]
    best = places[order[0]]
    plausibility = min(1.0, np.log10(size.max()) / 6)  # a famous city is a likelier read than a hamlet
    # OCR errors make garbage, rarely a real town's name: an exact read of a known city is strong.
    reliability = (0.99 - 0.05 * (1 - read.confidence)) * (score / 100) ** 4 * plausibility * \
        (0.15 if is_common else 1.0) * (EXONYM_WEIGHT if exonym else 1.0)
    named = ", ".join(f"{places[k].name} ({places[k].country}{', ' + places[k].kind if places[k].kind != 'city' else ''})"
                      for k in order[:3])
    how = "exact" if score >= 100 else f"fuzzy {score:.0f}"
    summary = f"'{phrase}' matches {named}" + (f" and {len(places) - 3} more" if len(places) > 3 else "") + \
        f" ({how}{', also a common word' if is_common else ''}{', an exonym: not its native name' if exonym else ''})"
    return Clue("place", summary, float(reliability), places=tuple((places[k], float(w[k])) for k in order),
                box=read.box, details={"text": phrase, "score": round(score, 1), "best": best.name,
                                       "country": best.country})


_PHONE = re.compile(r"(?:\+|\b00)?\(?\d[\d\s().\-/]{6,}\d")
# Opening hours ('09.00-18.00'), year ranges ('1987 - 2019') and dates ('2014-04-30', '30.04.2014':
# a camera's time stamp burned into the photo) look like digit runs too.
_NOT_PHONE = re.compile(r"\b\d{1,2}[.:]\d{2}\s*[-–]\s*\d{1,2}[.:]\d{2}\b|\b(?:1[89]|20)\d{2}\s*[-–/]\s*(?:1[89]|20)\d{2}\b"
                        r"|\b(?:1[89]|20)\d{2}[-./](?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12]\d|3[01])\b"
                        r"|\b(?:0?[1-9]|[12]\d|3[01])[-./](?:0?[1-9]|[12]\d|3[01])[-./](?:1[89]|20)\d{2}\b")


def phone_clues(read: TextRead) -> list[Clue]:
    clues = []
    for m in _PHONE.finditer(read.text):
        raw = m.group(0).strip()
        digits = re.sub(r"\D", "", raw)
        if not 8 <= len(digits) <= 15 or (not raw.startswith(("+", "00")) and _NOT_PHONE.search(raw)):
            continue
        regions, exact = phone_regions(raw)
        if not regions or len(regions) > 30:
            continue
        if exact:
            reliability = 0.99 - 0.1 * (1 - read.confidence)
            how = "international format"
        else:
            reliability = 0.6 * _trust(read.confidence) * (1 - len(regions) / 40)
            how = f"valid national number in {len(regions)} countries"
        clues.append(Clue("phone", f"phone number {raw}: {how} ({', '.join(sorted(regions)[:6])}"
                                   f"{'...' if len(regions) > 6 else ''})", reliability, regions, box=read.box,
                          details={"number": raw, "regions": sorted(regions)}))
        clues += _phone_place(raw, read) if exact else _phone_places(raw, regions, read)
    return clues


AREA_CODE_RELIABILITY = 0.8  # a national number's area code, once its country is settled


def _phone_places(raw: str, regions: dict[str, float], read: TextRead) -> list[Clue]:
    """A national number's area code read in each country where the number is valid ("010" is
    Beijing in China, Genoa in Italy): where within each country, never which country (the phone
    clue says that), so the countries the rest of the photo supports pick the place."""
    import phonenumbers

    gazetteer, found = Gazetteer.default(), []
    for region in sorted(regions):
        area = area_name(phonenumbers.parse(raw, region))
        places = [pl for pl in gazetteer.lookup(area.split(",")[0]) if pl.country == region and pl.kind == "city"] \
            if area else []
        if places:
            found.append(max(places, key=lambda pl: pl.population))
    if not found:
        return []
    named = ", ".join(f"{pl.name} ({pl.country})" for pl in found)
    return [Clue("phone_place", f"phone area code of {raw} is, by country, {named}",
                 AREA_CODE_RELIABILITY * _trust(read.confidence), places=tuple((pl, 1.0) for pl in found),
                 box=read.box, details={"number": raw, "places": [pl.label for pl in found]}, within_country=True)]


def _phone_place(raw: str, read: TextRead) -> list[Clue]:
    """The area code's locality (libphonenumber's geocoding data: "+7 495" is Moscow), found in the
    gazetteer within the number's country: a place kernel, as trusted as the number."""
    import phonenumbers

    try:
        number = phonenumbers.parse(re.sub(r"[^\d+]", "", raw.replace("00", "+", 1) if raw.startswith("00") else raw))
    except phonenumbers.NumberParseException:
        return []
    area = area_name(number)
    country = phonenumbers.region_code_for_number(number)
    places = [pl for pl in Gazetteer.default().lookup(area.split(",")[0]) if pl.country == country] if area else []
    if not places:
        return []
    clue = _place_clue(area, places, 100.0, read, is_common=False)
    return [Clue("phone_place", f"phone area code of {raw} is {area}: " + clue.summary.split(" matches ", 1)[1],
                 clue.reliability * 0.9, places=clue.places, box=read.box, details={**clue.details, "number": raw})]


@lru_cache(maxsize=512)
def _phone_regions_cached(raw: str) -> tuple[tuple[tuple[str, float], ...], bool]:
    import phonenumbers

    cleaned = "+" + raw.lstrip()[2:] if raw.lstrip().startswith("00") else raw
    if cleaned.lstrip().startswith("+"):
        try:
            num = phonenumbers.parse(cleaned, None)
        except phonenumbers.NumberParseException:
            return (), True
        if not phonenumbers.is_valid_number(num):
            return (), True
        regions = phonenumbers.region_codes_for_country_code(num.country_code)
        main = phonenumbers.region_code_for_number(num)
        return tuple((r, 1.0 if r == main else 0.3) for r in regions), True
    grouping = [len(g) for g in re.findall(r"\d+", raw)]
    out = {}
    for region in phonenumbers.SUPPORTED_REGIONS:
        try:
            num = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num) and phonenumbers.region_code_for_number(num) == region:
            national = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
            same_layout = [len(g) for g in re.findall(r"\d+", national)] == grouping
            out[region] = 1.0 if same_layout else 0.3  # written the way that country writes numbers
    return tuple(out.items()), False


def phone_regions(raw: str) -> tuple[dict[str, float], bool]:
    """Countries where `raw` is a valid number (weights favour the local way of grouping digits),
    and whether it was in international format."""
    regions, exact = _phone_regions_cached(raw)
    return dict(regions), exact


_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,6})\b", re.I)
_DOMAIN_LINE = re.compile(r"^(?:www[.\s])?([a-z0-9][a-z0-9-]{2,})\s([a-z]{2})$", re.I)  # 'shop-name fr' (dot lost)


def domain_clues(read: TextRead) -> list[Clue]:
    lex = lexicon()
    tld_map = _tldcountry_codes()
    clues = []
    # A capitalised ending ('Tel.No', 'Fig.In') is an abbreviation, not a domain, unless www/http says so.
    candidates = [(m.group(0), m.group(1).lower()) for m in _DOMAIN.finditer(read.text)
                  if m.group(1).islower() or m.group(0).lower().startswith(("www", "http"))]
    m = _DOMAIN_LINE.match(read.text.strip())
    if m and ("-" in m.group(1) or read.text.lower().startswith("www")):
        candidates.append((read.text.strip(), m.group(2).lower()))
    for domain, tld in candidates:
        if tld in lex.regional_tlds:
            countries = {c: 1.0 for c in lex.regional_tlds[tld]}
        elif tld in tld_map and tld not in lex.generic_cctlds:
            countries = {tld_map[tld]: 1.0}
        else:
            continue
        clues.append(Clue("domain", f"web address {domain} (.{tld}: {', '.join(sorted(countries)[:5])})",
                          0.95 * _trust(read.confidence), countries, box=read.box,
                          details={"domain": domain, "tld": tld}))
    return clues


@lru_cache(maxsize=1)
def _tldcountry_codes() -> dict[str, str]:
    out = {info["tld"].lstrip(".").lower(): cc for cc, info in country_facts().items() if info.get("tld")}
    out["uk"] = "GB"
    return out


def currency_clues(read: TextRead) -> list[Clue]:
    clues = []
    for token, countries in lexicon().currencies.items():
        t = re.escape(token)
        # A price: the symbol or code next to a number ("1,30 €", "€5", "100 RUB"), never alone.
        pattern = rf"(?<![^\W\d_]){t}\s?\d|\d[\d.,']*\s?{t}(?![^\W\d_])"
        if re.search(pattern, read.text):
            broad = token in ("$", "kr", "Rs", "¥", "TL", "RM")  # shared by unrelated countries or short words
            clues.append(Clue("currency", f"currency {token} ({', '.join(countries[:6])}"
                                          f"{'...' if len(countries) > 6 else ''})",
                              (0.3 if broad else 0.95) * _trust(read.confidence), {c: 1.0 for c in countries},
                              box=read.box, details={"currency": token}))
    return clues


def postal_clues(read: TextRead) -> list[Clue]:
    clues = []
    for pattern, countries in lexicon().postal_codes:
        m = pattern.search(read.text)
        if m:
            clues.append(Clue("postal_code", f"postal code {m.group(0)} (format of {', '.join(countries)})",
                              0.5 * _trust(read.confidence), {c: 1.0 for c in countries}, box=read.box,
                              details={"code": m.group(0)}))
    return clues


def street_clues(read: TextRead) -> list[Clue]:
    lex = lexicon()
    words = lex.street_words
    english = {"street", "st", "road", "rd", "lane", "drive", "avenue", "place", "boulevard"}
    clues = []
    for token in set(normalise(read.text).split()):
        if token in lex.street_abbreviations and \
                not re.search(rf"(?i)(?<![^\W\d_]){re.escape(token)}\.", read.text):
            continue  # abbreviations (ul., st., rd.) only with their period
        word = token if token in words else next(
            (s for s in lex.street_suffixes if token.endswith(s) and len(token) > len(s) + 2), None)
        if word is not None and word != token and _english_word(token):
            continue  # 'brigade', 'renegade' end like Danish 'gade' but are English words
        if word is not None:
            countries = words[word]
            clues.append(Clue("street_word", f"street word '{word}' in '{token}' ({', '.join(countries[:6])}"
                                             f"{'...' if len(countries) > 6 else ''})",
                              (0.4 if word in english else 0.98 - 0.1 * (1 - read.confidence)),
                              {c: 1.0 for c in countries},
                              box=read.box, details={"word": word, "token": token}))
    return clues


def _english_word(token: str) -> bool:
    try:
        from wordfreq import zipf_frequency
    except ImportError:
        return False
    return zipf_frequency(token, "en") >= 2.0


def _trust(confidence: float) -> float:
    """How far to believe a read: OCR confidences are pessimistic for correct reads."""
    return 1 - (1 - confidence) / 2


@lru_cache(maxsize=1)
def country_codes() -> tuple[str, ...]:
    """Every ISO country code, sorted: the columns of clue country vectors."""
    return tuple(sorted(country_facts()))


def _top(countries: tuple[str, ...], lik: Sequence[float], n: int = 5) -> list[str]:
    """The countries a clue points to most, the most populous first among equals."""
    ranked = sorted(range(len(countries)),
                    key=lambda k: (-round(float(lik[k]), 1), -(country_facts()[countries[k]].get("population") or 0)))
    return [countries[k] for k in ranked[:n]]
