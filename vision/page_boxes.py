"""A page's digit boxes: cut from the photo with their frames, prepared, and read by the model.

Every box of the page goes through the model in one batched call (`vision.digits`); a box
prepared as blank that still holds a faint or short mark (`framedprep.traces`) is read again
in the same call and doubted (`vision.faint`). The result per field is each box's top labels,
which `vision.rules` turns into values.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from vision.fields import REASON_LOW_CONFIDENCE, REASON_PAST_THE_BOX
from vision.reading import FieldReading

Gray = np.ndarray[Any, np.dtype[np.uint8]]

TOP_K = 3
# A partly seen box's confidence, scaled: at most half sure, as a faint mark's
# (`faint.DOUBT_SHARE`): one holding sum beside sure boxes may settle it (`vouching`).
PARTLY_SEEN_SHARE = 0.5
# A box read whole only from its taller crop (`look_wider`): its confidence, scaled. Writing
# that big often runs along the box's lines too, and a stroke on a line goes with it (a `7`
# whose bar lies on the top line reads `1`, 0.99 sure): read at most 0.95 sure, such a box is
# confident but not beyond the arithmetic (`alternatives.BOX_SURE`), which must agree with it.
WIDER_SHARE = 0.95
# A box the first look doubted (under `vouching.UNCHECKED_BOX_MIN`) is read again closer
# (`verdict.CLOSER_BELOW`); that look's confidence, scaled. The same ink through the same
# model is no second witness: a small `5` read `6` 0.95 sure, then 0.98 closer, passed on
# page 2 with its bubble left empty, where no rule checks it (seed 901075). Scaled, such a
# box is confident but under `alternatives.BOX_SURE`: a sum must agree, or a person looks.
CLOSER_SHARE = 0.975
# ...and at most this sure when the closer look rules out what the first one read (not among
# its top labels): under `vouching`'s CONFIRM_MIN, so one holding sum no longer settles it
# (two still may). Seed 904937 (a marker, folded paper, 9 MP): the first look read
# `suara_sah` 191 and `suara_total` 186 (the tens 0.90 and 0.97 sure), the closer one both
# tens `3` (0.55, 0.85, no `8` among the latter's); 131 + 5 = 136 held and both wrong counts
# passed. Measured on the benchmark's photos, as against before: 500 photos and 150 at 5 MP
# the same (boxes 99.71%, pages to a person 4.4% and 7.3%), 150 written small 29.3 -> 30.0%.
# Capping every box the two looks read differently: 4.4 -> 5.2%, 29.3 -> 33.3%, 7.3 -> 9.3%
# (the closer look is the better one more often than not); mixing both looks at even
# weight instead of either: boxes 99.71 -> 99.65%, pages 4.4 -> 5.4%.
DISPUTED_MAX = 0.45
# ...and at most this sure when it reads another label than the first look did, which was
# not sure of its own: under `fields.CONFIDENT`, so the field is a doubt that its sum must
# settle, and a sum settles one doubt, not two. Hunt find 914861 (page 3, small writing, 9 MP):
# the first look read `suara_sah` 108 (its tens `0` 0.43 sure, a `6`) and `suara_total` 176,
# which broke 108 + 8 = 176; closer, the total's tens `7` (0.81) read `1` (0.97), and
# 108 + 8 = 116 held on two wrong counts. Its price (2026-12-08, the benchmark's sets): one
# folded page 3 more of 150 to a person (8.0 -> 8.7%), every other set the same pages.
CHANGED_MAX = 0.89


@dataclass(frozen=True)
class Boxes:
    """A page's boxes ready for the model: per field how many, in order; every box's model
    input, then the faint marks of the boxes found blank (`framedprep.traces`) and which
    boxes those are."""

    counts: dict[str, int]
    batch: np.ndarray[Any, np.dtype[np.uint8]]
    doubted: list[int]
    blotted: list[int] = field(default_factory=list)  # blacked out (`vision.blots`)
    cut: list[int] = field(default_factory=list)  # writing running past the crop's edge
    shapeless: list[int] = field(default_factory=list)  # a blob or a dot (`mnist_style`)

    def cut_fields(self) -> set[str]:
        """The fields with a box whose writing runs past its crop."""
        cut = set(self.cut)
        return {name for name, places in self.spans().items() if cut.intersection(places)}

    def spans(self) -> dict[str, range]:
        """Each field's boxes' places in the page's order."""
        out: dict[str, range] = {}
        start = 0
        for name, n in self.counts.items():
            out[name] = range(start, start + n)
            start += n
        return out


def prepare_boxes(gray: Gray, registration: Any, shifts: dict[str, Any], *,
                  px_per_mm: float | None = None,
                  only: Mapping[str, Collection[int]] | None = None,
                  margin_y_mm: Mapping[str, float] | None = None) -> Boxes:
    """Cut every box with its frame from the photo (each field where `local_fit` found it)
    and prepare it for the model. `px_per_mm`: the crops' scale (`cells.FRAMED_PX_PER_MM`
    unless given); `only`, `margin_y_mm`: just these boxes, and these fields' crops taller
    (`cells.crop_framed`'s)."""
    from vision import cells

    scale = cells.FRAMED_PX_PER_MM if px_per_mm is None else px_per_mm
    return prepare_crops(cells.crop_framed(gray, registration, px_per_mm=scale, shifts=shifts,
                                           only=only, margin_y_mm=margin_y_mm))


@dataclass(frozen=True)
class Wider:
    """`look_wider`'s outcome: every box's top labels, the fields cut taller (field name ->
    the paper above and below, mm), the fields with a box still written past its crop, and
    the boxes read taller (field name -> their places)."""

    candidates: dict[str, list[list[tuple[str, float]]]]
    margins: dict[str, float]
    cut: set[str]
    boxes: dict[str, list[int]]


def look_wider(gray: Gray, registration: Any, shifts: dict[str, Any], boxes: Boxes,
               candidates: dict[str, list[list[tuple[str, float]]]]) -> Wider:
    """The boxes whose writing ran past their crop (`Boxes.cut`), cut again with the room
    above and below their row (`cells.room_above_below_mm`, where at least
    `cells.WIDER_MIN_MM`) and read from that: a digit written taller than its box, seen
    whole, is read as any other. Those still cut, or without the room, stay `partly_seen`."""
    from vision import cells

    room = cells.room_above_below_mm(registration.template)
    cut = set(boxes.cut)
    again: dict[str, list[int]] = {}
    for name, places in boxes.spans().items():
        if room[name] >= cells.WIDER_MIN_MM:
            mine = [i - places.start for i in places if i in cut]
            if mine:
                again[name] = mine
    if not again:
        return Wider(candidates, {}, boxes.cut_fields(), {})
    margins = {name: room[name] for name in again}
    wide = prepare_boxes(gray, registration, shifts, only=again, margin_y_mm=margins)
    read = classify(wide)
    out = {name: list(ranked) for name, ranked in candidates.items()}
    for name, mine in again.items():
        for place, ranked in zip(mine, read[name], strict=True):
            out[name][place] = read_wider(ranked)
    still = {name for name in boxes.cut_fields() if name not in again} | wide.cut_fields()
    return Wider(out, margins, still, again)


def read_wider(ranked: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """A box's top labels read from its taller crop, WIDER_SHARE as sure (a box still
    `partly_seen` there is already at most half sure)."""
    return _scaled(ranked, WIDER_SHARE)


def read_closer(first: list[tuple[str, float]],
                again: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """A box's top labels from the closer look, CLOSER_SHARE as sure when the first look
    was not sure of it (at most CHANGED_MAX when the two read different labels), and at most
    DISPUTED_MAX sure when the first look's label is not among them or the first look was
    sure of another label."""
    from vision.vouching import UNCHECKED_BOX_MIN

    if not (first and again):
        return _scaled(again, CLOSER_SHARE)
    sure = first[0][1] >= UNCHECKED_BOX_MIN
    ruled_out = first[0][0] not in {label for label, _ in again}
    # Two looks that differ, the first sure: neither stands alone (on a page that passed, a
    # sure misread is the one risk left).
    if (ruled_out or (sure and again[0][0] != first[0][0])) and again[0][1] > DISPUTED_MAX:
        return _scaled(again, min(CLOSER_SHARE, DISPUTED_MAX / again[0][1]))
    if sure:
        return again
    if again[0][0] != first[0][0] and again[0][1] * CLOSER_SHARE > CHANGED_MAX:
        return _scaled(again, CHANGED_MAX / again[0][1])
    return _scaled(again, CLOSER_SHARE)


def _scaled(ranked: list[tuple[str, float]], share: float) -> list[tuple[str, float]]:
    """A box's top labels, each `share` as sure: same order, less confidence."""
    return [(label, share * p) for label, p in ranked]


def prepare_crops(crops: dict[str, list[Any]]) -> Boxes:
    """Framed box crops per field (`cells.crop_framed`) -> the page's model input."""
    from vision import cellprep, framedprep

    flat = [crop for boxes in crops.values() for crop in boxes]
    images, frames = [c for c, _ in flat], [f for _, f in flat]
    prepared = framedprep.prepare_framed_all(images, frames)
    doubted, marks = framedprep.traces(images, frames, prepared)
    return Boxes(counts={name: len(boxes) for name, boxes in crops.items()},
                 batch=np.concatenate([cellprep.model_input(prepared), marks]),
                 doubted=doubted, blotted=[i for i, one in enumerate(prepared) if one.blot],
                 cut=[i for i, one in enumerate(prepared) if one.cut],
                 shapeless=[i for i, one in enumerate(prepared) if one.shapeless])


def past_the_box(fields: dict[str, FieldReading], cut: Collection[str]) -> dict[str, FieldReading]:
    """`fields` with the reason of each one flagged as unclear said more exactly where one
    of its boxes is written past its crop (`cut`: those fields, `Boxes.cut_fields`): the
    person looking knows to read the digit over the box's lines in the photo."""
    out = dict(fields)
    for name in cut:
        f = out.get(name)
        if f is not None and f.flagged and f.reason == REASON_LOW_CONFIDENCE:
            out[name] = replace(f, reason=REASON_PAST_THE_BOX)
    return out


def partly_seen(ranked: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """A box whose writing runs on past its crop (a digit written taller than the box, more
    than the crop's margin over its lines): what the model read, at most PARTLY_SEEN_SHARE
    sure. Writing, surely, but which digit the arithmetic or a person decides: the model
    read a `6` whose stem was outside as `0` at 0.98, a `7` whose bar was as `1`."""
    return _scaled(ranked, PARTLY_SEEN_SHARE)


def classify(boxes: Boxes) -> dict[str, list[list[tuple[str, float]]]]:
    """Every box of the page through the model in one batched call, top labels per box.

    A box prepared as blank that still holds a faint or short mark (`framedprep.traces`) is
    doubted: blank or what the mark reads as, half and half, so neither is sure and the
    arithmetic or a person decides (a lost `1` before `12` reads 12 instead of 112, and the
    sums can hold either way). A box blacked out (`vision.blots`) is doubted the same way.
    A box whose writing runs past its crop is read only `partly_seen`; a blob or a dot
    (`mnist_style.shapeless`) at most SHAPELESS_SHARE as sure: writing, but which digit its
    shape does not say.
    """
    from vision import digits, faint, mnist_style

    total = sum(boxes.counts.values())
    if not total:
        return {name: [] for name in boxes.counts}
    probabilities = digits.classify_prepared(boxes.batch)
    ranked = digits.top_k(probabilities[:total], k=TOP_K)
    for i, mark in zip(boxes.doubted, digits.top_k(probabilities[total:], k=TOP_K),
                       strict=True):
        if mark[0][0] == "" or mark[0][1] < faint.TRACE_READ_MIN:
            continue  # paper grain or a shadow the darkening brought out, not a digit
        ranked[i] = faint.doubted(mark, TOP_K)
    for i in boxes.blotted:
        ranked[i] = faint.doubted(ranked[i], TOP_K)
    for i in boxes.cut:
        ranked[i] = partly_seen(ranked[i])
    # A box cut or blacked out is already no more than half sure.
    for i in sorted(set(boxes.shapeless) - set(boxes.cut) - set(boxes.blotted)):
        ranked[i] = _scaled(ranked[i], mnist_style.SHAPELESS_SHARE)
    return {name: ranked[places.start:places.stop] for name, places in boxes.spans().items()}
