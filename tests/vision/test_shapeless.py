"""A blob or a dot has no shape to read: written, but never read as a sure digit."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from tests.vision.test_cellprep import paper, u8, write
from vision import cellprep, classify_cells, faint, mnist_style, page_boxes
from vision.photo_sim import photograph
from vision.pipeline import read_form
from vision.render import px_per_mm
from vision.synthetic import filled_page, tps_values
from vision.template import template_for_page

Image = np.ndarray[Any, Any]

DISABILITY = ("pengguna_disabilitas_l", "pengguna_disabilitas_p", "pengguna_disabilitas_j")


def dotted(axes: tuple[int, int], seed: int = 0) -> Image:
    """A 64 x 56 box holding one filled ellipse: a marker's `1` or `0` written too small."""
    box = paper(64, 56, seed=seed)
    cv2.ellipse(box, (28, 32), axes, 10, 0, 360, 40.0, -1)
    return u8(cv2.GaussianBlur(box, (3, 3), 0.8))


@pytest.mark.parametrize("axes", [(6, 6), (5, 7), (4, 6)])
def test_a_dot_is_writing_but_never_read_surely(axes: tuple[int, int]) -> None:
    box = dotted(axes)
    prepared = cellprep.prepare_one(box)
    assert not prepared.blank
    assert prepared.shapeless
    label, confidence = classify_cells([box])[0]
    assert label != ""
    assert confidence <= mnist_style.SHAPELESS_SHARE


@pytest.mark.parametrize("digit", list("0123456789"))
def test_written_digits_have_a_shape(digit: str) -> None:
    # A bold pen and a light one, a big hand and a small one (a quarter of the box high).
    for ink, height in ((40.0, 0.7), (150.0, 0.5), (40.0, 0.3)):
        box = u8(write(paper(64, 56, seed=int(digit)), digit, ink=ink, height=height))
        assert not cellprep.prepare_one(box).shapeless, (digit, ink, height)


def test_shapeless_is_a_solid_mark_barely_longer_than_wide() -> None:
    mask = np.zeros((5, 40, 40), np.uint8)
    cv2.circle(mask[0], (20, 20), 6, 1, -1)  # a dot
    cv2.ellipse(mask[1], (20, 20), (5, 8), 20, 0, 360, 1, -1)  # a fat dash, 1.6 long
    mask[2, 6:34, 18:23] = 1  # a `1`: 28 long, 5 wide
    cv2.circle(mask[3], (20, 20), 9, 1, 3)  # a `0`: a ring
    cv2.putText(mask[4], "7", (8, 34), cv2.FONT_HERSHEY_SIMPLEX, 1.1, 1, 5)  # a bold `7`
    widths, extents = mnist_style._stroke_widths(mask), mnist_style._extents(mask)
    found = mnist_style.shapeless(mask, widths, extents)
    assert found.tolist() == [True, True, False, False, False]


def test_dots_balancing_a_row_do_not_pass_as_zeros() -> None:
    # Hunt find 2002052 (small writing with a marker): the disability row's P and J were `1`s
    # shrunk to dots, read `0` 0.98 sure beside L's real `0`, also a dot; 0 + 0 = 0 held and
    # all three passed. Here all three units boxes hold a dot over the officer's digit.
    values = dict(tps_values(3)[1])
    values.update(dict(zip(DISABILITY, (0, 1, 1), strict=True)))
    dpi = 120.0
    page = filled_page(1, values, seed=3, dpi=dpi)
    k = px_per_mm(dpi)
    specs = {f.name: f for f in template_for_page(1).fields}
    for name, axes_mm in zip(DISABILITY, ((2.2, 2.2), (1.4, 2.4), (1.3, 2.3)), strict=True):
        x, y, w, h = specs[name].boxes_mm[2]
        page[round((y + 0.06 * h) * k):round((y + 0.94 * h) * k),
             round((x + 0.06 * w) * k):round((x + 0.94 * w) * k)] = 255
        cv2.ellipse(page, (round((x + w / 2) * k), round((y + h / 2) * k)),
                    (round(axes_mm[0] * k), round(axes_mm[1] * k)), 8, 0, 360, (30, 30, 40), -1)
    shot = photograph(page, np.random.default_rng(7), "easy", width_px=3000)
    fields = read_form(shot.jpeg).fields
    for name in DISABILITY:
        assert fields[name].flagged, (name, fields[name])
        assert fields[name].confidence <= mnist_style.SHAPELESS_SHARE


def test_a_blot_or_a_cut_box_that_is_also_a_blob_is_not_doubted_twice() -> None:
    batch = cellprep.model_input([cellprep.prepare_one(dotted((6, 6)))] * 3)
    plain = page_boxes.classify(page_boxes.Boxes(counts={"f": 3}, batch=batch, doubted=[]))
    read = page_boxes.classify(page_boxes.Boxes(
        counts={"f": 3}, batch=batch, doubted=[], blotted=[0], cut=[1], shapeless=[0, 1, 2]))
    assert read["f"][0] == faint.doubted(plain["f"][0], page_boxes.TOP_K)
    assert read["f"][1] == page_boxes.partly_seen(plain["f"][1])
    assert read["f"][2] == page_boxes._scaled(plain["f"][2], mnist_style.SHAPELESS_SHARE)
