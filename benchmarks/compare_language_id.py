"""Language identification on short sign text: langdetect against lingua (`lingua-language-detector`,
made for short text, in the low-accuracy mode the text cue uses), on 120 sign lines of 1-5 words
in 24 languages. lingua's high-accuracy mode was better still (no wrong guess at p >= 0.8 of 66
kept) but takes 909 MB and 19 s to load.

    python -m benchmarks.compare_language_id

Reports accuracy of the top guess, and accuracy and coverage when only guesses of p >= 0.8 are
kept (the text cue's rule). Writes JSON to benchmarks/out/language_id.json.
"""

from __future__ import annotations

import argparse
import time

from benchmarks._report import write

SHORT = {
    "fr": ["Boulangerie du coin", "Rue des Martyrs", "Fermé le lundi", "Pharmacie de garde", "Sortie de secours"],
    "de": ["Bäckerei am Markt", "Ausfahrt freihalten", "Eingang um die Ecke", "Apotheke geöffnet", "Kein Durchgang"],
    "es": ["Farmacia de guardia", "Calle Mayor", "Prohibido aparcar", "Salida de emergencia", "Se alquila local"],
    "it": ["Farmacia comunale", "Vietato fumare", "Uscita di sicurezza", "Via Garibaldi", "Chiuso per ferie"],
    "pt": ["Farmácia de serviço", "Proibido estacionar", "Rua Augusta", "Saída de emergência", "Aluga-se loja"],
    "nl": ["Verboden te parkeren", "Uitgang achterzijde", "Bakkerij De Molen", "Gesloten op maandag", "Pas op de trap"],
    "pl": ["ulica Marszałkowska", "Zakaz parkowania", "Wyjście ewakuacyjne", "Apteka całodobowa", "Sklep spożywczy"],
    "cs": ["Zákaz vjezdu", "Nouzový východ", "Lékárna u nádraží", "Otevřeno denně", "Pozor schod"],
    "sv": ["Parkering förbjuden", "Nödutgång", "Öppet alla dagar", "Välkommen in", "Apoteket Hjärtat"],
    "fi": ["Pysäköinti kielletty", "Hätäuloskäynti", "Avoinna joka päivä", "Tervetuloa sisään", "Kauppa suljettu"],
    "tr": ["İstiklal Caddesi", "Park etmek yasaktır", "Acil çıkış kapısı", "Eczane nöbetçi", "Her gün açık"],
    "vi": ["Đường Lê Lợi", "Cấm đỗ xe", "Lối thoát hiểm", "Nhà thuốc tây", "Mở cửa hàng ngày"],
    "id": ["Dilarang parkir", "Pintu darurat", "Apotek buka", "Jalan Sudirman", "Toko kelontong murah"],
    "ro": ["Parcarea interzisă", "Ieșire de urgență", "Farmacie non-stop", "Strada Victoriei", "Deschis zilnic"],
    "hu": ["Parkolni tilos", "Vészkijárat", "Gyógyszertár nyitva", "Minden nap nyitva", "Belépni tilos"],
    "ru": ["ул. Тверская", "Выход запрещён", "Аптека круглосуточно", "Продуктовый магазин", "Запасной выход"],
    "uk": ["вул. Хрещатик", "Вхід заборонено", "Аптека цілодобово", "Продуктовий магазин", "Запасний вихід"],
    "bg": ["бул. Витоша", "Забранено паркирането", "Денонощна аптека", "Хранителни стоки", "Авариен изход"],
    "el": ["Οδός Ερμού", "Απαγορεύεται η στάθμευση", "Έξοδος κινδύνου", "Φαρμακείο", "Ανοιχτό καθημερινά"],
    "ar": ["شارع التحرير", "ممنوع الوقوف", "مخرج الطوارئ", "صيدلية الشفاء", "مفتوح يوميا"],
    "he": ["רחוב הרצל", "החניה אסורה", "יציאת חירום", "בית מרקחת", "פתוח כל יום"],
    "hi": ["महात्मा गांधी मार्ग", "पार्किंग निषेध", "आपातकालीन निकास", "दवा की दुकान", "रोज़ खुला"],
    "th": ["ถนนสุขุมวิท", "ห้ามจอดรถ", "ทางออกฉุกเฉิน", "ร้านขายยา", "เปิดทุกวัน"],
    "ko": ["세종대로", "주차 금지", "비상구", "약국", "매일 영업"],
}


def langdetect_guess(text: str) -> tuple[str, float]:
    from geosleuth.cues.clues.text import _langdetect

    guesses = _langdetect(text.lower())
    return (guesses[0][0].split("-")[0], guesses[0][1]) if guesses else ("", 0.0)


def main() -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    from lingua import LanguageDetectorBuilder

    lingua = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()  # as the text cue

    def lingua_guess(text: str) -> tuple[str, float]:
        values = lingua.compute_language_confidence_values(text)
        return (values[0].language.iso_code_639_1.name.lower(), values[0].value) if values else ("", 0.0)

    out: dict[str, object] = {"texts": sum(map(len, SHORT.values())), "languages": len(SHORT)}
    for name, guess in (("langdetect", langdetect_guess), ("lingua", lingua_guess)):
        hits = sure = sure_hits = 0
        seconds = []
        misses = []
        for lang, texts in SHORT.items():
            for text in texts:
                t = time.perf_counter()
                code, p = guess(text)
                seconds.append(time.perf_counter() - t)
                hits += code == lang
                if p >= 0.8:
                    sure += 1
                    sure_hits += code == lang
                if code != lang:
                    misses.append(f"{lang}:{text}->{code}")
        n = out["texts"]
        out[name] = {"top1_accuracy": round(hits / n, 3), "kept_at_p_0.8": round(sure / n, 3),
                     "accuracy_when_kept": round(sure_hits / sure, 3) if sure else None,
                     "wrong_when_kept": sure - sure_hits, "ms_median": round(sorted(seconds)[len(seconds) // 2] * 1000, 2),
                     "misses": misses}
    write("language_id", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
