"""Render the bundled example photo: a Paris street corner with a bakery sign (owned by the project).

Run `python -m geosleuth.data.render_example OUT.jpg` to regenerate it. The phone number is from
the range France reserves for fiction (01 99 00 ...); the domain and shop are invented.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

W, H = 1280, 854


def _font(size: int, bold: bool = False) -> ImageFont.ImageFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu"):
        if Path(folder, name).is_file():
            return ImageFont.truetype(str(Path(folder, name)), size)
    return ImageFont.load_default(size)


def render() -> Image.Image:
    im = Image.new("RGB", (W, H))
    d = ImageDraw.Draw(im)
    for y in range(H // 3):  # sky
        t = y / (H / 3)
        d.line([(0, y), (W, y)], fill=(int(120 + 80 * t), int(170 + 50 * t), int(225 + 20 * t)))
    d.rectangle([0, 90, W, H - 150], fill=(226, 214, 190))  # Haussmann stone facade
    for row, top in enumerate((120, 250)):
        for x in range(60, W - 60, 170):
            d.rectangle([x, top, x + 80, top + 95], fill=(70, 80, 95))
            d.rectangle([x - 6, top + 95, x + 86, top + 104], fill=(40, 40, 40))  # wrought-iron balcony
            for bx in range(x - 4, x + 86, 8):
                d.line([(bx, top + 78), (bx, top + 95)], fill=(40, 40, 40), width=2)
    d.rectangle([0, 380, W, 386], fill=(200, 188, 165))
    # Shop front: a bakery with a dark green fascia and gold letters.
    d.rectangle([120, 400, 1020, 700], fill=(28, 70, 52))
    d.rectangle([150, 420, 990, 500], fill=(20, 55, 40), outline=(200, 170, 90), width=4)
    d.text((570, 460), "BOULANGERIE", font=_font(64, bold=True), fill=(222, 190, 105), anchor="mm")
    d.text((570, 530), "Pâtisserie · Viennoiserie · Depuis 1921", font=_font(30), fill=(235, 220, 180), anchor="mm")
    d.rectangle([170, 560, 520, 690], fill=(150, 180, 200))  # shop window
    d.rectangle([620, 560, 980, 690], fill=(150, 180, 200))
    d.rectangle([535, 560, 605, 700], fill=(60, 40, 30))  # door
    d.text((345, 600), "Pain au levain", font=_font(26, bold=True), fill=(255, 255, 255), anchor="mm")
    d.text((345, 640), "Croissants 1,30 €", font=_font(24), fill=(255, 255, 255), anchor="mm")
    d.text((800, 600), "Tél. 01 99 00 12 34", font=_font(24, bold=True), fill=(255, 255, 255), anchor="mm")
    d.text((800, 640), "boulangerie-exemple.fr", font=_font(24), fill=(255, 255, 255), anchor="mm")
    # Paris street-name plate: blue enamel, green frame, white letters.
    d.rounded_rectangle([1060, 300, 1260, 380], radius=8, fill=(28, 52, 120), outline=(40, 110, 70), width=5)
    d.text((1160, 318), "9e Arrt", font=_font(16), fill=(255, 255, 255), anchor="mm")
    d.text((1160, 340), "RUE DES", font=_font(20, bold=True), fill=(255, 255, 255), anchor="mm")
    d.text((1160, 364), "MARTYRS", font=_font(24, bold=True), fill=(255, 255, 255), anchor="mm")
    d.rectangle([0, H - 150, W, H - 120], fill=(170, 165, 160))  # pavement and street
    d.rectangle([0, H - 120, W, H], fill=(80, 80, 85))
    for x in range(0, W, 160):
        d.rectangle([x, H - 62, x + 80, H - 56], fill=(235, 235, 235))
    return im.filter(ImageFilter.GaussianBlur(0.6))


def main(out: str) -> None:
    im = render()
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "geosleuth", "example renderer", "geosleuth render_example.py"
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = "2024:06:15 10:42:00"  # DateTimeOriginal
    ifd[0x9011] = "+02:00"  # OffsetTimeOriginal (Paris, summer time)
    im.save(out, quality=88, exif=exif)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).with_name("example_street.jpg")))
