"""The corner marks a poor guess could not find, looked for over the whole photo.

A strongly tilted page whose outline is lost (a shadow over its edge, a sheet touching it)
leaves the far marks to the tag's extrapolation: measured 600-1,100 px off, drawn at half
their size, far outside any window, and the page was refused as "cut off" with all four
corners in the frame (10 of the 14 refusals among the benchmark's 500 photos). Spots shaped
like a mark are then collected over the whole photo (`mark_spots`) and each tried as a near
miss is (`fiducials.rematch`: a fit through it must match the mark's drawn shape); the best
match is kept (`search_everywhere`). `vision.register` calls it with two or more marks still
missing: tag + three marks predict the fourth within a few mm.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from vision.fiducials import MIN_MATCH_SCORE, SCALE_REACH, refined, rematch
from vision.page_fit import apply_homography as _apply
from vision.page_fit import correspondences, fit_homography
from vision.page_fit import to_full as _to_full
from vision.page_fit import to_level as _to_level
from vision.template import Template

logger = logging.getLogger(__name__)

Image = np.ndarray[Any, Any]
Matrix = np.ndarray[Any, np.dtype[np.float64]]

SPOT_LEVEL_MIN_PX = 4.0  # the tag's-scale square on the copy the spots are looked for on
SPOT_CONTRAST = 25  # grey levels under the local mean: ink, even in a shadow
SPOT_FILL = (0.3, 0.75)  # of the spot's bounding box: two squares touching, any turn
SPOT_TRIES = 12  # spots tried per missing mark, the nearest to its prediction


def mark_spots(image: Image, square_px: float, axes: Matrix) -> Matrix:
    """Centres (px of `image`, N x 2) of dark spots shaped like a corner mark whose squares are
    about `square_px` wide, give or take a tilt's perspective. `axes`: the page's x and y
    directions in the image (2 x 2, rows), from the tag: the mark's two squares lie on the
    diagonal they make, its other two quarters are paper."""
    import cv2

    low, high = (square_px * k for k in SCALE_REACH)
    # The local mean over several marks' width: a shadow across the page moves it with the
    # paper, so a mark in the shade is as dark against it as one in the light.
    block = 2 * round(3 * high) + 1
    dark = cv2.adaptiveThreshold(image, 255, cv2.ADAPTIVE_THRESH_MEAN_C,
                                 cv2.THRESH_BINARY_INV, block, SPOT_CONTRAST)
    _, _, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    x, y, w, h, area = (stats[1:, k].astype(np.float64) for k in range(5))
    fill = area / np.maximum(w * h, 1.0)
    keep = ((np.minimum(w, h) >= 1.2 * low) & (np.maximum(w, h) <= 3.0 * high)
            & (np.maximum(w, h) <= 2.5 * np.minimum(w, h))
            & (area >= low * low) & (area <= 2.6 * high * high)
            & (fill >= SPOT_FILL[0]) & (fill <= SPOT_FILL[1]))
    # Two equal squares touching at a corner: the box's centre is where they touch.
    centres = np.column_stack([x + (w - 1) / 2, y + (h - 1) / 2])[keep]
    side = np.sqrt(area[keep] / 2)[:, None]  # each square's, from the spot's area
    u, v = axes / np.linalg.norm(axes, axis=1, keepdims=True)
    hh, ww = dark.shape

    def ink(offset: Matrix) -> np.ndarray[Any, np.dtype[np.bool_]]:
        px = np.rint(centres + side * offset).astype(int)
        px = np.clip(px, 0, [ww - 1, hh - 1])
        return np.asarray(dark[px[:, 1], px[:, 0]] > 0)

    # The squares' centres sit half a side along the page's diagonal from where they touch.
    shaped = (ink(-0.5 * (u + v)) & ink(0.5 * (u + v))
              & ~ink(0.5 * (u - v)) & ~ink(-0.5 * (u - v)))
    out: Matrix = centres[shaped]
    return out


def search_everywhere(
    gray: Image, levels: Sequence[tuple[Image, float]], small: Image, scale: float,
    template: Template, h_guess: Matrix, tag_mm: Matrix, tag_px: Matrix,
    found: list[tuple[float, float] | None], page_scale: float,
) -> None:
    """Fill in missing marks (in `found`) from spots anywhere in the photo (`mark_spots`),
    each confirmed as a near miss is (on `small`, `scale`)."""
    missing = [i for i, p in enumerate(found) if p is None]
    square_mm = min(f.square_mm for f in template.fiducials)
    image, image_scale = next(((im, s) for im, s in reversed(levels)
                               if page_scale * s * square_mm >= SPOT_LEVEL_MIN_PX), levels[0])
    centre = np.array([tag_mm.mean(axis=0)])
    origin = _apply(h_guess, centre)
    axes = np.vstack([_apply(h_guess, centre + d) - origin for d in ([1.0, 0.0], [0.0, 1.0])])
    spots = _to_full(mark_spots(image, page_scale * image_scale * square_mm, axes), image_scale)
    # Twice round: a mark found aims the search for the others better.
    for turn, i in enumerate(missing * 2):
        if found[i] is not None or not len(spots):
            continue
        taken = np.array([p for p in found if p is not None])
        if len(taken):  # a spot that is already a found mark is not another one
            gap = np.hypot(*(spots[:, None] - taken[None]).transpose(2, 0, 1))
            spots = spots[gap.min(axis=1) > square_mm * page_scale]
        if turn:
            h_guess, _ = fit_homography(
                *correspondences(template, tag_mm, tag_px, found), page_scale)
        pred = _apply(h_guess, np.array([template.fiducials[i].center_mm]))[0]
        nearest = np.argsort(np.hypot(*(spots - pred).T))[:SPOT_TRIES]
        # Each spot tried; the one the mark's drawn shape matches best is kept, so a spot that
        # only looks like a mark loses to the mark.
        tried = [rematch(small, scale, template, tag_mm, tag_px, found, page_scale, i,
                          _to_level_pt(spots[k], scale)) for k in nearest]
        hits = [(hit[2], hit, h) for hit, h in tried if hit is not None]
        if hits:
            score, hit, h_near = max(hits, key=lambda t: t[0])
            if score >= MIN_MATCH_SCORE:
                found[i] = refined(gray, hit, scale, h_near, template.fiducials[i])
                logger.debug("fiducial %s: found away from its prediction at %.2f",
                             template.fiducials[i].name, score)


def _to_level_pt(point: Matrix, scale: float) -> tuple[float, float]:
    x, y = _apply(_to_level(scale), np.array([point]))[0]
    return (float(x), float(y))
