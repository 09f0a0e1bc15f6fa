"""The page's four corner fiducials (double squares): found by template matching, refined.

Each mark is drawn as the current homography guess puts it and matched in a window around its
prediction on a downscaled copy of the photo (coarse); a near miss under a poor guess is
fitted in and matched again; the match's saddle point (where the two squares touch) is then
refined at full resolution. `vision.register` composes these with the tag and the fit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from vision.page_fit import apply_homography as _apply
from vision.page_fit import correspondences, fit_homography
from vision.page_fit import local_scale as _local_scale
from vision.page_fit import to_full as _to_full
from vision.page_fit import to_level as _to_level
from vision.template import Fiducial, Template

logger = logging.getLogger(__name__)

Image = np.ndarray[Any, Any]
Matrix = np.ndarray[Any, np.dtype[np.float64]]

MIN_MATCH_SCORE = 0.55
# A fiducial's best spot under a poor guess (the tag alone cannot predict the perspective of
# the far marks) can score under MIN_MATCH_SCORE only because the ideal mark was drawn with
# the wrong shape. Such near misses are fitted into the guess one at a time and matched again,
# REMATCH_MM around, with the mark drawn as that fit puts it: only a MIN_MATCH_SCORE match is
# kept. Measured on photos of KPU's own PDF page (its printed tables and text beside the
# marks, which our render leaves out): page 2 photos with all four corners in the frame were
# told "cut off", their bottom marks at 0.45-0.52 under the first guess.
NEAR_MATCH_SCORE = 0.4
REMATCH_MM = 8.0
FIDUCIAL_MIN_PX = 7.0  # fiducial square side on the copy used for template matching
# A mark's scale against the tag's: a tilt past quality.REFUSE_SCALE_RATIO (3) is refused.
SCALE_REACH = (1 / 3, 3.0)


def fiducial_level(
    levels: Sequence[tuple[Image, float]], template: Template, tag_side_px: float
) -> tuple[Image, float]:
    """The smallest copy on which a fiducial square is still FIDUCIAL_MIN_PX wide."""
    square_px = tag_side_px / template.tag_size_mm * min(f.square_mm for f in template.fiducials)
    for image, scale in reversed(levels):
        if square_px * scale >= FIDUCIAL_MIN_PX:
            return image, scale
    return levels[0]


def refine_corners(gray: Image, pts: Matrix, half_window: int) -> Matrix:
    """Corners (tag corners, a mark's saddle point) refined to subpixel at full resolution."""
    import cv2

    half_window = max(2, half_window)
    h, w = gray.shape
    inside = np.all((pts > half_window + 1) & (pts < np.array([w, h]) - half_window - 2), axis=1)
    if not inside.all():
        return pts
    refined = pts.astype(np.float32).reshape(-1, 1, 2).copy()
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 40, 0.01)
    cv2.cornerSubPix(gray, refined, (half_window, half_window), (-1, -1), criteria)
    out: Matrix = refined.reshape(-1, 2).astype(np.float64)
    # A corner that wandered far was pulled onto something else: keep the detection.
    moved = np.hypot(*(out - pts).T)
    out[moved > half_window] = pts[moved > half_window]
    return out


def _fiducial_squares_mm(pattern: str, square: float) -> list[tuple[float, float, float, float]]:
    """Dark squares (x, y, w, h) relative to the fiducial centre."""
    if pattern == "tl-br":
        return [(-square, -square, square, square), (0.0, 0.0, square, square)]
    return [(0.0, -square, square, square), (-square, 0.0, square, square)]


def _match_fiducial(
    small: Image, h_small: Matrix, fid: Fiducial, search_mm: float
) -> tuple[float, float, float] | None:
    """Locate one fiducial in the downscaled image: (x, y) of its saddle point, small px, and
    the match's score (TM_CCOEFF_NORMED); None when the window holds no match at all."""
    import cv2

    cx, cy = fid.center_mm
    square, pattern = fid.square_mm, fid.pattern
    # Ideal fiducial drawn in page mm and warped through the current homography estimate.
    half = square * 1.6
    res = 8.0  # px per mm of the ideal drawing
    n = round(2 * half * res)
    ideal = np.full((n, n), 255, np.uint8)
    for x, y, w, h in _fiducial_squares_mm(pattern, square):
        x0, y0 = round((x + half) * res), round((y + half) * res)
        ideal[y0 : y0 + round(h * res), x0 : x0 + round(w * res)] = 0
    ideal_to_page = np.array([[1 / res, 0, cx - half], [0, 1 / res, cy - half], [0, 0, 1.0]])
    corners_page = np.array([[cx - half, cy - half], [cx + half, cy - half],
                             [cx + half, cy + half], [cx - half, cy + half]])
    corners_img = _apply(h_small, corners_page)
    x0, y0 = np.floor(corners_img.min(axis=0)).astype(int)
    x1, y1 = np.ceil(corners_img.max(axis=0)).astype(int)
    if x1 - x0 < 6 or y1 - y0 < 6:
        return None
    if x1 - x0 > small.shape[1] or y1 - y0 > small.shape[0]:
        return None  # a guess through a wrong spot can fold the page: no mark is that big
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1.0]])
    patch = cv2.warpPerspective(ideal, shift @ h_small @ ideal_to_page,
                                (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_AREA,
                                borderValue=255)
    # Search window around the prediction, clipped to the image.
    scale = float(np.mean(np.hypot(*np.diff(corners_img, axis=0).T))) / (2 * half)
    pad = round(search_mm * scale)
    pred = _apply(h_small, np.array([[cx, cy]]))[0]
    hs, ws = small.shape
    wx0, wy0 = max(0, round(pred[0]) - pad - patch.shape[1] // 2), max(
        0, round(pred[1]) - pad - patch.shape[0] // 2)
    wx1 = min(ws, round(pred[0]) + pad + patch.shape[1] // 2 + 1)
    wy1 = min(hs, round(pred[1]) + pad + patch.shape[0] // 2 + 1)
    window = small[wy0:wy1, wx0:wx1]
    if window.shape[0] <= patch.shape[0] or window.shape[1] <= patch.shape[1]:
        return None
    scores = cv2.matchTemplate(window, patch, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    if best < NEAR_MATCH_SCORE:
        logger.debug("fiducial %s: best match %.2f", fid.name, best)
        return None
    # Where the centre sits inside the warped patch.
    centre_in_patch = _apply(shift @ h_small, np.array([[cx, cy]]))[0]
    x, y = wx0 + bx + centre_in_patch[0], wy0 + by + centre_in_patch[1]
    if not (0 <= x < ws and 0 <= y < hs):
        return None
    return (float(x), float(y), float(best))


def search_fiducials(
    gray: Image, small: Image, scale: float, template: Template, h: Matrix, search_mm: float,
    found: list[tuple[float, float] | None],
    near: dict[int, list[tuple[float, float, float]]] | None = None,
) -> None:
    """Fill in the fiducials still missing in `found` (full-res px), searched near `h`'s guess.

    `near` collects, per fiducial, the spots (small px, score) that scored under
    MIN_MATCH_SCORE but at least NEAR_MATCH_SCORE."""
    to_small = _to_level(scale)
    for i, fid in enumerate(template.fiducials):
        if found[i] is not None:
            continue
        hit = _match_fiducial(small, to_small @ h, fid, search_mm)
        if hit is None:
            continue
        if hit[2] < MIN_MATCH_SCORE:
            logger.debug("fiducial %s: near miss %.2f", fid.name, hit[2])
            if near is not None:
                near.setdefault(i, []).append(hit)
            continue
        found[i] = refined(gray, hit, scale, h, fid)


def refined(gray: Image, hit: tuple[float, float, float], scale: float, h: Matrix,
             fid: Fiducial) -> tuple[float, float]:
    """A match on the small copy -> the saddle point at full resolution."""
    full = _to_full(np.array([hit[:2]]), scale)
    local = _local_scale(h, fid.center_mm)
    refined = refine_corners(gray, full, round(fid.square_mm * local / 3))[0]
    return (float(refined[0]), float(refined[1]))


def confirm_near_misses(
    gray: Image, small: Image, scale: float, template: Template, tag_mm: Matrix,
    tag_px: Matrix, found: list[tuple[float, float] | None], page_scale: float,
    near: dict[int, list[tuple[float, float, float]]],
) -> None:
    """Fill in missing fiducials from their near misses (best first): a fit through the spot
    draws the mark with the right shape, and it must then match MIN_MATCH_SCORE there."""
    for i, spots in near.items():
        fid = template.fiducials[i]
        for spot in sorted(spots, key=lambda s: -s[2]):
            if found[i] is not None:
                break
            hit, h_near = rematch(small, scale, template, tag_mm, tag_px, found, page_scale,
                                   i, spot[:2])
            if hit is not None and hit[2] >= MIN_MATCH_SCORE:
                found[i] = refined(gray, hit, scale, h_near, fid)
                logger.debug("fiducial %s: near miss %.2f confirmed at %.2f", fid.name,
                             spot[2], hit[2])


def rematch(
    small: Image, scale: float, template: Template, tag_mm: Matrix, tag_px: Matrix,
    found: Sequence[tuple[float, float] | None], page_scale: float, i: int,
    spot: tuple[float, float],
) -> tuple[tuple[float, float, float] | None, Matrix]:
    """Mark `i` matched again REMATCH_MM around `spot` (small px), drawn as a fit through the
    tag, the marks found and the spot puts it; and that fit."""
    trial = list(found)
    full = _to_full(np.array([spot]), scale)[0]
    trial[i] = (float(full[0]), float(full[1]))
    h_near, _ = fit_homography(*correspondences(template, tag_mm, tag_px, trial), page_scale)
    if not _plausible(h_near, template.fiducials[i].center_mm, tag_mm, page_scale):
        return None, h_near
    hit = _match_fiducial(small, _to_level(scale) @ h_near, template.fiducials[i], REMATCH_MM)
    return hit, h_near


def _plausible(h: Matrix, point_mm: tuple[float, float], tag_mm: Matrix,
               page_scale: float) -> bool:
    """Whether a fit through a trial spot could be a photo of the page: not mirrored or
    folded between the tag and the mark, its scale there within a tilt's reach of the tag's.
    A spot far from its mark can bend a fit so that the mark is drawn as a speck or a sliver,
    which then matches anything (measured: scores of 1.00 there)."""
    def jacobian(at: tuple[float, float]) -> Matrix:
        x, y = at
        p = _apply(h, np.array([(x, y), (x + 1.0, y), (x, y + 1.0)]))
        out: Matrix = np.column_stack([p[1] - p[0], p[2] - p[0]])
        return out

    tag_centre = tuple(float(v) for v in tag_mm.mean(axis=0))
    at_tag, at_mark = jacobian((tag_centre[0], tag_centre[1])), jacobian(point_mm)
    if np.linalg.det(at_tag) * np.linalg.det(at_mark) <= 0:
        return False
    low, high = SCALE_REACH
    ratio = np.sqrt(abs(np.linalg.det(at_mark))) / page_scale
    sides = np.linalg.norm(at_mark, axis=0)
    return bool(low <= ratio <= high and sides.max() <= 2.5 * sides.min())
