"""Kept ink -> the model's 28x28 input, the MNIST recipe: strokes thickened to MNIST's width,
the bounding box scaled into 20x20, centred by its centre of mass in 28x28, peak at 255.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from vision.tiles import max_filter

Image = np.ndarray[Any, Any]
U8 = np.ndarray[Any, np.dtype[np.uint8]]
F32 = np.ndarray[Any, np.dtype[np.float32]]

SIZE = 28
FIT = 20
STROKE = 2.2  # target stroke width in the 28x28 image, about MNIST's
# A marker's strokes (a felt-tip, `synthetic.MARKER_MM`), scaled to 20 px, are wider than
# nearly all the model learnt from (the default hand's boxes, cut by the pipeline: median 2.2,
# 99th percentile 4.3; a marker's: median 3.9, 95th percentile 5.5): thinned to THIN_TO when
# the caller knows them for a marker's (`framedprep.MARKER_MIN_MM`). On 60 photos' boxes,
# thinned above 4.5: marker writing 97.16% -> 98.23% read right, the default hand's the same
# (99.47%); above 4.0 or 3.5: 98.46 / 98.52%, the default 99.41% (one box).
THIN_ABOVE = 4.5
THIN_TO = 3.0
# A solid mark with no length to it has no shape to read: a blob, a dot, a dash barely
# longer than wide. Measured on the mark's own ellipse (the one with its second moments): it
# fills at least SHAPELESS_FILL of it (a filled ellipse fills 1, a rectangle 0.955; a digit's
# strokes, holes and bends far less) and is under SHAPELESS_ASPECT times as long as wide (a
# written `1` is longer). The model reads such a mark as a `0` or an `8` and can be sure:
# hunt find 2002052 (small writing with a marker, 8 MP) had two `1`s shrunk to dots (fill
# 0.996 and 1.0, 1.6 and 1.4 long) read `0` 0.98 sure beside a real `0`, also a dot, and
# L + P = J held at 0 + 0 = 0. The first look's written boxes (2026-12-08; 60 photos each):
# the default hand 0 of 1,690; a marker 15 of 1,692 (2 read wrong); written small 23 of
# 1,664 (4 wrong); written small with a marker 990 of 1,637 (506 wrong).
SHAPELESS_FILL = 0.97
SHAPELESS_ASPECT = 2.0
SHAPELESS_SCREEN = 4.5  # only marks under this many stroke widths across are measured
# Such a box's confidence, scaled: at most half sure, as a partly seen box's
# (`page_boxes.PARTLY_SEEN_SHARE`): one holding sum beside sure boxes may settle it.
SHAPELESS_SHARE = 0.5


@dataclass(frozen=True)
class Prepared:
    """One box ready for the model, with what the preparation measured."""

    image: U8
    blank: bool
    ink_fraction: float
    blot: bool = False  # blacked out somewhere (`vision.blots`): never a sure reading
    cut: bool = False  # its writing runs on past the crop's edge: part of it is not seen
    shapeless: bool = False  # a blob or a dot (`shapeless`): never a sure reading


def blank_box(fraction: float = 0.0) -> Prepared:
    return Prepared(np.zeros((SIZE, SIZE), np.uint8), True, fraction)


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


def _extents(mask: U8) -> Image:
    """Per tile (each with ink): the longer side of the ink's bounding box, pixels."""
    (top, bottom), (left, right) = _spans(mask.any(axis=2)), _spans(mask.any(axis=1))
    return np.asarray(np.maximum(bottom - top, right - left))


def shapeless(mask: U8, widths: Image, extents: Image) -> Image:
    """Per tile (each with ink; its strokes' mean width, its longer side): is the mark a
    solid blob (SHAPELESS_FILL, SHAPELESS_ASPECT)? Only marks under SHAPELESS_SCREEN stroke
    widths across are measured: a blob's longer side is at most ~3.6 of them (a disk's 2.6),
    most writing's far more, and measuring every box cost ~0.9 ms a page."""
    near = np.flatnonzero(extents < SHAPELESS_SCREEN * widths)
    out = np.zeros(len(mask), bool)
    if near.size:
        out[near] = _solid_and_short(mask[near])
    return out


def _solid_and_short(mask: U8) -> Image:
    """Per tile: does the mark fill its moments' ellipse and is it barely longer than wide?
    From the tile's moments, through its row and column sums."""
    m = mask.astype(np.float64)
    ys, xs = np.arange(m.shape[1], dtype=np.float64), np.arange(m.shape[2], dtype=np.float64)
    rows, cols = m.sum(axis=2), m.sum(axis=1)
    area = np.maximum(rows.sum(axis=1), 1.0)
    cy, cx = rows @ ys / area, cols @ xs / area
    vy = rows @ (ys * ys) / area - cy * cy
    vx = cols @ (xs * xs) / area - cx * cx
    cov = (m @ xs) @ ys / area - cx * cy
    half, det = (vy + vx) / 2, np.maximum(vy * vx - cov * cov, 1e-9)
    spread = np.sqrt(np.maximum(half * half - det, 0.0))
    fill = area / (4 * np.pi * np.sqrt(det))
    aspect = np.sqrt((half + spread) / np.maximum(half - spread, 1e-9))
    return np.asarray((fill >= SHAPELESS_FILL) & (aspect < SHAPELESS_ASPECT))


def _to_mnist_width(ink: F32, extents: Image, widths: Image,
                    marker_px: float | None = None) -> F32:
    """Widen fine pen strokes so they reach MNIST's thickness after scaling to 20 px, and thin
    a marker's (at least `marker_px` wide, and wider than THIN_ABOVE there) to THIN_TO.

    Per tile of the stack, in place; the kernel depends on the tile's ink extent and width.
    """
    for k, (extent, width) in enumerate(zip(extents.tolist(), widths.tolist(), strict=True)):
        scale = FIT / extent
        if marker_px is not None and width >= marker_px and width * scale > THIN_ABOVE:
            # An erosion by a disk n + 1 across takes n px off a stroke's width.
            shrink = int(round(width - THIN_TO / scale))
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (shrink + 1, shrink + 1))
            ink[k] = cv2.erode(ink[k], kernel)
            continue
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


def draw(result: list[Prepared], inked: Image, written: Image, fraction: Image, mask: U8,
         contrast: F32, seed: F32, grow: F32, barred: Image | None = None,
         marker_px: float | None = None) -> None:
    """Fill `result` (in place, at the `inked` tiles' places): blank where nothing is
    written, else the kept ink as a 28x28 model input. `barred`: pixels the soft fringe
    must not take (the printed frame of a framed crop). `marker_px`: strokes this wide are
    a marker's (`_to_mnist_width`); None, the crop's scale unknown: none is."""
    for j in np.flatnonzero(~written):
        result[int(inked[j])] = blank_box(float(fraction[j]))
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
    widths, extents = _stroke_widths(mask), _extents(mask)
    blobs = shapeless(mask, widths, extents).tolist()
    images = _centre(_to_mnist_width(ink, extents, widths, marker_px))
    for k, j in enumerate(todo):
        result[int(inked[j])] = Prepared(images[k], False, float(fraction[j]),
                                         shapeless=blobs[k])


def with_blots(result: list[Prepared], blots: Image) -> list[Prepared]:
    """`result` with the boxes `blots` says are blacked out (`vision.blots`) marked so."""
    return [replace(one, blot=True) if blot else one
            for one, blot in zip(result, blots.tolist(), strict=True)]


def model_input(prepared: list[Prepared]) -> U8:
    """Prepared boxes -> (N, 28, 28, 1) uint8 model input, ink white, in order."""
    out = np.zeros((len(prepared), SIZE, SIZE, 1), np.uint8)
    for i, one in enumerate(prepared):
        out[i, :, :, 0] = one.image
    return out
