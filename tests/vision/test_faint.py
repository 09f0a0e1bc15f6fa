"""faint: a box interior that holds a faint small digit is never read as surely empty."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from tests.vision.test_cellprep import paper, u8, write
from vision import cellprep, classify_cells, faint
from vision.digits import LABELS

Image = np.ndarray[Any, Any]


@pytest.mark.parametrize("digit", ["1", "2", "4", "7", "0"])
def test_a_faint_small_digit_is_read_and_doubted(digit: str) -> None:
    # A thin light pen a third of the box high: ink only 11% darker than the paper.
    box = u8(write(paper(60, 44, seed=int(digit)), digit, ink=200.0, height=0.3))
    assert cellprep.prepare_one(box).blank, "precondition: the first look takes it for paper"
    label, confidence = classify_cells([box])[0]
    assert label == digit
    assert confidence <= faint.DOUBT_SHARE


def test_a_faint_small_digit_gets_its_second_look_whatever_the_crop_type() -> None:
    # `classify_cells` takes gray or colour crops, bytes or floats 0..1: the second look too.
    box = u8(write(paper(60, 44, seed=4), "4", ink=200.0, height=0.3))
    crops = [box, box.astype(np.float32) / 255.0, cv2.cvtColor(box, cv2.COLOR_GRAY2BGR)]
    readings = classify_cells(crops)
    assert [label for label, _ in readings] == ["4", "4", "4"]
    assert all(confidence <= faint.DOUBT_SHARE for _, confidence in readings)


def test_empty_boxes_stay_surely_empty() -> None:
    # Paper grain of a phone photo (noise of 5 grey levels) in dim, ordinary and bright light,
    # and light falling off across the box.
    rng = np.random.default_rng(3)
    boxes = []
    for level in (150.0, 190.0, 235.0):
        plain = paper(60, 44, level=level, seed=int(level))
        ramp = np.linspace(1.0, 0.8, 44, dtype=np.float32)[None, :]
        boxes += [u8(plain), u8(plain * ramp)]
        boxes += [u8(plain + rng.normal(0, 4, plain.shape)) for _ in range(5)]
    for label, confidence in classify_cells(boxes):
        assert (label, confidence > 0.9) == ("", True)


def test_a_broad_faint_print_behind_an_empty_box_is_not_writing() -> None:
    # A security print's big letter, as faint as the pen above but broad: no pen draws that.
    box = paper(60, 44, seed=9)
    mask = np.zeros(box.shape, np.uint8)
    cv2.putText(mask, "S", (4, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.8, 255, 9, cv2.LINE_AA)
    box = u8(box * (1 - mask / 255.0) + 200.0 * (mask / 255.0))
    assert cellprep.prepare_one(box).blank
    again = cellprep.prepare_all(faint.darker_all([box]), min_extent=faint.TRACE_MIN_EXTENT)[0]
    assert not again.blank, "precondition: darkened, the print shows"
    assert faint.faint_marks([box], [cellprep.prepare_one(box)])[0] == []
    assert classify_cells([box])[0][0] == ""


def test_a_mark_read_as_writing_takes_its_label_at_most_half_sure() -> None:
    sure = np.zeros(len(LABELS), np.float32)
    sure[LABELS.index("7")] = 0.8
    label, confidence = faint.doubt(("", 0.99), sure, LABELS)
    assert label == "7"
    assert confidence == pytest.approx(faint.DOUBT_SHARE * 0.8)


def test_a_mark_the_model_cannot_read_leaves_the_box_blank_but_not_surely() -> None:
    unsure = np.full(len(LABELS), 0.05, np.float32)
    unsure[LABELS.index("7")] = faint.TRACE_READ_MIN - 0.1
    label, confidence = faint.doubt(("", 0.99), unsure, LABELS)
    assert label == ""
    assert confidence < 0.9
    # A mark the model itself reads as nothing (grain) leaves the box about as sure as it was.
    empty = np.zeros(len(LABELS), np.float32)
    empty[LABELS.index("")] = 0.98
    label, confidence = faint.doubt(("", 0.99), empty, LABELS)
    assert label == ""
    assert confidence >= 0.98


def test_boxes_without_a_faint_mark_read_as_before() -> None:
    boxes = [u8(write(paper(60, 44, seed=s), d)) for s, d in enumerate("3859")]
    prepared = cellprep.prepare_all(boxes)
    assert not any(one.blank for one in prepared)
    assert faint.faint_marks(boxes, prepared)[0] == []
    assert [label for label, _ in classify_cells(boxes)] == list("3859")
