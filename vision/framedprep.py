"""Framed box crop -> 28x28 model input, for boxes whose printed frame position is known.

`cellprep` prepares a box's interior alone, which is all `vision.classify_cells` callers can
give. On a registered page we know better: the crop (`cells.crop_framed`) takes the box with
its printed frame and a margin of paper around it. Officers write digits that touch or cross
the frame; cut at the interior, a `7` whose bar touches the top line turns into a `1`, a `0`
leaning out of the box into a `6`, a `1` hugging the side into an empty box. Here the frame
is found where the template puts it (searched within a registration tolerance), only its
straight line pixels are removed, strokes crossing it are rejoined, and every mark that
reaches into the interior is kept whole, the parts outside the frame included. Marks that
never enter the interior (captions, a neighbour's overflow) are dropped. What this cannot
do: a stroke drawn along the printed line itself goes with the line (a `0` whose side is
the box's side loses that side); such boxes read wrong or empty, and the rules flag them.
Writing that runs on past the crop's margin (a digit written much taller than the box) is
seen only in part: its box is marked `cut`, and `page_boxes` never reads it surely.

From the kept ink on, the recipe is `cellprep`'s: soft ink, stroke thickening, the bounding
box scaled into 20x20 and centred by mass in 28x28, so the same model reads both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from vision.blots import blotted
from vision.cellprep import F32, MIN_AREA, MIN_EXTENT, MIN_INK_FRACTION, U8, Image
from vision.faint import TRACE_MIN_EXTENT, darker_all
from vision.inkmask import (
    FAINT_SEED,
    LINE_CONTRAST,
    ink_contrast,
    ink_levels,
    inked_tiles,
    noise_floors,
    paper_level,
)
from vision.mnist_style import Prepared, blank_box, draw, model_input, with_blots
from vision.tiles import components, dilate_tiles, select

logger = logging.getLogger(__name__)

# How far (px, each way) the printed line is looked for around where the template puts it:
# registration error (~0.3 mm) and blur at the crop's ~3 px/mm.
SEARCH_PX = 4
# A row (column) belongs to the printed line when this share of the frame's length is dark.
# A digit's bar under the line is shorter than the box; the printed line spans all of it.
LINE_COVER = 0.7
# The rows grown from the best one must be this complete (the line's blur is; a stroke
# beside the line, 60-90% with the blur, is not). Anything from 0.8 to 0.97 measured the
# same; with NEAR_LINE_PX, 150 benchmark photos: box accuracy 99.51% -> 99.60%, pages
# needing review 7.3% -> 4.7%.
GROW_COVER = 0.9
# Where nothing is written clear of the line, ink this near it (px) still counts: a stem
# written against the box's side. Registration rarely puts the line this far in.
NEAR_LINE_PX = 2
# The rows beside the line found go with it when this share of them is dark (its blurred
# edge): most are, 0.7-1; a row dark only where strokes cross the line is far below.
FRINGE_COVER = 0.5
# Strokes crossing the frame are rejoined across at most the line's width plus this.
REJOIN_SLACK_PX = 3
# Where more was taken as line than that reaches across (a blurred photo; a marker's stroke
# along the line), writing dropped straight across it from the box's, at most this far (px)
# to either side of square and at least ACROSS_MIN_PX deep, makes the box partly seen
# (`_past_wide_lines`). Restoring the line there instead filled the foot of a `0` sitting on
# the line into a `2`, 0.98 sure.
ACROSS_SLANT_PX = 2
ACROSS_MIN_PX = 2
# Strokes at least this wide (mm, as measured: the photo's blur included) are a felt-tip
# marker's, thinned when also wide for their digit (`mnist_style.THIN_ABOVE`). A ballpoint's
# small digit is as wide for its size, and the model learnt those: without this floor the
# benchmark's 150 photos written small read 97.29 -> 96.88% of their boxes, pages to a person
# 42.0 -> 44.7%. With it (60 photos; 1.5 or 1.8 mm alike): written small 97.48% as without any
# thinning, marker writing 98.23% as without the floor.
MARKER_MIN_MM = 1.8


@dataclass(frozen=True)
class Lines:
    """The printed frame as found in each tile of a stack: its line pixels and the interior
    inside them (N, H, W); the rows the top and bottom lines were taken on (N, H) and the
    columns of the left and right ones (N, W); per tile how wide (px) the wider of each pair
    was taken."""

    px: U8
    interior: U8
    rows: Image
    cols: Image
    rows_width: Image
    cols_width: Image


@dataclass(frozen=True)
class Frame:
    """Where a box's interior lies in its crop (px): x, y, width, height; and the line width.

    The printed line surrounds the interior: from `x - line` to `x`, and so on. `px_per_mm`:
    the crop's scale, when known (a marker's strokes are then told by their width).
    """

    x: float
    y: float
    w: float
    h: float
    line: float
    px_per_mm: float | None = None

    def key(self) -> tuple[int, int, int, int, int]:
        return (round(self.x), round(self.y), round(self.w), round(self.h), round(self.line))


def _line_rows(line_mask: U8, lo: int, hi: int, span: tuple[int, int], expected: float,
               width: int) -> tuple[Image, Image]:
    """Per tile, which rows in [lo, hi) are the printed line: (N, hi - lo) bool; and each
    row's share of dark pixels along the frame.

    The line is the best-covered row nearest where the template puts it, and the near
    complete rows within its printed width of it: a stroke written alongside the line (a `1`
    hugging the side) is long too, but it is not where the line is and it is not as complete.
    """
    a, b = span
    counts = line_mask[:, lo:hi, a:b].sum(axis=2, dtype=np.int32) / float(max(b - a, 1))
    idx = np.arange(lo, hi)
    best = np.argmax(counts - 0.02 * np.abs(idx - expected)[None, :], axis=1)
    covered = counts >= LINE_COVER
    # The line's own rows beside the best one are near complete; a `1` written against the
    # line makes the row next to it only partly dark (its stroke plus the line's blur).
    complete = counts >= GROW_COVER
    rows = np.arange(len(best))
    found = np.zeros_like(covered)
    start = covered[rows, best]
    found[rows, best] = start
    # Grow along the covered rows next to the best one, up to the printed width plus blur:
    # each step away is taken while every row up to it is covered.
    steps = np.arange(1, width + 3)
    for sign in (-1, 1):
        at = best[:, None] + sign * steps[None, :]
        inside = (at >= 0) & (at < counts.shape[1])
        at = np.clip(at, 0, counts.shape[1] - 1)
        going = np.logical_and.accumulate(inside & complete[rows[:, None], at], axis=1)
        tile, step = np.nonzero(going & start[:, None])
        found[tile, at[tile, step]] = True
    return np.asarray(found), counts


def _frame_mask(line_mask: U8, frame: Frame) -> Lines:
    """The printed frame's pixels in each tile, and each tile's interior (inside the line
    actually found, or where the template puts it when a side was not found), with where and
    how wide each pair of lines was taken (`Lines`)."""
    n, h, w = line_mask.shape
    x0, y0 = round(frame.x), round(frame.y)
    x1, y1 = round(frame.x + frame.w), round(frame.y + frame.h)
    t = max(1, round(frame.line))
    s = SEARCH_PX
    # Per side: the rows (columns) searched, and where the line's middle should be.
    sides = {
        "top": (max(0, y0 - t - s), min(h, y0 + s), y0 - t / 2),
        "bottom": (max(0, y1 - s), min(h, y1 + t + s), y1 + t / 2),
        "left": (max(0, x0 - t - s), min(w, x0 + s), x0 - t / 2),
        "right": (max(0, x1 - s), min(w, x1 + t + s), x1 + t / 2),
    }
    along_x = (max(0, x0 - t), min(w, x1 + t))
    along_y = (max(0, y0 - t), min(h, y1 + t))
    transposed = np.ascontiguousarray(line_mask.transpose(0, 2, 1))
    frame_px = np.zeros((n, h, w), bool)
    rows, cols = np.zeros((n, h), bool), np.zeros((n, w), bool)
    widths = {True: np.zeros(n, np.int64), False: np.zeros(n, np.int64)}
    inner = np.zeros((n, 4), np.int64)  # top, bottom, left, right of the interior per tile
    inner[:] = (y0, y1, x0, x1)
    for side, (lo, hi, expected) in sides.items():
        horizontal = side in ("top", "bottom")
        found, cover = _line_rows(line_mask if horizontal else transposed, lo, hi,
                                  along_x if horizontal else along_y, expected, t)
        if not found.any():
            continue
        idx = np.arange(lo, hi)
        has = found.any(axis=1)
        # The interior starts just past the innermost line row found.
        if side in ("top", "left"):
            edge = np.where(found, idx, -1).max(axis=1) + 1
        else:
            edge = np.where(found, idx, 1 << 30).min(axis=1)
        col = {"top": 0, "bottom": 1, "left": 2, "right": 3}[side]
        inner[has, col] = edge[has]
        # Widen by one row each way: the line's anti-aliased fringe goes with it.
        grown = found.copy()
        grown[:, 1:] |= found[:, :-1]
        grown[:, :-1] |= found[:, 1:]
        # ...where it is the line's: a fringe row dark only under a stroke crossing the
        # line is the stroke, and taking it cut the stroke too far from the box for
        # `_rejoin` to mend (a tall `6` whose top is then dropped reads `0`).
        grown &= found | (cover >= FRINGE_COVER)
        np.maximum(widths[horizontal], grown.sum(axis=1), out=widths[horizontal])
        if horizontal:
            frame_px[:, lo:hi, along_x[0]:along_x[1]] |= grown[:, :, None]
            rows[:, lo:hi] |= grown
        else:
            frame_px[:, along_y[0]:along_y[1], lo:hi] |= grown[:, None, :]
            cols[:, lo:hi] |= grown
    # The bounds are never negative (the frame lies inside the crop), so the comparisons
    # give what slicing each tile would.
    in_rows = (np.arange(h) >= inner[:, 0:1]) & (np.arange(h) < inner[:, 1:2])
    in_cols = (np.arange(w) >= inner[:, 2:3]) & (np.arange(w) < inner[:, 3:4])
    interior = np.asarray(in_rows[:, :, None] & in_cols[:, None, :], np.uint8)
    return Lines(np.asarray(frame_px & line_mask.astype(bool), np.uint8), interior, rows, cols,
                 widths[True], widths[False])


def _reach(frame: Frame) -> int:
    """How far (px) `_rejoin` reaches across a line: its printed width plus slack."""
    return max(2, round(frame.line) + REJOIN_SLACK_PX)


def _rejoin(kept: U8, removed: U8, interior: U8, frame: Frame) -> U8:
    """Put back removed frame pixels where a stroke runs from inside the box to outside.

    A removed pixel is restored when ink inside the frame and ink outside it both lie within
    the line's width (plus slack) of it, in any direction: a `0` leaning out of the box
    crosses the line at a slant, not square.
    """
    r = _reach(frame)
    disk = np.asarray(cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)),
                      np.uint8)
    inside = np.asarray(kept & interior, np.uint8)
    outside = np.asarray(kept & (1 - interior), np.uint8)
    # Only tiles with removed pixels and ink on both sides of the frame can get any back:
    # the (costly) dilations skip the rest.
    todo = np.flatnonzero(removed.any(axis=(1, 2)) & inside.any(axis=(1, 2))
                          & outside.any(axis=(1, 2)))
    if not todo.size:
        return kept
    near_inside = dilate_tiles(inside[todo], disk)
    near_outside = dilate_tiles(outside[todo], disk)
    rejoined = kept.copy()
    rejoined[todo] |= removed[todo] & near_inside & near_outside
    return rejoined


def _past_wide_lines(kept: U8, joined: U8, lines: Lines, frame: Frame) -> Image:
    """Per tile: does the writing kept go on across a line taken wider than `_rejoin`
    reaches (a blurred photo, a marker's stroke along the line)? Such a line leaves the
    stroke's far side unjoined, dropped as not the box's, and the model reads what is left:
    a marker `1` crossing the top line, cut off above it, read `7` 0.996 sure. `joined`:
    the ink after `_rejoin`, `kept`: what `_keep_marks` kept of it.

    Yes when a mark dropped lies straight across such a line from the writing inside (within
    the width taken and one more, at most ACROSS_SLANT_PX aside), runs on past the crop's
    edge, is at least ACROSS_MIN_PX deep away from the line and at most half the box long
    along it (the line's own blurred fringe is long and thin), and is not on the other pair
    of lines running on past the corners. The box is then only partly seen, as writing
    running past its crop is. A mark ending inside the crop is seen whole, and the box read
    from its inside alone: counting those too sent 150 pages written big to a person 57 ->
    71% where the model had mostly read them right (boxes 96.70 -> 96.48%).
    """
    n = kept.shape[0]
    out = np.zeros(n, bool)
    reach = _reach(frame)
    # Lines taken no wider than `_rejoin` reaches leave nothing across them unjoined. (The
    # width taken counts the line's fringe: on most photos every box is looked at.)
    wide = np.flatnonzero((lines.rows_width > reach) | (lines.cols_width > reach))
    if not wide.size:
        return out
    inside = kept[wide] & lines.interior[wide]
    # Line pixels `_rejoin` restored that never joined the writing are no writing either.
    dropped = joined[wide] & (1 - kept[wide]) & (1 - lines.px[wide])
    has = inside.any(axis=(1, 2)) & dropped.any(axis=(1, 2))
    todo, inside = wide[has], inside[has]
    if not todo.size:
        return out
    cc = components(dropped[has])
    h, w = kept.shape[1:]
    edge = (cc.top == 0) | (cc.left == 0) | (cc.top + cc.height == h) | (cc.left + cc.width == w)
    deep_rows = np.asarray(edge & (cc.height >= ACROSS_MIN_PX) & (cc.width <= frame.w / 2))
    deep_cols = np.asarray(edge & (cc.width >= ACROSS_MIN_PX) & (cc.height <= frame.h / 2))
    # Is there writing within the window across the line from a dropped pixel? A sum over
    # the window from each tile's summed-area table, looked up at the few candidate pixels
    # only: the same answer as dilating the writing by the window, for a fraction of it.
    # One table for the stack as a single tall image: a window clipped to its tile's rows
    # differences away every tile above it.
    table = np.asarray(cv2.integral(inside.reshape(-1, w), sdepth=cv2.CV_32S))
    tile, at = np.divmod(cc.index, h * w)
    y, x = np.divmod(at, w)
    pairs = ((lines.rows_width[todo], True, deep_rows), (lines.cols_width[todo], False, deep_cols))
    for widths, vertical, deep in pairs:
        pick = np.flatnonzero(deep[cc.label] & (widths[tile] > reach))
        t, py, px = tile[pick], y[pick], x[pick]
        # Not on the other pair of lines, running on past the corners.
        off = ~(lines.cols[todo[t], px] if vertical else lines.rows[todo[t], py])
        across = widths[t] + 1
        ry, rx = (across, ACROSS_SLANT_PX) if vertical else (ACROSS_SLANT_PX, across)
        y0, y1 = t * h + np.maximum(py - ry, 0), t * h + np.minimum(py + ry + 1, h)
        x0, x1 = np.maximum(px - rx, 0), np.minimum(px + rx + 1, w)
        ink = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
        out[todo[t[off & (ink > 0)]]] = True
    return out


def _keep_marks(mask: U8, interior: U8, min_extent: float = MIN_EXTENT) -> tuple[U8, Image]:
    """Keep the marks that reach into the interior; say per tile whether one is writing."""
    n = mask.shape[0]
    cc = components(mask)
    inside = np.bincount(cc.label[interior.reshape(-1)[cc.index] != 0], minlength=len(cc.area))
    inside[0] = 0
    largest = np.zeros(n, np.int64)
    np.maximum.at(largest, cc.tile[1:], inside[1:])
    big = largest[cc.tile]
    keep = (inside >= MIN_AREA) & (inside >= 0.08 * big)
    keep[0] = False
    box_h = interior.any(axis=2).sum(axis=1)[cc.tile]
    box_w = interior.any(axis=1).sum(axis=1)[cc.tile]
    stroke = keep & ((cc.height >= min_extent * box_h) | (cc.width >= min_extent * box_w))
    has_stroke = np.bincount(cc.tile[stroke], minlength=n) > 0
    return select(cc, keep), has_stroke


def _prepare_stack(work: F32, frame: Frame, whole: U8 | None = None,
                   min_extent: float = MIN_EXTENT) -> list[Prepared]:
    n = work.shape[0]
    result = [blank_box() for _ in range(n)]
    paper = paper_level(work, whole)
    contrast = ink_contrast(work, whole, paper)
    margin = SEARCH_PX + 1
    blots = blotted(paper, (round(frame.y) + margin, round(frame.y + frame.h) - margin,
                            round(frame.x) + margin, round(frame.x + frame.w) - margin))
    # Peak darkness inside the frame, clear of the line wherever registration put it (the
    # printed line is dark on every box)...
    peak = _peak(contrast, frame, SEARCH_PX + 1)
    # ...or, where nothing is written there, nearer the line: a `1` written against the
    # box's side. The line itself may then raise the peak; it is removed below all the same.
    peak = np.where(peak > FAINT_SEED, peak, _peak(contrast, frame, NEAR_LINE_PX))
    floors = noise_floors(contrast, _inside(frame, SEARCH_PX + 1))
    inked = inked_tiles(peak, floors[0])
    if not inked.size:
        return with_blots(result, blots)
    contrast = contrast[inked]
    seed, grow, mask = ink_levels(contrast, peak[inked], (floors[0][inked], floors[1][inked]))
    line_mask = np.asarray(contrast > LINE_CONTRAST, np.uint8)
    lines = _frame_mask(line_mask, frame)
    frame_px, interior = lines.px, lines.interior
    joined = _rejoin(mask & (1 - frame_px), mask & frame_px, interior, frame)
    mask, has_stroke = _keep_marks(joined, interior, min_extent)
    # Writing that reaches the crop's edge goes on beyond it (a digit written taller than
    # the box): the model sees part of it, a `6` without its stem reads `0`.
    cut = (mask[:, 0, :].any(axis=1) | mask[:, -1, :].any(axis=1)
           | mask[:, :, 0].any(axis=1) | mask[:, :, -1].any(axis=1))
    cut |= _past_wide_lines(mask, joined, lines, frame)
    area = np.maximum(interior.sum(axis=(1, 2), dtype=np.int64), 1)
    fraction = (mask & interior).sum(axis=(1, 2), dtype=np.int64) / area
    marker_px = None if frame.px_per_mm is None else MARKER_MIN_MM * frame.px_per_mm
    draw(result, inked, (fraction >= MIN_INK_FRACTION) & has_stroke, fraction,
         mask, contrast, seed, grow, barred=frame_px, marker_px=marker_px)
    for j in np.flatnonzero(cut):
        one = result[int(inked[j])]
        if not one.blank:
            result[int(inked[j])] = replace(one, cut=True)
    return with_blots(result, blots)


def _inside(frame: Frame, margin: int) -> tuple[int, int, int, int]:
    """The frame's inside, `margin` px in from its sides: y0, y1, x0, x1."""
    return (round(frame.y) + margin, round(frame.y + frame.h) - margin,
            round(frame.x) + margin, round(frame.x + frame.w) - margin)


def _peak(contrast: F32, frame: Frame, margin: int) -> F32:
    """Per tile, the darkest contrast inside the frame, `margin` px in from its sides."""
    y0, y1, x0, x1 = _inside(frame, margin)
    return np.asarray(contrast[:, y0:y1, x0:x1].max(axis=(1, 2)), np.float32)


def _checked(crop: Image) -> Image:
    arr = np.asarray(crop)
    if arr.ndim != 2 or min(arr.shape) < 8:
        raise ValueError(f"a framed box crop must be a 2-D image of at least 8x8, got {arr.shape}")
    return arr


def prepare_framed_all(crops: list[Image], frames: list[Frame], *,
                       min_extent: float = MIN_EXTENT) -> list[Prepared]:
    """Framed crops (grayscale, dark ink on light paper) -> one `Prepared` each, in order.

    Crops of one size and frame are prepared together as a stack, as `cellprep` does.
    `min_extent`: how tall or wide (share of the box) a mark must be to be writing.
    """
    if len(crops) != len(frames):
        raise ValueError(f"{len(crops)} crops but {len(frames)} frames")
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, (crop, frame) in enumerate(zip(crops, frames, strict=True)):
        groups.setdefault((np.shape(crop), frame.key()), []).append(i)
    result: list[Prepared] = [blank_box() for _ in crops]
    for members in groups.values():
        arrays = [_checked(crops[i]) for i in members]
        # Crops straight from the photo are bytes: some filters run on those (same values).
        whole = np.stack(arrays) if all(a.dtype == np.uint8 for a in arrays) else None
        stack = (np.stack([a.astype(np.float32) for a in arrays]) if whole is None
                 else whole.astype(np.float32))
        prepared = _prepare_stack(stack, frames[members[0]], whole, min_extent)
        for i, one in zip(members, prepared, strict=True):
            result[i] = one
    return result


def traces(crops: list[Image], frames: list[Frame],
           prepared: list[Prepared]) -> tuple[list[int], U8]:
    """The boxes `prepared` as blank that hold a faint or short mark after all: their
    indices, and each mark as a (K, 28, 28, 1) model input. Such a box is not surely empty."""
    blank = [i for i, one in enumerate(prepared) if one.blank]
    again = prepare_framed_all(darker_all([crops[i] for i in blank]), [frames[i] for i in blank],
                               min_extent=TRACE_MIN_EXTENT) if blank else []
    found = [k for k, one in enumerate(again) if not one.blank]
    return [blank[k] for k in found], model_input([again[k] for k in found])


def prepare_framed(crops: list[Image], frames: list[Frame]) -> U8:
    """Framed crops -> (N, 28, 28, 1) uint8 model input, ink white, in order."""
    return model_input(prepare_framed_all(crops, frames))
