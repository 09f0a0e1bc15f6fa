"""blots: a box blacked out (a correction, an ink blot) is never read as a sure digit."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from tests.vision.test_cellprep import paper, u8, write
from vision import blots, cellprep, classify_cells, faint
from vision.photo_sim import photograph
from vision.pipeline import read_form
from vision.render import px_per_mm
from vision.synthetic import filled_page, tps_values
from vision.template import template_for_page

Image = np.ndarray[Any, Any]


def blacked_out(kind: str, seed: int = 0) -> Image:
    box = paper(64, 56, seed=seed)
    if kind == "ellipse":
        cv2.ellipse(box, (28, 32), (12, 15), 10, 0, 360, 40.0, -1)
    elif kind == "filled":
        box[8:56, 8:48] = 50.0
    elif kind == "hatched":
        for y in range(12, 54, 4):
            cv2.line(box, (12, y), (44, y - 6), 40.0, 3)
    return u8(cv2.GaussianBlur(box, (3, 3), 0.8))


@pytest.mark.parametrize("kind", ["ellipse", "filled", "hatched"])
def test_a_blacked_out_box_is_not_read_surely(kind: str) -> None:
    # The closing that estimates the paper takes a patch wider than a pen stroke for dark
    # paper and keeps only its outline as ink: a ring, which read as a `0`, 99.6% sure.
    box = blacked_out(kind)
    assert cellprep.prepare_one(box).blot
    _, confidence = classify_cells([box])[0]
    assert confidence <= faint.DOUBT_SHARE


@pytest.mark.parametrize("digit", ["0", "1", "4", "6", "8"])
def test_written_digits_are_not_blots(digit: str) -> None:
    # A bold pen (a tenth of the box high) and a light one.
    for ink, height in ((40.0, 0.7), (150.0, 0.5)):
        box = u8(write(paper(64, 56, seed=int(digit)), digit, ink=ink, height=height))
        assert not cellprep.prepare_one(box).blot
        assert classify_cells([box])[0][0] == digit


def test_blotted_compares_the_darkest_paper_inside_with_the_lit_paper() -> None:
    level = np.full((3, 20, 20), 200.0, np.float32)
    level[1, 8:12, 8:12] = 200.0 * (blots.BLOT_DARKNESS - 0.05)  # ink-dark, inside
    level[2, 0:3, 0:3] = 200.0 * (blots.BLOT_DARKNESS - 0.05)  # ink-dark, outside the interior
    assert blots.blotted(level, (4, 16, 4, 16)).tolist() == [False, True, False]


def test_doubted_gives_blank_and_the_reading_neither_surely() -> None:
    assert faint.doubted([("0", 0.99), ("8", 0.01)], 3) == [("", 0.5), ("0", 0.495),
                                                            ("8", 0.005)]


def test_a_box_blacked_out_on_the_page_is_flagged_and_not_read_as_zero() -> None:
    # pengguna_total_l is 72 ("X72"); its ones box blacked out as a correction: it read as
    # "X70", only the arithmetic flagging the field.
    values = tps_values(3)[1]
    assert values["pengguna_total_l"] == 72
    dpi = 120.0
    page = filled_page(1, values, seed=3, dpi=dpi)
    spec = next(f for f in template_for_page(1).fields if f.name == "pengguna_total_l")
    k = px_per_mm(dpi)
    x, y, w, h = spec.boxes_mm[2]
    cv2.ellipse(page, (round((x + w / 2) * k), round((y + h / 2) * k)),
                (round(w * 0.38 * k), round(h * 0.42 * k)), 15, 0, 360, (30, 30, 40), -1)
    shot = photograph(page, np.random.default_rng(7), "easy", width_px=3000)
    field = read_form(shot.jpeg).fields["pengguna_total_l"]
    assert field.flagged
    assert field.text[2] != "0"
    assert field.confidence <= faint.DOUBT_SHARE
