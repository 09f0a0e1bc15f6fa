"""Page geometry helpers for registration: point mapping, the page outline, printed boxes,
and the homography fit itself.

`page_outline` + `page_quad_guess` aim the corner-mark search from the page's bright outline
(it carries the perspective a 32 mm tag cannot); `box_correspondences` matches each field's
printed boxes near a homography's guess, so a page with a corner mark missing is still pinned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vision.template import FieldSpec, Template

Image = np.ndarray[Any, Any]
Matrix = np.ndarray[Any, np.dtype[np.float64]]

PAGE_MIN_AREA_SHARE = 0.15  # of the frame: smaller bright regions are not the page
OUTLINE_TOLERANCES = (0.02, 0.03, 0.04, 0.05)  # of the outline's perimeter
OUTLINE_COVER = 0.9  # of the bright region's hull that the quad must cover
PAGE_QUAD_TAG_MM = 15.0  # the outline must put each tag corner within this of where it is
# With a corner mark missing, tag + 3 marks leave the far corner to extrapolation (measured:
# 1-10 mm off, once 40 mm, with small residuals). The printed digit boxes, spread over the
# page at known places, then pin the page: each field's boxes matched as one pattern.
BOX_MATCH_PX_PER_MM = 3.0
BOX_MATCH_SCORE = 0.5
OUTLIER_MM = 1.5  # a fit's point farther off than this is dropped


def apply_homography(h: Matrix, pts: Matrix) -> Matrix:
    homog = np.hstack([pts, np.ones((len(pts), 1))]) @ h.T
    out: Matrix = homog[:, :2] / homog[:, 2:3]
    return out


def to_full(pts_small: Matrix, scale: float) -> Matrix:
    # Pixel centres: small px p covers full-res [(p) / s, (p + 1) / s), centre (p + 0.5) / s - 0.5.
    out: Matrix = (pts_small + 0.5) / scale - 0.5
    return out


def to_level(scale: float) -> Matrix:
    """Full-res px -> px of a copy scaled by `scale` (the inverse of `to_full`), as a 3x3."""
    return np.array([[scale, 0, 0.5 * scale - 0.5], [0, scale, 0.5 * scale - 0.5], [0, 0, 1.0]])


def local_scale(h: Matrix, point_mm: tuple[float, float]) -> float:
    """Image px per page mm around a page point (geometric mean of x and y)."""
    x, y = point_mm
    p = apply_homography(h, np.array([(x, y), (x + 1.0, y), (x, y + 1.0)]))
    return float(np.sqrt(np.hypot(*(p[1] - p[0])) * np.hypot(*(p[2] - p[0]))))


def page_outline(small: Image, scale: float) -> Matrix | None:
    """The page's outline, a bright quad, as 4 full-res corners (order unknown), or None.

    Needs no tag: it can be found while the tag is looked for.
    """
    import cv2

    blurred = cv2.GaussianBlur(small, (5, 5), 0)
    _, bright = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    contours, _ = cv2.findContours(bright, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    outline = max(contours, key=cv2.contourArea)
    if cv2.contourArea(outline) < PAGE_MIN_AREA_SHARE * small.shape[0] * small.shape[1]:
        return None
    hull = cv2.convexHull(outline)
    perimeter = cv2.arcLength(hull, True)
    # Something bright touching the page (a lit table edge, a sheet beside it) adds a corner
    # to the hull: coarser approximations drop it. The quad only aims the corner-mark search
    # and must put the tag where it was found (`page_quad_guess`), so a coarse one is safe.
    # A coarse quad must still cover the region: a round blob also simplifies to four points.
    for tolerance in OUTLINE_TOLERANCES:
        quad = cv2.approxPolyDP(hull, tolerance * perimeter, True)
        if len(quad) < 4:
            break
        if len(quad) == 4 and cv2.contourArea(quad) >= OUTLINE_COVER * cv2.contourArea(hull):
            return to_full(quad.reshape(4, 2).astype(np.float64), scale)
    return None


def page_quad_guess(
    corners_px: Matrix | None, template: Template, tag_px: Matrix
) -> Matrix | None:
    """Page mm -> full-res px from the page's outline (`page_outline`), or None.

    The tag alone cannot predict the far corners of a tilted page (perspective), and tag +
    the two top fiducials are nearly collinear: the bottom ones were then searched 100+ px
    from where they are. The page outline is coarse (a few mm) but carries the perspective.
    It is used only to aim the fiducial search, and only when it puts the tag where it is.
    """
    import cv2

    if corners_px is None:
        return None
    width, height = template.page_size_mm
    page_mm = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    tag_mm = np.array(template.tag_corners_mm, dtype=np.float64)
    best: tuple[float, Matrix] | None = None
    # The quad's corner order is unknown: try each rotation (both windings), keep the one
    # that puts the tag where it was found, each corner where it is: a quad that also holds
    # a sheet under the page can put the tag's centre in place turned or mirrored (the far
    # marks were then looked for in each other's places, and one was taken for another).
    for order in (corners_px, corners_px[::-1]):
        for shift in range(4):
            h = np.asarray(cv2.getPerspectiveTransform(
                page_mm.astype(np.float32), np.roll(order, shift, axis=0).astype(np.float32)),
                dtype=np.float64)
            miss = float(np.hypot(*(apply_homography(h, tag_mm) - tag_px).T).max())
            if best is None or miss < best[0]:
                best = (miss, h)
    assert best is not None
    miss, h = best
    if miss > PAGE_QUAD_TAG_MM * local_scale(h, tuple(tag_mm.mean(axis=0))):
        return None
    return h


def _field_offset_mm(
    gray: Image, h: Matrix, field: FieldSpec, margin_mm: float
) -> tuple[float, float] | None:
    """Where a field's printed boxes really are, relative to where `h` puts them (mm)."""
    import cv2

    k = BOX_MATCH_PX_PER_MM
    line = field.line_mm
    x0, y0, w, h_mm = field.bbox_mm
    pad = line + 1.0
    ideal = np.full((round((h_mm + 2 * pad) * k), round((w + 2 * pad) * k)), 255, np.uint8)
    for bx, by, bw, bh in field.boxes_mm:
        outer = ((bx - line - x0 + pad) * k, (by - line - y0 + pad) * k)
        cv2.rectangle(ideal, (round(outer[0]), round(outer[1])),
                      (round(outer[0] + (bw + 2 * line) * k) - 1,
                       round(outer[1] + (bh + 2 * line) * k) - 1), 0, max(1, round(line * k)))
    region = (x0 - pad - margin_mm, y0 - pad - margin_mm, w + 2 * (pad + margin_mm),
              h_mm + 2 * (pad + margin_mm))
    out_to_page = np.array([[1 / k, 0, region[0] + 0.5 / k], [0, 1 / k, region[1] + 0.5 / k],
                            [0, 0, 1.0]])
    size = (round(region[2] * k), round(region[3] * k))
    window = cv2.warpPerspective(gray, h @ out_to_page, size,
                                 flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    scores = cv2.matchTemplate(window, ideal, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    if best < BOX_MATCH_SCORE:
        return None
    dx = bx + peak_offset(scores[by, max(0, bx - 1) : bx + 2], bx)
    dy = by + peak_offset(scores[max(0, by - 1) : by + 2, bx], by)
    return (dx / k - margin_mm, dy / k - margin_mm)


def peak_offset(values: Image, index: int) -> float:
    """Sub-pixel peak from a parabola through the best score and its two neighbours."""
    if index == 0 or len(values) < 3:
        return 0.0
    left, mid, right = (float(v) for v in values)
    curvature = left - 2 * mid + right
    return 0.5 * (left - right) / curvature if curvature < 0 else 0.0


def box_correspondences(
    gray: Image, h: Matrix, template: Template, margin_mm: float
) -> tuple[Matrix, Matrix]:
    """Field centres (mm) and where their printed boxes are found (px) near `h`'s guess."""
    src, dst = [], []
    for spec in template.fields:
        found = _field_offset_mm(gray, h, spec, margin_mm)
        if found is None:
            continue
        x, y, w, h_mm = spec.bbox_mm
        centre = (x + w / 2, y + h_mm / 2)
        src.append(centre)
        dst.append(apply_homography(h, np.array([[centre[0] + found[0], centre[1] + found[1]]]))[0])
    return np.array(src, dtype=np.float64).reshape(-1, 2), np.array(dst).reshape(-1, 2)


def affine_guess(src_mm: Matrix, dst_px: Matrix) -> Matrix:
    """An affine map (as a 3x3 homography) through page mm -> image px points, robustly."""
    import cv2

    affine, _ = cv2.estimateAffine2D(src_mm, dst_px, method=cv2.LMEDS)
    return np.vstack([affine, [0.0, 0.0, 1.0]]).astype(np.float64)


def correspondences(
    template: Template, tag_mm: Matrix, tag_px: Matrix,
    found: Sequence[tuple[float, float] | None],
) -> tuple[Matrix, Matrix]:
    """The fit's point pairs: the tag's corners, then each corner mark found (page mm, px)."""
    src = [tag_mm] + [np.array([f.center_mm]) for f, p in zip(template.fiducials, found,
                                                              strict=True) if p is not None]
    dst = [tag_px] + [np.array([p]) for p in found if p is not None]
    return np.vstack(src), np.vstack(dst)


def fit_homography(
    src_mm: Matrix, dst_px: Matrix, scale_px_per_mm: float
) -> tuple[Matrix, np.ndarray[Any, np.dtype[np.bool_]]]:
    """Least-squares homography, dropping the worst point while any misses by > threshold.

    With at most 8 points, mostly good, this is steadier than RANSAC's early stopping.
    """
    import cv2

    inliers: np.ndarray[Any, np.dtype[np.bool_]] = np.ones(len(src_mm), dtype=np.bool_)
    threshold = OUTLIER_MM * scale_px_per_mm
    while True:
        if inliers.sum() == 4:
            exact = cv2.getPerspectiveTransform(src_mm[inliers].astype(np.float32),
                                                dst_px[inliers].astype(np.float32))
            return np.asarray(exact, dtype=np.float64), inliers
        found, _ = cv2.findHomography(src_mm[inliers], dst_px[inliers], 0)
        h: Matrix = np.asarray(found, dtype=np.float64)
        residual = np.hypot(*(apply_homography(h, src_mm) - dst_px).T)
        residual[~inliers] = -1.0
        worst = int(np.argmax(residual))
        if residual[worst] <= threshold:
            return h, inliers
        inliers[worst] = False
