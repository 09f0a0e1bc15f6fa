"""Page 2 bubble columns: reading the filled bubble and fusing it with the digit boxes."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from vision.fields import read_field
from vision.omr import ColumnReading, faint_digit, pick_digit, read_columns
from vision.omr_fusion import fuse_field
from vision.reading import FieldReading
from vision.template import BubbleColumn, template_for_page
from vision.vouching import REASON_UNCHECKED

PX_PER_MM = 4.0
RADIUS_MM = 4.18


def column(box: int, x_mm: float) -> BubbleColumn:
    return BubbleColumn(
        box=box,
        centers_mm=tuple((x_mm, 20.0 + 10.5 * d) for d in range(10)),
        radius_mm=RADIUS_MM,
    )


def bubble_sheet(
    filled: dict[int, list[int]], *, angle_deg: float = 0.0,
    dotted: dict[int, list[int]] | None = None, stroked: tuple[int, ...] = (),
    sloppy: tuple[int, ...] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """A printed bubble sheet photographed slightly rotated: image and page mm -> px.
    `dotted`: bubbles given only a small dot, as an officer in a hurry fills one. `stroked`:
    columns a long stroke from the box above runs into, down to bubble 0's centre (writing
    bigger than the box). `sloppy`: columns whose bubble 0 is filled 1 mm past its ring."""
    page = np.full((int(140 * PX_PER_MM), int(80 * PX_PER_MM)), 235, np.uint8)
    for box in range(3):
        col = column(box, 20.0 + 23.5 * box)
        for digit, (x, y) in enumerate(col.centers_mm):
            centre = (int(x * PX_PER_MM), int(y * PX_PER_MM))
            radius = int(RADIUS_MM * PX_PER_MM)
            cv2.circle(page, centre, radius, 90, 2, cv2.LINE_AA)
            cv2.putText(
                page,
                str(digit),
                (centre[0] - 5, centre[1] + 5),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4,
                120,
                1,
                cv2.LINE_AA,
            )
            if digit in filled.get(box, []):
                cv2.circle(page, centre, radius - 2, 40, -1, cv2.LINE_AA)
            if digit in (dotted or {}).get(box, []):
                cv2.circle(page, centre, round(radius * 0.3), 40, -1, cv2.LINE_AA)
            if digit == 0 and box in sloppy:
                cv2.circle(page, centre, radius + round(PX_PER_MM), 40, -1, cv2.LINE_AA)
        if box in stroked:
            x = int(col.centers_mm[0][0] * PX_PER_MM)
            cv2.line(page, (x, int(2 * PX_PER_MM)), (x, int(col.centers_mm[0][1] * PX_PER_MM)),
                     40, int(2 * PX_PER_MM), cv2.LINE_AA)
    h, w = page.shape
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, 1.0)
    photo = cv2.warpAffine(page, rot, (w, h), borderValue=235)
    h_mm_to_px = np.vstack([rot, [0, 0, 1]]) @ np.diag([PX_PER_MM, PX_PER_MM, 1.0])
    return photo, h_mm_to_px


COLUMNS = [column(box, 20.0 + 23.5 * box) for box in range(3)]


def test_the_filled_bubble_of_each_column_is_read_through_a_tilted_photo() -> None:
    photo, h = bubble_sheet({0: [1], 1: [5], 2: [2]}, angle_deg=4.0)
    readings = read_columns(photo, h, COLUMNS)
    assert [(r.digit, r.state) for r in readings] == [(1, "ok"), (5, "ok"), (2, "ok")]


def test_a_column_with_nothing_filled_or_two_filled_is_unknown() -> None:
    photo, h = bubble_sheet({1: [3, 8], 2: [0]})
    readings = read_columns(photo, h, COLUMNS)
    assert [(r.digit, r.state) for r in readings] == [(None, "none"), (None, "multiple"), (0, "ok")]


def test_the_paper_level_is_numpys_90th_percentile_exactly() -> None:
    from vision.omr import _percentile_90

    rng = np.random.default_rng(7)
    for _ in range(2000):
        h, w = (int(v) for v in rng.integers(1, 120, 2))
        low = int(rng.integers(0, 256))
        strip = rng.integers(low, int(rng.integers(low, 256)) + 1, (h, w)).astype(np.uint8)
        assert _percentile_90(strip) == float(np.percentile(strip, 90))


def test_a_stroke_from_the_box_into_bubble_0_is_not_a_fill() -> None:
    # A big `1` run down from box 1 into its bubble 0; bubble 0 of box 2 filled sloppily.
    photo, h = bubble_sheet({2: [0]}, stroked=(1,), sloppy=(2,))
    readings = read_columns(photo, h, COLUMNS)
    assert [r.crossed for r in readings] == [False, True, False]
    assert readings[1].fill[0] > 0.35  # inked, as a fill would be...
    assert (readings[1].digit, readings[1].state) == (None, "none")  # ...but not read as one
    assert (readings[2].digit, readings[2].state) == (0, "ok")
    assert readings[1].to_dict()["crossed"] is True and "crossed" not in readings[2].to_dict()


def test_a_stroke_down_from_a_box_read_empty_flags_the_field() -> None:
    # `__4` where the officer wrote 14 big: the `1` was lost, its tail reached bubble 0.
    boxes = [[("", 0.99)], [("", 0.99)], [("4", 0.999)]]
    field, labels, probs, cols = field_and_columns(boxes, {}, stroked=(1,))
    fused = fuse_field(field, labels, probs, cols)
    assert fused.flagged and "coretan dari kotak sampai ke bulatan" in (fused.reason or "")


def test_a_stroke_down_from_a_digit_leaves_the_digits_own_bubble_to_agree() -> None:
    boxes = [[("X", 0.999)], [("7", 0.80), ("1", 0.19)], [("2", 0.999)]]
    field, labels, probs, cols = field_and_columns(boxes, {0: [0], 1: [7], 2: [2]},
                                                   stroked=(1,))
    assert cols[1].crossed and (cols[1].digit, cols[1].state) == (7, "ok")
    fused = fuse_field(field, labels, probs, cols)
    assert not fused.flagged and fused.value == 72


def test_pick_digit_wants_a_clear_margin() -> None:
    assert pick_digit([0.1] * 4 + [0.8] + [0.1] * 5) == (4, "ok")
    assert pick_digit([0.05] * 10) == (None, "none")
    assert pick_digit([0.7, 0.6] + [0.05] * 8) == (None, "multiple")


def field_and_columns(
    boxes: list[list[tuple[str, float]]], filled: dict[int, list[int]],
    dotted: dict[int, list[int]] | None = None, stroked: tuple[int, ...] = (),
) -> tuple[FieldReading, list[str], list[float], list[ColumnReading]]:
    field = read_field(boxes)
    photo, h = bubble_sheet(filled, dotted=dotted, stroked=stroked)
    labels = [b[0][0] for b in boxes]
    probs = [b[0][1] for b in boxes]
    return field, labels, probs, read_columns(photo, h, COLUMNS)


def test_agreement_raises_confidence_and_clears_a_doubtful_field() -> None:
    boxes = [[("1", 0.999)], [("5", 0.70), ("6", 0.25)], [("2", 0.99)]]
    field, labels, probs, cols = field_and_columns(boxes, {0: [1], 1: [5], 2: [2]})
    assert field.flagged
    fused = fuse_field(field, labels, probs, cols)
    assert fused.value == 152 and not fused.flagged
    assert fused.confidence > field.confidence
    assert fused.reason == "dikuatkan oleh bulatan"


def test_a_leading_x_agrees_with_a_zero_bubble_or_none() -> None:
    boxes = [[("X", 0.99)], [("4", 0.99)], [("7", 0.99)]]
    field, labels, probs, cols = field_and_columns(boxes, {0: [0], 1: [4], 2: [7]})
    fused = fuse_field(field, labels, probs, cols)
    assert fused.value == 47 and not fused.flagged


def test_disagreement_flags_the_field_with_both_readings() -> None:
    boxes = [[("1", 0.999)], [("5", 0.999)], [("2", 0.999)]]
    field, labels, probs, cols = field_and_columns(boxes, {0: [6], 1: [5], 2: [2]})
    assert not field.flagged
    fused = fuse_field(field, labels, probs, cols)
    assert fused.flagged and fused.value == 152
    assert fused.reason == "angka di kotak tidak sama dengan bulatan (kotak 1: 1 / bulatan 6)"


def test_unknown_columns_leave_the_box_reading_alone() -> None:
    boxes = [[("1", 0.95)], [("5", 0.999)], [("2", 0.999)]]
    field, labels, probs, cols = field_and_columns(boxes, {})
    assert fuse_field(field, labels, probs, cols) == field


@pytest.mark.parametrize("value", [0, 7, 99, 250])
def test_bubbles_alone_read_every_digit_position(value: int) -> None:
    digits = [int(d) for d in f"{value:03d}"]
    photo, h = bubble_sheet({i: [d] for i, d in enumerate(digits)}, angle_deg=-3.0)
    assert [r.digit for r in read_columns(photo, h, COLUMNS)] == digits


def test_every_page_2_field_has_a_bubble_column_under_each_box() -> None:
    for spec in template_for_page(2).fields:
        assert [c.box for c in spec.bubbles] == list(range(len(spec.boxes_mm)))
        assert all(len(c.centers_mm) == 10 for c in spec.bubbles)


def test_bubbles_are_read_from_a_photo_of_the_rendered_page_through_registration() -> None:
    from vision.photo_sim import photograph
    from vision.register import Registration, register
    from vision.render import px_per_mm, render_page

    dpi = 100
    k = px_per_mm(dpi)
    page = render_page(2, dpi)
    truth = {"suara_paslon_1": "152", "suara_paslon_2": "047", "suara_paslon_3": "300"}
    template = template_for_page(2)
    for spec in template.fields:
        for col in spec.bubbles:
            x, y = col.centers_mm[int(truth[spec.name][col.box])]
            centre = (round(x * k), round(y * k))
            cv2.circle(page, centre, round(col.radius_mm * k * 0.75), 40, -1, cv2.LINE_AA)
    for seed in (0, 1):
        photo = photograph(page, np.random.default_rng(seed), "easy", width_px=2000)
        gray = np.asarray(
            cv2.imdecode(np.frombuffer(photo.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE), np.uint8
        )
        registration = register(gray)
        assert isinstance(registration, Registration)
        read = {
            spec.name: "".join(
                str(c.digit) for c in read_columns(gray, registration.homography, spec.bubbles)
            )
            for spec in template.fields
        }
        assert read == truth


def test_a_digit_whose_bubbles_were_skipped_may_stand_on_a_sure_box_reading() -> None:
    # `_50`: the first box empty with its column empty, the 5 bubbled, the 0 not bubbled.
    boxes = [[("", 0.999)], [("5", 0.95), ("6", 0.04)], [("0", 0.996), ("6", 0.004)]]
    field, labels, probs, cols = field_and_columns(boxes, {1: [5]})
    unchecked = replace(field, flagged=True, reason=REASON_UNCHECKED)
    fused = fuse_field(unchecked, labels, probs, cols, sure=[False, False, True])
    assert fused.value == 50 and not fused.flagged
    assert fused.reason == "dikuatkan oleh bulatan"


def test_a_skipped_bubble_under_a_doubtful_digit_leaves_the_field_to_a_person() -> None:
    boxes = [[("", 0.999)], [("5", 0.95), ("6", 0.04)], [("0", 0.96), ("6", 0.04)]]
    field, labels, probs, cols = field_and_columns(boxes, {1: [5]})
    unchecked = replace(field, flagged=True, reason=REASON_UNCHECKED)
    fused = fuse_field(unchecked, labels, probs, cols, sure=[False, False, False])
    assert fused.flagged and fused.reason == REASON_UNCHECKED


def test_a_faint_fill_on_another_digit_keeps_a_sure_box_from_passing_alone() -> None:
    # `_33` written, the 3 of the tens read `5` at the model's ceiling, both 3s bubbled with a
    # small dot only (seed 1809367): too faint to vouch, enough to speak against the 5.
    boxes = [[("", 0.999)], [("5", 0.996), ("3", 0.004)], [("3", 0.996), ("0", 0.0)]]
    field, labels, probs, cols = field_and_columns(boxes, {0: [0]}, dotted={1: [3], 2: [3]})
    assert [c.state for c in cols] == ["ok", "none", "none"]
    unchecked = replace(field, flagged=True, reason=REASON_UNCHECKED)
    fused = fuse_field(unchecked, labels, probs, cols, sure=[False, True, True])
    assert fused.flagged and fused.value == 53
    assert fused.reason == (f"{REASON_UNCHECKED}; angka di kotak tidak sama dengan bulatan "
                            "(kotak 2: 5 / bulatan samar 3)")


def test_a_faint_fill_on_the_same_digit_leaves_a_sure_box_standing() -> None:
    boxes = [[("", 0.999)], [("3", 0.996), ("5", 0.004)], [("3", 0.996), ("0", 0.0)]]
    field, labels, probs, cols = field_and_columns(boxes, {0: [0]}, dotted={1: [3], 2: [3]})
    unchecked = replace(field, flagged=True, reason=REASON_UNCHECKED)
    fused = fuse_field(unchecked, labels, probs, cols, sure=[False, True, True])
    assert fused.value == 33 and not fused.flagged


def test_two_filled_bubbles_neither_the_boxs_digit_flag_the_field() -> None:
    boxes = [[("1", 0.999)], [("5", 0.999)], [("2", 0.999)]]
    field, labels, probs, cols = field_and_columns(boxes, {0: [1], 1: [3, 8], 2: [2]})
    fused = fuse_field(field, labels, probs, cols)
    assert fused.flagged
    assert fused.reason == "angka di kotak tidak sama dengan bulatan (kotak 2: 5 / bulatan 3 dan 8)"
    kept = [[("1", 0.999)], [("8", 0.999)], [("2", 0.999)]]
    field, labels, probs, cols = field_and_columns(kept, {0: [1], 1: [3, 8], 2: [2]})
    assert not fuse_field(field, labels, probs, cols).flagged


def test_an_empty_columns_paper_grain_is_no_faint_fill() -> None:
    # The worst left-empty column of 765 measured: its top bubble 0.25 inked, 0.03 clear.
    grain = (0.02, 0.07, 0.04, 0.05, 0.16, 0.1, 0.15, 0.09, 0.25, 0.22)
    assert pick_digit(grain) == (None, "none") and faint_digit(grain) is None
    assert faint_digit((0.0, 0.0, 0.0, 0.31) + (0.0,) * 6) == 3
