"""Pages that are not a C.Hasil, for photos of the wrong document: a typed letter, a table
of handwritten numbers with boxes like the form's, or a colourful poster.

The pipeline must recognise such a photo as no C.Hasil page and read nothing from it;
``vision.synthetic.non_form_photo`` photographs these pages.
"""

from __future__ import annotations

import cv2
import numpy as np

from vision.handwriting import Writer, glyph
from vision.pen_ink import Image, lay_ink
from vision.render import px_per_mm


def _words(rng: np.random.Generator, n: int) -> str:
    letters = "abcdefghijklmnoprstuwy"
    return " ".join("".join(rng.choice(list(letters), int(rng.integers(2, 9)))) for _ in range(n))


def other_document(rng: np.random.Generator, dpi: float = 100.0) -> Image:
    """An A4 page that is not a C.Hasil: a letter, a table of handwritten numbers, a poster."""
    k = px_per_mm(dpi)
    height, width = round(297 * k), round(210 * k)
    image = np.full((height, width, 3), 250, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    kind = str(rng.choice(["letter", "table", "poster"]))
    scale = k / 8  # Hershey text about 3 mm tall
    if kind == "poster":
        for _ in range(int(rng.integers(3, 7))):
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
            cv2.rectangle(image, (x0, y0), (x0 + int(rng.integers(width // 6, width // 2)),
                                             y0 + int(rng.integers(height // 8, height // 3))),
                          colour, -1)
        cv2.putText(image, _words(rng, 2).upper(), (round(15 * k), round(60 * k)), font,
                    scale * 4, (20, 20, 20), max(1, round(k)), cv2.LINE_AA)
        return image
    cv2.putText(image, _words(rng, 3).upper(), (round(20 * k), round(25 * k)), font,
                scale * 1.6, (20, 20, 20), max(1, round(k * 0.5)), cv2.LINE_AA)
    y = 40 * k
    if kind == "letter":
        while y < height - 25 * k:
            cv2.putText(image, _words(rng, int(rng.integers(4, 9))), (round(20 * k), round(y)),
                        font, scale, (40, 40, 40), max(1, round(k * 0.25)), cv2.LINE_AA)
            y += 7 * k * (2.0 if rng.random() < 0.1 else 1.0)
        return image
    writer = Writer.random(rng)
    cell_w, cell_h = 30 * k, 12 * k
    for row in range(int(rng.integers(8, 18))):
        top = y + row * cell_h
        for col in range(6):
            left = 15 * k + col * cell_w
            cv2.rectangle(image, (round(left), round(top)),
                          (round(left + cell_w), round(top + cell_h)), (30, 30, 30),
                          max(1, round(k * 0.3)))
            if col >= 3 and rng.random() < 0.8:
                for i, char in enumerate(str(int(rng.integers(0, 300)))):
                    mask = glyph(char, rng, "procedural", writer=writer,
                                 height_px=round(cell_h * 0.7))
                    lay_ink(image, mask, round(left + 2 * k + i * cell_h * 0.6),
                            round(top + cell_h * 0.15), writer.ink_bgr, writer.ink_density)
            elif rng.random() < 0.9:
                cv2.putText(image, _words(rng, 1), (round(left + 2 * k), round(top + 8 * k)),
                            font, scale * 0.9, (40, 40, 40), max(1, round(k * 0.25)),
                            cv2.LINE_AA)
    return image
