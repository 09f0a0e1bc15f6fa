"""page_boxes: a page's boxes through the model in one call, each read as surely as what the
preparation saw of it allows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.vision.test_framedprep import FRAME, framed_box, ink, photographed
from vision import local_fit, page_boxes
from vision.cells import FRAME_MARGIN_MM
from vision.fields import CONFIDENT, REASON_LOW_CONFIDENCE, REASON_PAST_THE_BOX
from vision.pipeline import decode, read_form
from vision.reading import FieldReading
from vision.register import Registration, register
from vision.synthetic import BIG_WRITING, SyntheticPhoto, synthetic_photo
from vision.tags import pyramid


def test_a_box_whose_writing_runs_past_its_crop_is_never_read_surely() -> None:
    over = photographed(ink(framed_box(), "1", at=(0.5, -0.4), height=1.0))
    inside = photographed(ink(framed_box(), "1", at=(0.4, 0.15)))
    boxes = page_boxes.prepare_crops({"f": [(over, FRAME), (inside, FRAME)]})
    assert boxes.cut == [0]
    (cut, whole), = page_boxes.classify(boxes).values()
    assert cut[0][0] != "" and cut[0][1] <= page_boxes.PARTLY_SEEN_SHARE
    assert whole[0] == ("1", whole[0][1]) and whole[0][1] > 0.9


def test_partly_seen_keeps_the_reading_at_most_half_sure() -> None:
    ranked = [("6", 0.98), ("0", 0.015), ("5", 0.005)]
    assert page_boxes.partly_seen(ranked) == [(label, 0.5 * p) for label, p in ranked]


def test_a_field_unclear_because_a_box_is_written_past_it_says_so() -> None:
    over = photographed(ink(framed_box(), "1", at=(0.5, -0.4), height=1.0))
    inside = photographed(ink(framed_box(), "1", at=(0.4, 0.15)))
    boxes = page_boxes.prepare_crops({"a": [(inside, FRAME), (over, FRAME)],
                                      "b": [(inside, FRAME), (inside, FRAME)],
                                      "c": [(over, FRAME), (inside, FRAME)]})
    unclear = FieldReading(None, "11", 0.4, True, REASON_LOW_CONFIDENCE)
    fields = {"a": unclear, "b": unclear,
              "c": FieldReading(11, "11", 0.4, True, "aturan tidak terpenuhi: x")}
    assert boxes.cut_fields() == {"a", "c"}
    said = page_boxes.past_the_box(fields, boxes.cut_fields())
    assert said["a"].reason == REASON_PAST_THE_BOX
    assert said["b"] == unclear, "no box of it past its crop"
    assert said["c"] == fields["c"], "flagged for another reason, which stands"


def _boxes_read(photo: SyntheticPhoto) -> tuple[Any, ...]:
    """`read_form`'s steps up to the model on `photo`: the photo, its registration, where its
    fields lie, its boxes and their readings."""
    gray = decode(photo.jpeg)
    assert gray is not None
    levels = pyramid(gray)
    registration = register(gray, levels=levels)
    assert isinstance(registration, Registration), registration
    shifts = local_fit.field_shifts(levels, registration.homography,
                                    registration.template.fields)
    boxes = page_boxes.prepare_boxes(gray, registration, shifts)
    return gray, registration, shifts, boxes, page_boxes.classify(boxes)


def test_boxes_written_past_their_crop_are_read_again_taller_and_never_beyond_the_rules() -> None:
    # An officer writing taller than page 3's boxes, over their lines.
    photo = synthetic_photo(3, seed=1, sizes=BIG_WRITING, source="procedural")
    gray, registration, shifts, boxes, candidates = _boxes_read(photo)
    before = boxes.cut_fields()
    assert before, "this officer's digits run past the usual crops"
    wider = page_boxes.look_wider(gray, registration, shifts, boxes, candidates)
    assert wider.cut < before, "the taller crops see some of them whole"
    assert set(wider.boxes) <= before
    for name, places in wider.boxes.items():
        assert wider.margins[name] > FRAME_MARGIN_MM
        for place in places:
            label, p = wider.candidates[name][place][0]
            assert label == photo.boxes[name][place], (name, place)
            # Confident, yet left for the arithmetic to confirm: a stroke along the box's
            # line still goes with the line however tall the crop.
            assert p <= page_boxes.WIDER_SHARE
        assert max(wider.candidates[name][i][0][1] for i in places) > CONFIDENT
    for name, ranked in candidates.items():
        for place, read in enumerate(ranked):
            if place not in wider.boxes.get(name, ()):
                assert wider.candidates[name][place] == read, "read once, as it was"


def test_a_page_written_inside_its_boxes_takes_no_taller_look() -> None:
    photo = synthetic_photo(3, seed=1, source="procedural")
    gray, registration, shifts, boxes, candidates = _boxes_read(photo)
    assert not boxes.cut
    wider = page_boxes.look_wider(gray, registration, shifts, boxes, candidates)
    assert wider.candidates == candidates and not wider.boxes and not wider.cut
    assert "wider" not in read_form(photo.jpeg).timings_ms


def test_page_1_leaves_too_little_paper_for_a_taller_look() -> None:
    # Page 1's rows stand ~4 mm from the next row's boxes and the table's rules.
    photo = synthetic_photo(1, seed=1, sizes=BIG_WRITING, source="procedural")
    gray, registration, shifts, boxes, candidates = _boxes_read(photo)
    assert boxes.cut_fields(), "this officer's digits run past the usual crops"
    wider = page_boxes.look_wider(gray, registration, shifts, boxes, candidates)
    assert not wider.boxes and wider.candidates == candidates
    assert wider.cut == boxes.cut_fields(), "still written past the box, and said so"


def test_a_box_the_first_look_doubted_is_never_made_sure_by_the_closer_look_alone() -> None:
    # Seed 901075: a small `5` read `6` 0.95 sure, then 0.98 closer, passed on page 2 with
    # its bubble left empty, where no rule checks the box.
    from vision.alternatives import BOX_SURE
    from vision.vouching import box_sure

    again = [("6", 0.992), ("5", 0.004), ("4", 0.002)]
    read = page_boxes.read_closer([("6", 0.953), ("4", 0.02)], again)
    assert [label for label, _ in read] == ["6", "5", "4"]
    assert BOX_SURE > read[0][1] >= 0.96  # confident, but a sum or a person must agree
    assert not box_sure(read)
    # A box the first look was sure of keeps the closer reading as it is.
    assert page_boxes.read_closer([("6", 0.985)], again) == again


def test_two_looks_each_sure_of_another_digit_leave_the_box_to_a_sum_or_a_person() -> None:
    # A `3` read `5` at the model's ceiling, the `3` a rival of 1/256: closer, `3` and as
    # sure. Which look is right, neither says; taken as read, the box stands sure.
    from vision.vouching import CONFIRM_MIN, box_sure

    read = page_boxes.read_closer([("5", 0.996), ("3", 0.004)],
                                  [("3", 0.99), ("5", 0.008), ("8", 0.002)])
    # The closer look's reading, as for a box whose first reading it rules out (the closer
    # look is the better one more often than not), but under the bar one sum settles.
    assert [label for label, _ in read] == ["3", "5", "8"]
    assert read[0][1] == pytest.approx(page_boxes.DISPUTED_MAX)
    assert read[0][1] < CONFIRM_MIN
    assert not box_sure(read)


def test_a_box_whose_closer_look_rules_out_the_first_is_never_settled_by_one_sum() -> None:
    # Seed 904937 (a marker, folded paper, 9 MP): the first look read `suara_sah` 191 and
    # `suara_total` 186, the closer look both tens `3`. 131 + 5 = 136 held, and both wrong
    # counts passed as confirmed by that one sum.
    from vision.checks import load_rules
    from vision.rules import resolve_fields
    from vision.template import load_templates
    from vision.vouching import CONFIRM_MIN

    sah = page_boxes.read_closer([("9", 0.898), ("4", 0.078), ("8", 0.008)],
                                 [("3", 0.551), ("9", 0.164), ("7", 0.09)])
    total = page_boxes.read_closer([("8", 0.965), ("9", 0.035), ("0", 0.0)],
                                   [("3", 0.852), ("5", 0.137), ("7", 0.004)])
    # The closer look's reading, in its order; where it rules out the first look's (no `8`
    # among its labels), under the bar one sum settles.
    assert [label for label, _ in sah] == ["3", "9", "7"]
    assert [label for label, _ in total] == ["3", "5", "7"]
    assert sah[0][1] == 0.551 * page_boxes.CLOSER_SHARE and total[0][1] < CONFIRM_MIN
    sure = [("1", 0.996)]
    boxes = {"suara_sah": [sure, sah, sure],
             "suara_tidak_sah": [[("X", 0.996)], [("X", 0.996)], [("5", 0.996)]],
             "suara_total": [sure, total, [("6", 0.996)]]}
    rules = [r for r in load_rules(load_templates()[103].rules) if r.id == "suara_total"]
    fields = resolve_fields(boxes, rules).fields
    assert fields["suara_total"].value == 136 and fields["suara_total"].flagged
    assert fields["suara_total"].reason == "tulisan kurang jelas"
    # ...nor the doubted `suara_sah` beside it: one sum settles one doubt, not two.
    assert fields["suara_sah"].value == 131 and fields["suara_sah"].flagged
    assert fields["suara_sah"].reason == "tulisan kurang jelas"
    # Two looks that agree: the closer one as before.
    again = [("3", 0.852), ("5", 0.137)]
    assert page_boxes.read_closer([("3", 0.9), ("8", 0.05)], again) == [
        ("3", 0.852 * page_boxes.CLOSER_SHARE), ("5", 0.137 * page_boxes.CLOSER_SHARE)]


def test_a_closer_look_that_reads_another_label_leaves_the_field_to_its_sum() -> None:
    # Hunt find 914861 (page 3, small writing, 9 MP): the first look read `suara_sah` 108 (its
    # tens `0` 0.43 sure, truly a `6`) and `suara_total` 176, and 108 + 8 = 176 failed.
    # Closer, the total's tens `7` read `1` 0.97 sure: 108 + 8 = 116 held on two wrong counts.
    from vision.checks import load_rules
    from vision.fields import CONFIDENT
    from vision.rules import resolve_fields
    from vision.template import load_templates

    sah = page_boxes.read_closer([("0", 0.434), ("8", 0.023), ("6", 0.008)],
                                 [("0", 0.895), ("8", 0.027), ("6", 0.02)])
    total = page_boxes.read_closer([("7", 0.805), ("4", 0.07), ("1", 0.059)],
                                   [("1", 0.969), ("7", 0.02), ("", 0.004)])
    assert sah[0] == ("0", 0.895 * page_boxes.CLOSER_SHARE)  # the two looks agree
    assert total[0][0] == "1" and total[0][1] == pytest.approx(page_boxes.CHANGED_MAX)
    assert total[0][1] < CONFIDENT
    sure = [("1", 0.996)]
    boxes = {"suara_sah": [sure, sah, [("8", 0.83)]],
             "suara_tidak_sah": [[("0", 0.996)], [("0", 0.996)], [("8", 0.93)]],
             "suara_total": [sure, total, [("6", 0.996)]]}
    rules = [r for r in load_rules(load_templates()[103].rules) if r.id == "suara_total"]
    fields = resolve_fields(boxes, rules).fields
    # One sum settles one doubt, not two: both counts go to a person.
    assert fields["suara_sah"].value == 108 and fields["suara_sah"].flagged
    assert fields["suara_total"].value == 116 and fields["suara_total"].flagged
