"""Ink in a box crop: each pixel's darkness against its local paper, and the ink mask.

The paper (its shadows, gradients, watermark) is estimated by a grey closing wider than any pen
stroke and divided out; the ink is thresholded with hysteresis, its levels set per box from
the box's own peak darkness so a faint pen is kept and paper grain is not. Works on a stack of
tiles (N, H, W) as `vision.tiles` lays them out.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from vision.tiles import by_cols, by_rows, closing

Image = np.ndarray[Any, Any]
U8 = np.ndarray[Any, np.dtype[np.uint8]]
F32 = np.ndarray[Any, np.dtype[np.float32]]

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
# A phone's grain in dim light (an evening count under one lamp: the paper at grey 90-140,
# noise 5-10 levels) reaches FAINT_SEED on an empty box, and the specks grown from it were
# read as digits. The levels then rise above the grain: the paper's median contrast plus
# this many sigmas, both taken from the grain's lightest quarter (`noise_floors`).
NOISE_SEED = 5.0
NOISE_GROW = 3.0
NOISE_CAP = 1.5
# The paper estimate's closing (working px, ~4-5 mm on a box): wider than any pen's stroke, a
# marker's (1.5-3 mm) included. Wider, 21 or 27, read marker writing no better (60 photos).
# Kept at 15 px at the closer look's 4 px/mm too (3.75 mm there, which a marker `4`'s filled
# corner outlasts, doubted as a blot: seed 10140). 5 mm at every scale (21 px closer) read
# that `4`, but the benchmark's 500 photos went to a person 5.6% -> 6.4% of pages, fields
# flagged 148 -> 176 (2026-12-07).
PAPER_CLOSING = 15


def paper_level(gray: F32, whole: U8 | None = None) -> F32:
    """The paper under each pixel, its shadows and gradients included: a grey closing wider
    than any pen stroke erases the ink, a box blur smooths the closing's blocky steps.

    `whole`: the same pixels as bytes, when they are whole numbers (framed crops come straight
    from the photo): the closing's max and min are the same on bytes, and several times faster.
    A dark patch wider than the closing (a box blacked out) stays: it is taken for paper.
    """
    paper = closing(gray if whole is None else whole, PAPER_CLOSING).astype(np.float32)
    paper = by_rows(paper, lambda a: cv2.blur(a, (7, 1)))
    return by_cols(paper, lambda a: cv2.blur(a, (7, 1)))


def ink_contrast(gray: F32, whole: U8 | None = None, paper: F32 | None = None) -> F32:
    """Per-pixel darkness relative to the local paper brightness, 0 (paper) .. 1 (black).

    `paper`: `paper_level(gray, whole)` when the caller has it already.
    """
    paper = np.maximum(paper_level(gray, whole) if paper is None else paper, gray)
    np.maximum(paper, 24.0, out=paper)
    contrast = np.divide(gray, paper, out=paper)
    np.subtract(1.0, contrast, out=contrast)
    return np.asarray(np.clip(contrast, 0.0, 1.0, out=contrast), np.float32)


def hysteresis(contrast: F32, seed: F32, grow: F32) -> U8:
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


def inked_tiles(peak: Image, floor: Image) -> Image:
    """Tiles holding anything darker than `floor` (per tile, `noise_floors`' seed: the
    faintest pen's, or the photo's grain above it); clearly blank boxes skip the rest."""
    return np.flatnonzero(peak > floor)


def noise_floors(contrast: F32, region: tuple[int, int, int, int]) -> tuple[F32, F32]:
    """Per tile, the seed and grow levels the paper's own grain reaches inside `region`
    (y0, y1, x0, x1): its median contrast plus NOISE_SEED / NOISE_GROW sigmas, never under
    FAINT_SEED / FAINT_GROW. Measured on every other pixel: the grain is 2 px wide."""
    y0, y1, x0, x1 = region
    sample = contrast[:, y0:y1:2, x0:x1:2].reshape(len(contrast), -1)
    # From the darkness's lowest quarter: ink only ever adds to the upper part (a bold `0`
    # and its blur fill a third of its box, and levels taken over all of it rose above the
    # `0` itself). For a normal grain the 5th and 25th percentiles lie 1.64 and 0.67 sigma
    # under its median. (The lowest tenth is no steadier: the paper's estimate is the
    # grain's upper envelope, so the darkness is cut off at 0 there.)
    p5, p25 = np.percentile(sample, (5, 25), axis=1)
    sigma = (p25 - p5) / 0.97
    level = p25 + 0.67 * sigma
    seed = np.maximum(FAINT_SEED, level + NOISE_SEED * sigma)
    grow = np.maximum(FAINT_GROW, level + NOISE_GROW * sigma)
    # The grain is the photo's: a box far above the others' median (a digit written over
    # most of it, a blot) is held to NOISE_CAP times that, so its writing is not taken for
    # paper (measured: big writing's boxes at 0.2-2.4 where the grain was under 0.16).
    held = np.minimum(1.0, NOISE_CAP * np.median(seed) / seed)  # grow held alike
    seed = np.maximum(FAINT_SEED, seed * held)
    grow = np.maximum(FAINT_GROW, grow * held)
    return seed.astype(np.float32), grow.astype(np.float32)


def ink_levels(contrast: F32, peak: Image | None = None,
               floors: tuple[F32, F32] | None = None) -> tuple[F32, F32, U8]:
    """Per tile the seed and grow levels of the ink hysteresis (from its peak darkness,
    the whole tile's unless given) and the ink mask they make. `floors`: per tile, the
    lowest seed and grow the photo's grain allows (`noise_floors`)."""
    peak = contrast.max(axis=(1, 2)) if peak is None else peak
    seed = np.clip(FAINT_RATIO * peak, FAINT_SEED, SEED_CONTRAST).astype(np.float32)
    grow = np.maximum(FAINT_GROW, seed * (GROW_CONTRAST / SEED_CONTRAST)).astype(np.float32)
    if floors is not None:
        seed = np.maximum(seed, floors[0])
        grow = np.maximum(grow, floors[1])
    return seed, grow, hysteresis(contrast, seed, grow)
