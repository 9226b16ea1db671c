"""A suite of street and shop signs in 15 scripts, rendered with the machine's Noto fonts: three
signs per script (several countries for Cyrillic, Arabic, Devanagari and Latin), each with a place
name and a street or a shop word, most with a phone number. Variants cycle through layouts,
polarities (light on dark, dark on light), noise, blur and perspective. Shared by the tests
(test_scripts.py, test_report.py) and the benchmarks (eval_signs.py, bench_memory.py); nothing is
committed as an image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

NOTO = Path("/usr/share/fonts/truetype/noto")
CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
FONTS = {"Latn": NOTO / "NotoSans-Bold.ttf", "Cyrl": NOTO / "NotoSans-Bold.ttf", "Grek": NOTO / "NotoSans-Bold.ttf",
         "Arab": NOTO / "NotoSansArabic-Bold.ttf", "Hebr": NOTO / "NotoSansHebrew-Bold.ttf",
         "Deva": NOTO / "NotoSansDevanagari-Bold.ttf", "Beng": NOTO / "NotoSansBengali-Bold.ttf",
         "Thai": NOTO / "NotoSansThai-Bold.ttf", "Geor": NOTO / "NotoSansGeorgian-Bold.ttf",
         "Armn": NOTO / "NotoSansArmenian-Bold.ttf", "Khmr": NOTO / "NotoSansKhmer-Bold.ttf",
         "Hans": CJK, "Hant": CJK, "Jpan": CJK, "Hang": CJK}


@dataclass(frozen=True)
class Sign:
    country: str  # ISO alpha-2 where it stands
    script: str  # ISO 15924 (Hans / Hant / Jpan / Hang for the CJK writing systems)
    lines: tuple[str, ...]


SIGNS = (
    Sign("RU", "Cyrl", ("ул. Тверская, 12", "Москва", "+7 495 629-11-22")),
    Sign("UA", "Cyrl", ("вул. Хрещатик, 22", "Київ", "+380 44 278 12 34")),
    Sign("BG", "Cyrl", ("бул. Витоша 45", "София", "+359 2 981 2345")),
    Sign("GR", "Grek", ("Οδός Ερμού 25", "Αθήνα", "+30 210 323 4567")),
    Sign("GR", "Grek", ("ΦΑΡΜΑΚΕΙΟ", "Θεσσαλονίκη")),
    Sign("GR", "Grek", ("Λεωφόρος Αμαλίας", "Πάτρα", "+30 2610 123456")),
    Sign("EG", "Arab", ("شارع التحرير", "القاهرة", "+20 2 2579 1234")),
    Sign("SA", "Arab", ("طريق الملك فهد", "الرياض", "+966 11 465 1234")),
    Sign("EG", "Arab", ("صيدلية", "الإسكندرية")),
    Sign("IL", "Hebr", ("רחוב הרצל", "תל אביב", "+972 3 123 4567")),
    Sign("IL", "Hebr", ("רחוב יפו", "ירושלים")),
    Sign("IL", "Hebr", ("בית מרקחת", "חיפה")),
    Sign("GE", "Geor", ("რუსთაველის გამზირი", "თბილისი")),
    Sign("GE", "Geor", ("ჭავჭავაძის ქუჩა", "ბათუმი", "+995 422 27 12 34")),
    Sign("GE", "Geor", ("აფთიაქი", "ქუთაისი")),
    Sign("AM", "Armn", ("Մաշտոցի պողոտա", "Երևան")),
    Sign("AM", "Armn", ("Դեղատուն", "Գյումրի", "+374 312 3 45 67")),
    Sign("AM", "Armn", ("Տիգրան Մեծի փողոց", "Վանաձոր")),
    Sign("IN", "Deva", ("महात्मा गांधी मार्ग", "नई दिल्ली", "+91 11 2345 6789")),
    Sign("IN", "Deva", ("स्टेशन रोड", "मुंबई")),
    Sign("NP", "Deva", ("नयाँ सडक", "काठमाडौं", "+977 1 4221234")),
    Sign("BD", "Beng", ("মতিঝিল", "ঢাকা", "+880 2 9551234")),
    Sign("BD", "Beng", ("স্টেশন রোড", "চট্টগ্রাম")),
    Sign("BD", "Beng", ("ফার্মেসি", "সিলেট")),
    Sign("TH", "Thai", ("ถนนสุขุมวิท", "กรุงเทพมหานคร")),
    Sign("TH", "Thai", ("ถนนนิมมานเหมินท์", "เชียงใหม่", "+66 53 123 456")),
    Sign("TH", "Thai", ("ร้านขายยา", "ภูเก็ต")),
    Sign("CN", "Hans", ("南京东路", "上海市")),
    Sign("CN", "Hans", ("王府井大街", "北京市", "+86 10 6512 3456")),
    Sign("CN", "Hans", ("天河路", "广州市")),
    Sign("TW", "Hant", ("忠孝東路", "臺北市")),
    Sign("TW", "Hant", ("中山路", "高雄市", "+886 7 123 4567")),
    Sign("TW", "Hant", ("藥局", "臺中市")),
    Sign("JP", "Jpan", ("新宿駅前通り", "東京都")),
    Sign("JP", "Jpan", ("なんば駅", "大阪市", "+81 6 1234 5678")),
    Sign("JP", "Jpan", ("くすり", "京都市")),
    Sign("KR", "Hang", ("세종대로", "서울특별시")),
    Sign("KR", "Hang", ("해운대로", "부산광역시", "+82 51 123 4567")),
    Sign("KR", "Hang", ("약국", "인천광역시")),
    Sign("VN", "Latn", ("Đường Lê Lợi", "Thành phố Hồ Chí Minh", "+84 28 3822 1234")),
    Sign("TR", "Latn", ("İstiklal Caddesi", "İstanbul", "+90 212 123 45 67")),
    Sign("PL", "Latn", ("ulica Marszałkowska", "Warszawa", "+48 22 123 45 67")),
    Sign("KH", "Khmr", ("ផ្សារធំថ្មី", "ភ្នំពេញ")),  # no Khmer reader: the script alone must speak
)

PANELS = ((20, 60, 140), (0, 110, 60), (245, 245, 238), (250, 210, 40))  # blue, green, white, yellow


def render(sign: Sign, variant: int, size: int = 60) -> np.ndarray:
    """The sign on a wall, as an RGB array. Variant bits: layout (centred panel, left-aligned
    shop front), polarity (light text on a dark panel, dark on light), then noise and perspective."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    font = ImageFont.truetype(str(FONTS[sign.script]), size)
    small = ImageFont.truetype(str(FONTS["Latn"] if sign.lines[-1].startswith("+") else FONTS[sign.script]),
                               int(size * 0.7))
    panel = PANELS[variant % len(PANELS)]
    text = (255, 255, 255) if sum(panel) < 400 else (25, 25, 25)
    im = Image.new("RGB", (1000, 520), (188, 184, 176))
    draw = ImageDraw.Draw(im)
    draw.rounded_rectangle([50, 60, 950, 460], 18, fill=panel)
    left = variant % 2 == 1
    for k, line in enumerate(sign.lines):
        f = small if line.startswith("+") else font
        x, anchor = (90, "lm") if left else (500, "mm")
        draw.text((x, 150 + k * 110), line, font=f, fill=text, anchor=anchor)
    if variant % 3 == 2:  # sensor noise and a little blur
        noisy = np.asarray(im, np.float32) + np.random.default_rng(variant).normal(0, 12, (520, 1000, 3))
        im = Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))
    if variant % 4 == 3:  # seen from the side
        w, h = im.size
        coeffs = _perspective([(0, 0), (w, 40), (w, h - 40), (0, h)], [(0, 0), (w, 0), (w, h), (0, h)])
        im = im.transform(im.size, Image.PERSPECTIVE, coeffs, Image.BICUBIC, fillcolor=(188, 184, 176))
    return np.asarray(im)


def _perspective(target: list, source: list) -> list[float]:
    """PIL's perspective coefficients mapping `target` corners to `source` corners."""
    rows = []
    for (x, y), (u, v) in zip(target, source):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return np.linalg.solve(np.array(rows, float), np.array(source, float).ravel()).tolist()


def fonts_present() -> bool:
    return all(path.is_file() for path in FONTS.values())
