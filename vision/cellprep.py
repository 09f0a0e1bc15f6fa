"""Digit box crop -> 28x28 model input, white ink on black (the MNIST recipe).

The model only ever sees what this module produces, at training time and on the box, so a
box photographed at 3 px/mm and one scanned at 12 px/mm must come out alike. Every crop is
first resized to a fixed working height; all kernel sizes below are in working pixels.

Stages: background (paper, shadows, watermark) estimated by a grey closing and divided out;
ink contrast thresholded with hysteresis; long straight lines (box border remnants, ruling
lines, dotted guides) removed; specks and edge slivers dropped; blank decided by ink mass;
the ink's bounding box scaled into 20x20 and centred by its centre of mass in 28x28.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

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
LINE_CONTRAST = 0.10
MIN_INK_FRACTION = 0.006  # of the working area: less than this is a blank box
MIN_EXTENT = 0.22  # a mark shorter than this (of the box height) and narrower (of width) is a speck
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


def _resize_to_work(gray: F32) -> Image:
    h, w = gray.shape
    scale = WORK_H / h
    new_w = int(np.clip(round(w * scale), 16, 3 * WORK_H))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(gray, (new_w, WORK_H), interpolation=interp), np.float32)


def ink_contrast(gray: F32) -> Image:
    """Per-pixel darkness relative to the local paper brightness, 0 (paper) .. 1 (black)."""
    # A grey closing wider than any pen stroke erases the ink and keeps the paper, its shadows
    # and gradients; the median smooths the closing's blocky steps.
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (15, 15))
    paper = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)
    paper = cv2.blur(paper, (7, 7))
    paper = np.maximum(paper, gray)
    return np.clip(1.0 - gray / np.maximum(paper, 24.0), 0.0, 1.0)


def _hysteresis(contrast: Image) -> U8:
    weak = (contrast > GROW_CONTRAST).astype(np.uint8)
    strong = contrast > SEED_CONTRAST
    n, labels = cv2.connectedComponents(weak, connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = False
    return np.asarray(keep[labels], np.uint8)


def _morph(img: U8, op: int, kh: int, kw: int) -> U8:
    kernel = np.ones((max(1, kh), max(1, kw)), np.uint8)
    if op == cv2.MORPH_CLOSE:  # OpenCV's default border leaves edges untouched by a closing
        return np.asarray(cv2.morphologyEx(img, op, kernel), np.uint8)
    # ...but would extend strokes touching the edge into "lines" of any length in an opening.
    out = cv2.morphologyEx(img, op, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return np.asarray(out, np.uint8)


def _frame_depth(frame: U8, axis: int) -> tuple[int, int]:
    """How far the removed frame reaches into the box from each side along `axis`."""
    profile = np.asarray(frame.any(axis=1 - axis), bool)
    size = profile.size
    near = np.flatnonzero(profile[: size // 2])
    far = np.flatnonzero(profile[size // 2 :])
    return (int(near.max()) + 1 if near.size else 0, size // 2 - int(far.min()) if far.size else 0)


def _edge_to_edge(lines: U8, axis: int, depth: tuple[int, int]) -> U8:
    """Keep the line pieces that run from one side of the box to the other along `axis`
    (up to the frame remnants removed at either side, which a printed rule crosses)."""
    if not lines.any():
        return lines
    n, labels, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
    size = lines.shape[axis]
    start = stats[:, cv2.CC_STAT_LEFT if axis == 1 else cv2.CC_STAT_TOP]
    length = stats[:, cv2.CC_STAT_WIDTH if axis == 1 else cv2.CC_STAT_HEIGHT]
    slack = max(2, round(size * 0.04))
    keep = (start <= depth[0] + slack) & (start + length >= size - depth[1] - slack)
    keep[0] = False
    return np.asarray(keep[labels], np.uint8)


def _at_boundary(lines: U8, axis: int) -> U8:
    """Keep line pieces that touch the crop's boundary across `axis` (0: top/bottom rows,
    1: left/right columns): the printed frame lies there, a digit's bar or stem does not."""
    if not lines.any():
        return lines
    n, labels, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
    size = lines.shape[axis]
    start = stats[:, cv2.CC_STAT_TOP if axis == 0 else cv2.CC_STAT_LEFT]
    length = stats[:, cv2.CC_STAT_HEIGHT if axis == 0 else cv2.CC_STAT_WIDTH]
    slack = max(2, round(size * 0.04))
    keep = (start <= slack) | (start + length >= size - slack)
    keep[0] = False
    return np.asarray(keep[labels], np.uint8)


def _long_lines(mask: U8) -> U8:
    """Pixels of straight lines that are print, not writing: frame remnants and rules.

    Frame remnants run along most of a side and touch the crop's boundary; a rule runs
    across the box from edge to edge. The bar of a '7' under the top edge, the stem of a
    tall '1' or the side of a '6' match neither and survive. Vertical rules do not occur
    inside the form's boxes, so a stem spanning the whole height is never taken for one.
    """
    h, w = mask.shape
    # Bridge the gaps of dotted guides before looking for length.
    edge_h = _morph(_morph(mask, cv2.MORPH_CLOSE, 1, 7), cv2.MORPH_OPEN, 1, int(w * 0.6))
    edge_v = _morph(_morph(mask, cv2.MORPH_CLOSE, 7, 1), cv2.MORPH_OPEN, int(h * 0.6), 1)
    my, mx = max(2, h // 8), max(2, w // 8)
    edge_h[my:-my, :] = 0
    edge_v[:, mx:-mx] = 0
    frame_v = _at_boundary(edge_v, 1)
    frame = np.bitwise_or(_at_boundary(edge_h, 0), frame_v)
    edges = np.asarray(cv2.dilate(frame, np.ones((3, 3), np.uint8)), np.uint8)
    # With the frame gone, a stroke that nearly fills the box cannot be bridged to it.
    inner = np.asarray(mask & (1 - edges), np.uint8)
    full_h = _morph(_morph(inner, cv2.MORPH_CLOSE, 1, 7), cv2.MORPH_OPEN, 1, int(w * 0.85))
    rules = _edge_to_edge(full_h, 1, _frame_depth(frame_v, 1))
    # Widen by one pixel to take the anti-aliased fringe of the line with it.
    widened = np.asarray(cv2.dilate(rules, np.ones((3, 3), np.uint8)), np.uint8)
    return np.asarray(np.bitwise_or(edges, widened), np.uint8)


def _keep_components(mask: U8) -> U8:
    """Drop specks and slivers left at the edges; keep every stroke of the written mark."""
    h, w = mask.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    largest = int(areas.max())
    x0, y0 = stats[1:, cv2.CC_STAT_LEFT], stats[1:, cv2.CC_STAT_TOP]
    x1 = x0 + stats[1:, cv2.CC_STAT_WIDTH]
    y1 = y0 + stats[1:, cv2.CC_STAT_HEIGHT]
    big_enough = areas >= max(MIN_AREA, 0.08 * largest)
    # Border remnants that escaped line removal: small pieces hugging one edge.
    mx, my = max(2, w // 10), max(2, h // 12)
    in_margin = (x1 <= mx) | (x0 >= w - mx) | (y1 <= my) | (y0 >= h - my)
    keep = np.concatenate([[False], big_enough & ~(in_margin & (areas < 0.5 * largest))])
    return np.asarray(keep[labels], np.uint8)


def _has_a_stroke(mask: U8) -> bool:
    """True when one connected mark is tall or wide enough to be writing, not dust."""
    h, w = mask.shape
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    tall = stats[1:, cv2.CC_STAT_HEIGHT] >= MIN_EXTENT * h
    wide = stats[1:, cv2.CC_STAT_WIDTH] >= MIN_EXTENT * w
    return bool((tall | wide).any())


def _stroke_width(mask: U8) -> float:
    """Mean stroke width in pixels: area over half the outline (a stroke has two sides)."""
    inner = cv2.erode(
        mask, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0
    )
    outline = int(mask.sum()) - int(inner.sum())
    return float(mask.sum()) / max(outline / 2.0, 1.0)


def _thicken(
    ink: F32, mask: U8
) -> F32:
    """Widen fine pen strokes so they reach MNIST's thickness after scaling to 20 px."""
    ys, xs = np.nonzero(mask)
    scale = FIT / max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    grow = int(round(STROKE / scale - _stroke_width(mask)))
    if grow < 1:
        return ink
    size = min(grow, 9) + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return np.asarray(cv2.dilate(ink, kernel), np.float32)


def _centre(ink: F32) -> U8:
    ys, xs = np.nonzero(ink > 0.05)
    box = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    bh, bw = box.shape
    scale = FIT / max(bh, bw)
    nh, nw = max(1, round(bh * scale)), max(1, round(bw * scale))
    small = cv2.resize(box, (nw, nh), interpolation=cv2.INTER_AREA)
    total = float(small.sum())
    cy = float((small.sum(axis=1) * np.arange(nh)).sum()) / total
    cx = float((small.sum(axis=0) * np.arange(nw)).sum()) / total
    top = int(np.clip(round(SIZE / 2 - cy - 0.5), 0, SIZE - nh))
    left = int(np.clip(round(SIZE / 2 - cx - 0.5), 0, SIZE - nw))
    out = np.zeros((SIZE, SIZE), np.float32)
    out[top : top + nh, left : left + nw] = small
    peak = max(float(out.max()), 1e-6)
    return np.asarray(np.clip(out / peak * 255.0 + 0.5, 0, 255), np.uint8)


def prepare_one(crop: Image) -> Prepared:
    """Prepare one box and report whether it is blank."""
    work = _resize_to_work(_to_gray(crop))
    contrast = ink_contrast(work)
    mask = _hysteresis(contrast)
    # Lines are traced on a lower threshold than ink so a faint stretch of a printed rule
    # (JPEG, uneven light) does not break it into short pieces that pass for strokes.
    mask &= 1 - _long_lines(np.asarray(contrast > LINE_CONTRAST, np.uint8))
    mask = _keep_components(mask)
    h, w = mask.shape
    fraction = float(mask.sum()) / (h * w)
    if fraction < MIN_INK_FRACTION:
        return Prepared(np.zeros((SIZE, SIZE), np.uint8), True, fraction)
    if not _has_a_stroke(mask):
        return Prepared(np.zeros((SIZE, SIZE), np.uint8), True, fraction)
    # Soft ink inside the kept strokes (plus their fringe) gives MNIST-like anti-aliased edges.
    keep = cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(bool)
    strength = np.clip((contrast - GROW_CONTRAST * 0.5) / (SEED_CONTRAST * 1.5), 0.0, 1.0)
    ink = np.where(keep, strength, 0.0).astype(np.float32)
    return Prepared(_centre(_thicken(ink, mask)), False, fraction)


def prepare(crop: Image) -> U8:
    """Grayscale box interior (dark ink on light paper, any size) -> 28x28 uint8, ink white."""
    return prepare_one(crop).image


def prepare_batch(crops: list[Image]) -> U8:
    """All boxes of a page -> (N, 28, 28, 1) uint8, in order."""
    out = np.zeros((len(crops), SIZE, SIZE, 1), np.uint8)
    for i, crop in enumerate(crops):
        out[i, :, :, 0] = prepare(crop)
    return out
