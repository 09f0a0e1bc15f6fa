"""Digit box crop -> 28x28 model input, white ink on black (the MNIST recipe).

The model only ever sees what this module produces, at training time and on the box, so a
box photographed at 3 px/mm and one scanned at 12 px/mm must come out alike. Every crop is
first resized to a fixed working height; all kernel sizes below are in working pixels.

Stages: background (paper, shadows, watermark) estimated by a grey closing and divided out;
ink contrast thresholded with hysteresis; long straight lines (box border remnants, ruling
lines, dotted guides) removed; specks and edge slivers dropped; blank decided by ink mass;
the ink's bounding box scaled into 20x20 and centred by its centre of mass in 28x28.

A page's boxes are prepared together: crops of the same working width form one (N, H, W)
stack, each filter runs once over the whole stack so that tiles never see each other and
each tile's borders behave as if it were alone (`vision.tiles`), and connected components run
once on the tiles stacked with a blank row between them. Only the stroke thickening and the
final scaling into 28x28 are per box.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vision.frametrim import MIN_SIDES, trim_to_frame
from vision.tiles import (
    by_cols,
    by_rows,
    close_rows,
    closing,
    components,
    dilate_tiles,
    max_filter,
    open_rows,
    select,
    transposed,
)

logger = logging.getLogger(__name__)

Image = np.ndarray[Any, Any]
U8 = np.ndarray[Any, np.dtype[np.uint8]]
F32 = np.ndarray[Any, np.dtype[np.float32]]

SIZE = 28
FIT = 20
WORK_H = 64  # working height: boxes are taller than wide, 64 px keeps 1-2 mm strokes >= 3 px
STROKE = 2.2  # target stroke width in the 28x28 image, about MNIST's

# Ink contrast is 1 - pixel / paper. Ballpoint and marker read 0.35-0.9; printed watermark,
# JPEG ringing and paper grain stay under ~0.15.
SEED_CONTRAST = 0.30
GROW_CONTRAST = 0.16
# A faint pen (light ink, blur, an over-exposed photo) can peak under SEED_CONTRAST; such a
# box seeds at FAINT_RATIO of its own peak, never under FAINT_SEED (watermark grey, ~0.11,
# stays out). Small digits in a thin pen peak at 0.12-0.22 (simulated small writing): 0.16
# and 0.10 (were 0.18 and 0.12) keep more of them; the 500 benchmark photos read the same.
FAINT_SEED = 0.16
FAINT_RATIO = 0.75
FAINT_GROW = 0.10
LINE_CONTRAST = 0.10
# A crop holding its printed frame is blank unless something clear of the frame is this dark:
# its levels are then set from that (see `_prepare_stack`), and at FAINT_SEED a watermark or
# the grain beside the frame sometimes passed for a faint mark. Measured before the remnant
# path below existed, `classify_cells` on 6,000 rendered empty boxes (`train.render_box`
# seeds 5-7: frame remnants, watermark, specks) read as a mark: 168 before frames were told
# apart, 171 at 0.24, 179 at 0.20, 21 of them surely (> 0.9) at both (20 before). Boxes cut
# with their frame from 60 photos (1,840 each way, `bench cells`) read 97.9-98.8% at 0.20
# against 97.5-98.4% at 0.24 (46.8-96.5% before), and written small 83.9-84.5% against
# 78.7-78.9%: 0.20 keeps those for 8 unsure marks.
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


@dataclass(frozen=True)
class Prepared:
    """One box ready for the model, with what the preparation measured."""

    image: U8
    blank: bool
    ink_fraction: float


def _to_gray(crop: Image) -> F32:
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


def _ink_contrast(gray: F32, whole: U8 | None = None) -> F32:
    """Per-pixel darkness relative to the local paper brightness, 0 (paper) .. 1 (black).

    `whole`: the same pixels as bytes, when they are whole numbers (framed crops come straight
    from the photo): the closing's max and min are the same on bytes, and several times faster.
    """
    # A grey closing wider than any pen stroke erases the ink and keeps the paper, its shadows
    # and gradients; the box blur smooths the closing's blocky steps.
    paper = closing(gray if whole is None else whole, 15).astype(np.float32)
    paper = by_rows(paper, lambda a: cv2.blur(a, (7, 1)))
    paper = by_cols(paper, lambda a: cv2.blur(a, (7, 1)))
    paper = np.maximum(paper, gray)
    np.maximum(paper, 24.0, out=paper)
    contrast = np.divide(gray, paper, out=paper)
    np.subtract(1.0, contrast, out=contrast)
    return np.asarray(np.clip(contrast, 0.0, 1.0, out=contrast), np.float32)


def _hysteresis(contrast: F32, seed: F32, grow: F32) -> U8:
    """Per tile, the weak ink's components that hold some strong ink."""
    n, h, w = contrast.shape
    weak = np.zeros((n, h + 1, w), bool)  # a blank row keeps tiles apart
    np.greater(contrast, grow[:, None, None], out=weak[:, :h])
    strong = contrast > seed[:, None, None]
    count, labels = cv2.connectedComponents(weak.view(np.uint8).reshape(n * (h + 1), w),
                                            connectivity=8)
    labels = labels.reshape(n, h + 1, w)[:, :h]
    # Weak ink is dense (a third of the tiles): a lookup over all pixels beats listing them.
    keep = np.zeros(count, np.uint8)
    keep[labels[strong]] = 1  # repeats just set 1 again
    keep[0] = 0
    return np.asarray(keep[labels], np.uint8)


def _frame_depth(frame_v: U8) -> tuple[Image, Image]:
    """Per tile, how far the removed side frame reaches into the box from the left and right."""
    profile = np.asarray(frame_v.any(axis=1), bool)
    half = profile.shape[1] // 2
    near, far = profile[:, :half], profile[:, half:]
    left = np.where(near.any(axis=1), half - np.argmax(near[:, ::-1], axis=1), 0)
    right = np.where(far.any(axis=1), half - np.argmax(far, axis=1), 0)
    return left, right


def _at_boundary(lines: U8, axis: int, margin: int) -> U8:
    """Keep line pieces that touch the tile's boundary across `axis` (0: top/bottom rows,
    1: left/right columns): the printed frame lies there, a digit's bar or stem does not.
    `lines` must be empty but within `margin` of those two sides: only the bands are traced."""
    band = lines if axis == 0 else transposed(lines)
    if not band.any():
        return lines
    n, size, _ = band.shape
    ends = np.concatenate([band[:, :margin], band[:, size - margin :]])
    cc = components(ends)
    slack = max(2, round(size * 0.04))
    keep = np.where(cc.tile < n, cc.top <= slack, cc.top + cc.height >= margin - slack)
    kept = select(cc, keep)
    out = np.zeros_like(band)
    out[:, :margin], out[:, size - margin :] = kept[:n], kept[n:]
    return out if axis == 0 else transposed(out)


def _edge_to_edge(lines: U8, depth: tuple[Image, Image]) -> U8:
    """Keep the horizontal pieces that run from one side of the box to the other (up to the
    frame remnants removed at either side, which a printed rule crosses)."""
    if not lines.any():
        return lines
    cc = components(lines)
    size = lines.shape[2]
    slack = max(2, round(size * 0.04))
    near, far = depth[0][cc.tile], depth[1][cc.tile]
    return select(cc, (cc.left <= near + slack) & (cc.left + cc.width >= size - far - slack))


def _long_lines(mask: U8) -> U8:
    """Pixels of straight lines that are print, not writing: frame remnants and rules.

    Frame remnants run along most of a side and touch the box's boundary; a rule runs
    across the box from edge to edge. The bar of a '7' under the top edge, the stem of a
    tall '1' or the side of a '6' match neither and survive. Vertical rules do not occur
    inside the form's boxes, so a stem spanning the whole height is never taken for one.
    """
    _, h, w = mask.shape
    # Bridge the gaps of dotted guides before looking for length.
    edge_h = open_rows(close_rows(mask, 7), int(w * 0.6))
    edge_v = transposed(open_rows(close_rows(transposed(mask), 7), int(h * 0.6)))
    my, mx = max(2, h // 8), max(2, w // 8)
    edge_h[:, my:-my, :] = 0
    edge_v[:, :, mx:-mx] = 0
    frame_v = _at_boundary(edge_v, 1, mx)
    frame = np.bitwise_or(_at_boundary(edge_h, 0, my), frame_v)
    edges = max_filter(frame, 3, 3)
    # With the frame gone, a stroke that nearly fills the box cannot be bridged to it.
    inner = np.asarray(mask & (1 - edges), np.uint8)
    rules = _edge_to_edge(open_rows(close_rows(inner, 7), int(w * 0.85)), _frame_depth(frame_v))
    # Widen by one pixel to take the anti-aliased fringe of the line with it.
    return np.asarray(np.bitwise_or(edges, max_filter(rules, 3, 3)), np.uint8)


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


def _stroke_widths(mask: U8) -> Image:
    """Mean stroke width per tile in pixels: area over half the outline (two sides a stroke)."""
    n, h, w = mask.shape
    padded = np.zeros((n, h + 1, w), np.uint8)  # the blank row is each tile's outer border
    padded[:, :h] = mask
    inner = cv2.erode(padded.reshape(n * (h + 1), w), np.ones((3, 3), np.uint8),
                      borderType=cv2.BORDER_CONSTANT, borderValue=0)
    area = mask.sum(axis=(1, 2), dtype=np.int64)
    outline = area - inner.reshape(n, h + 1, w).sum(axis=(1, 2), dtype=np.int64)
    return np.asarray(area / np.maximum(outline / 2.0, 1.0))


def _spans(present: Any) -> tuple[Image, Image]:
    """Per tile (rows of a 2-D bool array, each with a True): first True and one past the last."""
    first = np.argmax(present, axis=1)
    return first, present.shape[1] - np.argmax(present[:, ::-1], axis=1)


def _thicken(ink: F32, mask: U8, widths: Image) -> F32:
    """Widen fine pen strokes so they reach MNIST's thickness after scaling to 20 px.

    Per tile of the stack, in place; the kernel depends on the tile's ink extent and width.
    """
    (top, bottom), (left, right) = _spans(mask.any(axis=2)), _spans(mask.any(axis=1))
    extents = np.maximum(bottom - top, right - left).tolist()
    for k, (extent, width) in enumerate(zip(extents, widths.tolist(), strict=True)):
        scale = FIT / extent
        grow = int(round(STROKE / scale - width))
        if grow < 1:
            continue
        size = min(grow, 9) + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        ink[k] = cv2.dilate(ink[k], kernel)
    return ink


def _centre(ink: F32) -> U8:
    """Per tile: the ink's bounding box scaled into FIT x FIT, placed by its centre of mass in
    SIZE x SIZE, peak at 255: (N, SIZE, SIZE) uint8. Bounds, centres of mass and the final
    scaling run on the whole stack; only the resize and the placement are per tile."""
    present = ink > 0.05
    (y0s, y1s), (x0s, x1s) = _spans(present.any(axis=2)), _spans(present.any(axis=1))
    n = len(ink)
    # Each tile's scaled ink first at the top left of its own SIZE x SIZE (zeros around it do
    # not move a centre of mass), then moved to where its centre of mass goes.
    scaled = np.zeros((n, SIZE, SIZE), np.float32)
    sizes = []
    bounds = zip(y0s.tolist(), y1s.tolist(), x0s.tolist(), x1s.tolist(), strict=True)
    for k, (y0, y1, x0, x1) in enumerate(bounds):
        bh, bw = y1 - y0, x1 - x0
        scale = FIT / max(bh, bw)
        nh, nw = max(1, round(bh * scale)), max(1, round(bw * scale))
        scaled[k, :nh, :nw] = cv2.resize(ink[k, y0:y1, x0:x1], (nw, nh),
                                         interpolation=cv2.INTER_AREA)
        sizes.append((nh, nw))
    steps = np.arange(SIZE, dtype=np.float64)
    total = scaled.sum(axis=(1, 2), dtype=np.float64)
    cys = (scaled.sum(axis=2, dtype=np.float64) @ steps / total).tolist()
    cxs = (scaled.sum(axis=1, dtype=np.float64) @ steps / total).tolist()
    out = np.zeros_like(scaled)
    for k, ((nh, nw), cy, cx) in enumerate(zip(sizes, cys, cxs, strict=True)):
        # Python's min/max: np.clip on a scalar costs more than the rest of the placement.
        top = min(max(round(SIZE / 2 - cy - 0.5), 0), SIZE - nh)
        left = min(max(round(SIZE / 2 - cx - 0.5), 0), SIZE - nw)
        out[k, top : top + nh, left : left + nw] = scaled[k, :nh, :nw]
    peak = np.maximum(out.max(axis=(1, 2)), np.float32(1e-6))[:, None, None]
    return np.asarray(np.clip(out / peak * 255.0 + 0.5, 0, 255), np.uint8)


def _blank(fraction: float = 0.0) -> Prepared:
    return Prepared(np.zeros((SIZE, SIZE), np.uint8), True, fraction)


def _prepare_stack(work: F32, framed: Image, min_extent: float) -> list[Prepared]:
    """Boxes of one working size (N, H, W) -> one `Prepared` each, in order. `framed`: per
    box, does its crop hold the printed frame (`frametrim`)."""
    n, h, w = work.shape
    result = [_blank() for _ in range(n)]
    contrast = _ink_contrast(work)
    peaks = contrast.max(axis=(1, 2))
    inked = _inked(peaks)
    if not inked.size:
        return result
    contrast, framed, whole = contrast[inked], framed[inked], peaks[inked]
    # Lines are traced on a lower threshold than ink so a faint stretch of a printed rule
    # (JPEG, uneven light) does not break it into short pieces that pass for strokes.
    lines = _long_lines(np.asarray(contrast > LINE_CONTRAST, np.uint8))
    my, mx = max(2, h // 24), max(2, w // 20)
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
    remnant = ~framed & _along_a_side(lines, my, mx) & (whole > inner + REMNANT_MARGIN)
    floor = np.where(remnant, np.float32(REMNANT_FAINT_SEED), np.float32(FRAMED_FAINT_SEED))
    by_writing = framed | remnant
    seed, grow, mask = _ink(contrast, np.where(by_writing, inner, whole))
    mask &= 1 - lines
    mask[by_writing & (inner <= floor)] = 0
    mask, has_stroke = _keep_components(mask, min_extent)
    fraction = mask.sum(axis=(1, 2), dtype=np.int64) / float(h * w)
    _draw(result, inked, (fraction >= MIN_INK_FRACTION) & has_stroke, fraction,
          mask, contrast, seed, grow)
    return result


def _along_a_side(lines: U8, my: int, mx: int) -> Image:
    """Per tile: does a line run along half or more of one of its sides, within `my` rows
    of the top or bottom or `mx` columns of the left or right?"""
    cover = (lines[:, :my].max(axis=1).mean(axis=1), lines[:, -my:].max(axis=1).mean(axis=1),
             lines[:, :, :mx].max(axis=2).mean(axis=1), lines[:, :, -mx:].max(axis=2).mean(axis=1))
    return np.asarray(np.max(cover, axis=0) >= 0.5)


def _inked(peak: Image) -> Image:
    """Tiles holding anything as dark as the faintest pen; clearly blank boxes skip the rest."""
    return np.flatnonzero(peak > FAINT_SEED)


def _ink(contrast: F32, peak: Image | None = None) -> tuple[F32, F32, U8]:
    """Per tile the seed and grow levels of the ink hysteresis (from its peak darkness,
    the whole tile's unless given) and the ink mask they make."""
    peak = contrast.max(axis=(1, 2)) if peak is None else peak
    seed = np.clip(FAINT_RATIO * peak, FAINT_SEED, SEED_CONTRAST).astype(np.float32)
    grow = np.maximum(FAINT_GROW, seed * (GROW_CONTRAST / SEED_CONTRAST)).astype(np.float32)
    return seed, grow, _hysteresis(contrast, seed, grow)


def _draw(result: list[Prepared], inked: Image, written: Image, fraction: Image, mask: U8,
          contrast: F32, seed: F32, grow: F32, barred: Image | None = None) -> None:
    """Fill `result` (in place, at the `inked` tiles' places): blank where nothing is
    written, else the kept ink as a 28x28 model input. `barred`: pixels the soft fringe
    must not take (the printed frame of a framed crop)."""
    for j in np.flatnonzero(~written):
        result[int(inked[j])] = _blank(float(fraction[j]))
    todo = np.flatnonzero(written)
    if not todo.size:
        return
    mask, contrast = mask[todo], contrast[todo]
    seed3, grow3 = seed[todo][:, None, None], grow[todo][:, None, None]
    # Soft ink inside the kept strokes (plus their fringe) gives MNIST-like anti-aliased edges.
    keep = max_filter(mask, 3, 3).astype(bool)
    if barred is not None:
        keep = keep & ~barred[todo].astype(bool) | mask.astype(bool)
    ink = np.subtract(contrast, grow3 * 0.5)
    np.divide(ink, seed3 * 1.5, out=ink)
    np.clip(ink, 0.0, 1.0, out=ink)
    np.copyto(ink, 0.0, where=~keep)
    images = _centre(_thicken(ink, mask, _stroke_widths(mask)))
    for k, j in enumerate(todo):
        result[int(inked[j])] = Prepared(images[k], False, float(fraction[j]))


def prepare_all(crops: list[Image], *, min_extent: float = MIN_EXTENT) -> list[Prepared]:
    """Box crops (grayscale, dark ink on light paper, any size) -> one `Prepared` each, in
    order. `min_extent`: how tall or wide (share of the box) a mark must be to be writing."""
    trimmed = [trim_to_frame(_to_gray(crop)) for crop in crops]
    works = [_resize_to_work(gray) for gray, _ in trimmed]
    framed = np.array([sides >= MIN_SIDES for _, sides in trimmed], bool)
    by_width: dict[int, list[int]] = {}
    for i, work in enumerate(works):
        by_width.setdefault(work.shape[1], []).append(i)
    result: list[Prepared] = [_blank() for _ in crops]
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


def model_input(prepared: list[Prepared]) -> U8:
    """Prepared boxes -> (N, 28, 28, 1) uint8 model input, ink white, in order."""
    out = np.zeros((len(prepared), SIZE, SIZE, 1), np.uint8)
    for i, one in enumerate(prepared):
        out[i, :, :, 0] = one.image
    return out


def prepare_batch(crops: list[Image]) -> U8:
    """All boxes of a page -> (N, 28, 28, 1) uint8, in order."""
    return model_input(prepare_all(crops))
