"""page_boxes: a page's boxes through the model in one call, each read as surely as what the
preparation saw of it allows."""

from __future__ import annotations

from tests.vision.test_framedprep import FRAME, framed_box, ink, photographed
from vision import page_boxes
from vision.fields import REASON_LOW_CONFIDENCE, REASON_PAST_THE_BOX
from vision.reading import FieldReading


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
