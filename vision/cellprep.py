"""Digit box crop -> 28x28 model input, white ink on black (the MNIST recipe).

The model only ever sees what this module produces, at training time and on the box, so a
box photographed at 3 px/mm and one scanned at 12 px/mm must come out alike. Every crop is
first resized to a fixed working height; all kernel sizes below are in working pixels.

Stages: the paper frame a crop was cut with trimmed off (`vision.frametrim`); background
(paper, shadows, watermark) estimated by a grey closing and divided out, ink contrast
thresholded with hysteresis (`vision.inkmask`); long straight lines (box border remnants,
ruling lines, dotted guides) removed (`vision.printed_lines`); specks and edge slivers
dropped; blank decided by ink mass; the ink's bounding box scaled into 20x20 and centred by
its centre of mass in 28x28 (`vision.mnist_style`).

A page's boxes are prepared together: crops of the same working width form one (N, H, W)
stack, each filter runs once over the whole stack so that tiles never see each other and
each tile's borders behave as if it were alone (`vision.tiles`), and connected components run
once on the tiles stacked with a blank row between them. Only the stroke thickening and the
final scaling into 28x28 are per box.
"""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np

from vision.blots import blotted
from vision.frametrim import MIN_SIDES, trim_to_frame
from vision.inkmask import (
    LINE_CONTRAST,
    ink_contrast,
    ink_levels,
    inked_tiles,
    noise_floors,
    paper_level,
)
from vision.mnist_style import SIZE, Prepared, blank_box, draw, model_input, with_blots
from vision.printed_lines import along_a_side, long_lines
from vision.tiles import components, dilate_tiles, select

logger = logging.getLogger(__name__)

__all__ = ["SIZE", "WORK_H", "Prepared", "model_input", "prepare", "prepare_all", "prepare_batch",
           "prepare_one", "to_gray"]

Image = np.ndarray[Any, Any]
U8 = np.ndarray[Any, np.dtype[np.uint8]]
F32 = np.ndarray[Any, np.dtype[np.float32]]

WORK_H = 64  # working height: boxes are taller than wide, 64 px keeps 1-2 mm strokes >= 3 px

# A crop holding its printed frame is blank unless something clear of the frame is this dark: its
# levels are then set from that (see `_prepare_stack`), and at `inkmask.FAINT_SEED` a watermark or
# the grain beside the frame sometimes passed for a faint mark. Measured before the remnant path
# below existed, `classify_cells` on 6,000 rendered empty boxes (`training_boxes.render_box` seeds
# 5-7: frame remnants, watermark, specks) read as a mark: 168 before frames were told apart, 171
# at 0.24, 179 at 0.20, 21 of them surely (> 0.9) at both (20 before). Boxes cut with their frame
# from 60 photos (1,840 each way, `bench cells`) read 97.9-98.8% at 0.20 against 97.5-98.4% at
# 0.24 (46.8-96.5% before), and written small 83.9-84.5% against 78.7-78.9%: 0.20 keeps those for
# 8 unsure marks.
FRAMED_FAINT_SEED = 0.20
# A crop holding only a remnant of its frame (cut through it, or a millimetre off the box)
# is blank unless something clear of the remnant is this dark, and its levels are set from
# the writing only when the remnant is REMNANT_MARGIN darker than anything else (where the
# writing is the darkest mark, the levels were the writing's already). Measured: see the
# README's `bench cells` row. The same 6,000 rendered empty boxes read as a mark at 0.22:
# 208, 21 surely; at 0.24: 181, 16 surely (168 and 20 before either path); boxes cut 1 mm
# off the box, written small: 81.1% at 0.22, 77.7% at 0.24, 67.5% before.
REMNANT_FAINT_SEED = 0.24
REMNANT_MARGIN = 0.05
# A printed line's anti-aliased fringe: this far around it nothing sets the ink's levels.
LINE_FRINGE = np.ones((5, 5), np.uint8)
MIN_INK_FRACTION = 0.006  # of the working area: less than this is a blank box
# A mark shorter than MIN_EXTENT of the box height and narrower than it of the width is a
# speck. At 0.22 a `1` written a fifth of the box high was taken for paper (the one miss of
# the full-height 2019 crops; most digits lost in 150 photos written small). 0.16 (about 1.6 mm
# in a 10 mm box) measured: written small, boxes 93.8% -> 96.1% and pages to a person 55% ->
# 45%; default hand 99.53% -> 99.54%, 7.8% -> 7.6%; no empty box read as a digit in either
# (0.14 measured the same as 0.16).
MIN_EXTENT = 0.16
MIN_AREA = 16  # working pixels, about 1 mm^2 in a box photographed at 5 px/mm


def to_gray(crop: Image) -> F32:
    """Any crop `classify_cells` takes (gray or BGR, bytes or floats 0..1) -> float gray 0..255."""
    arr = np.asarray(crop)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr.astype(np.uint8), cv2.COLOR_BGR2GRAY)
    if arr.ndim != 2 or min(arr.shape) < 4:
        raise ValueError(f"a box crop must be a 2-D image of at least 4x4 pixels, got {arr.shape}")
    gray = arr.astype(np.float32)
    if gray.max() <= 1.0 and arr.dtype != np.uint8:
        gray *= 255.0
    return gray


def _resize_to_work(gray: F32) -> F32:
    h, w = gray.shape
    scale = WORK_H / h
    # Widths in steps of 4 px (aspect within 3%) put a page's boxes in one or two stacks.
    new_w = int(np.clip(4 * round(w * scale / 4), 16, 3 * WORK_H))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(gray, (new_w, WORK_H), interpolation=interp), np.float32)


def _keep_components(mask: U8, min_extent: float = MIN_EXTENT) -> tuple[U8, Image]:
    """Drop specks and slivers left at the edges; keep every stroke of the written mark.
    Also says, per tile, whether a kept mark is `min_extent` of the box tall or wide: writing."""
    n, h, w = mask.shape
    cc = components(mask)
    largest = np.zeros(n, np.int64)
    np.maximum.at(largest, cc.tile[1:], cc.area[1:])
    big = largest[cc.tile]
    x1, y1 = cc.left + cc.width, cc.top + cc.height
    # Border remnants that escaped line removal: small pieces hugging one edge.
    mx, my = max(2, w // 10), max(2, h // 12)
    in_margin = (x1 <= mx) | (cc.left >= w - mx) | (y1 <= my) | (cc.top >= h - my)
    keep = (cc.area >= np.maximum(MIN_AREA, 0.08 * big)) & ~(in_margin & (cc.area < 0.5 * big))
    keep[0] = False
    stroke = keep & ((cc.height >= min_extent * h) | (cc.width >= min_extent * w))
    has_stroke = np.bincount(cc.tile[stroke], minlength=n) > 0
    return select(cc, keep), has_stroke


def _prepare_stack(work: F32, framed: Image, min_extent: float) -> list[Prepared]:
    """Boxes of one working size (N, H, W) -> one `Prepared` each, in order. `framed`: per
    box, does its crop hold the printed frame (`frametrim`)."""
    n, h, w = work.shape
    result = [blank_box() for _ in range(n)]
    paper = paper_level(work)
    contrast = ink_contrast(work, paper=paper)
    my, mx = max(2, h // 24), max(2, w // 20)
    blots = blotted(paper, (my, h - my, mx, w - mx))
    peaks = contrast.max(axis=(1, 2))
    floors = noise_floors(contrast, (my, h - my, mx, w - mx))
    inked = inked_tiles(peaks, floors[0])
    if not inked.size:
        return with_blots(result, blots)
    contrast, framed, whole = contrast[inked], framed[inked], peaks[inked]
    floors = (floors[0][inked], floors[1][inked])
    # Lines are traced on a lower threshold than ink so a faint stretch of a printed rule
    # (JPEG, uneven light) does not break it into short pieces that pass for strokes.
    lines = long_lines(np.asarray(contrast > LINE_CONTRAST, np.uint8))
    # In a crop cut with its frame, the ink's levels follow the writing's own darkness, not
    # the print's: the printed line is the darkest mark there, and a seed set from it missed
    # a light pen's digit entirely (the box then read as surely empty). Measured clear of
    # the lines, their fringe and the crop's edges; such a box with nothing as dark as
    # FRAMED_FAINT_SEED there is blank. The same for a crop holding a remnant of its frame
    # along a side (cut a millimetre off, or through the frame) that is darker than anything
    # else in it, against the higher REMNANT_FAINT_SEED. Elsewhere levels stay as they were.
    near_line = dilate_tiles(lines, LINE_FRINGE)
    inner = np.where(near_line[:, my:-my, mx:-mx] != 0, np.float32(0.0),
                     contrast[:, my:-my, mx:-mx]).max(axis=(1, 2))
    remnant = ~framed & along_a_side(lines, my, mx) & (whole > inner + REMNANT_MARGIN)
    floor = np.where(remnant, np.float32(REMNANT_FAINT_SEED), np.float32(FRAMED_FAINT_SEED))
    by_writing = framed | remnant
    seed, grow, mask = ink_levels(contrast, np.where(by_writing, inner, whole), floors)
    mask &= 1 - lines
    mask[by_writing & (inner <= floor)] = 0
    mask, has_stroke = _keep_components(mask, min_extent)
    fraction = mask.sum(axis=(1, 2), dtype=np.int64) / float(h * w)
    draw(result, inked, (fraction >= MIN_INK_FRACTION) & has_stroke, fraction,
         mask, contrast, seed, grow)
    return with_blots(result, blots)


def prepare_all(crops: list[Image], *, min_extent: float = MIN_EXTENT) -> list[Prepared]:
    """Box crops (grayscale, dark ink on light paper, any size) -> one `Prepared` each, in
    order. `min_extent`: how tall or wide (share of the box) a mark must be to be writing."""
    trimmed = [trim_to_frame(to_gray(crop)) for crop in crops]
    works = [_resize_to_work(gray) for gray, _ in trimmed]
    framed = np.array([sides >= MIN_SIDES for _, sides in trimmed], bool)
    by_width: dict[int, list[int]] = {}
    for i, work in enumerate(works):
        by_width.setdefault(work.shape[1], []).append(i)
    result: list[Prepared] = [blank_box() for _ in crops]
    for members in by_width.values():
        prepared = _prepare_stack(np.stack([works[i] for i in members]), framed[members],
                                  min_extent)
        for i, one in zip(members, prepared, strict=True):
            result[i] = one
    return result


def prepare_one(crop: Image) -> Prepared:
    """Prepare one box and report whether it is blank."""
    return prepare_all([crop])[0]


def prepare(crop: Image) -> U8:
    """Grayscale box interior (dark ink on light paper, any size) -> 28x28 uint8, ink white."""
    return prepare_one(crop).image


def prepare_batch(crops: list[Image]) -> U8:
    """All boxes of a page -> (N, 28, 28, 1) uint8, in order."""
    return model_input(prepare_all(crops))
