"""Photo -> page registration: AprilTag (36h10) + four corner fiducials -> homography.

Stages: find the tag on a downscaled copy (fast), refine its corners at full resolution,
pick the template by tag id, predict where the corner fiducials are, find each one by
template matching in a window around its prediction (coarse, downscaled; a near miss under a
poor prediction is matched again under a fit through it) and refine its saddle point (where
the two squares touch) at full resolution, then fit one page homography
to tag corners + fiducials, dropping outliers. The homography maps page mm to image pixels
(cv2 convention: pixel centres at integers).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vision.page_fit import apply_homography as _apply
from vision.page_fit import box_correspondences as _box_correspondences
from vision.page_fit import local_scale as _local_scale
from vision.page_fit import page_outline as _page_outline
from vision.page_fit import page_quad_guess as _page_quad_guess
from vision.page_fit import to_full as _to_full
from vision.page_fit import to_level as _to_level
from vision.tags import find_tags as _find_tags
from vision.tags import pyramid
from vision.template import OTHER_FORM_TAGS, Fiducial, Template, load_templates

logger = logging.getLogger(__name__)

Image = np.ndarray[Any, Any]
Matrix = np.ndarray[Any, np.dtype[np.float64]]

FIDUCIAL_SEARCH_MM = 90.0  # half window around a fiducial's tag-based prediction
OUTLINE_SEARCH_MM = 30.0  # half window around its prediction from the page outline
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
BOX_SEARCH_MM = (12.0, 3.0)  # field box search margins: coarse, then fine
OUTLIER_MM = 1.5

NOT_A_FORM = "Ini bukan halaman C.Hasil PPWP: kode (AprilTag) di kanan atas tidak ditemukan"


@dataclass(frozen=True)
class RegistrationFailure:
    """Why a photo could not be placed on any known page (officer-facing reason)."""

    reason: str
    tag_id: int | None = None
    other_form: str | None = None


@dataclass(frozen=True)
class Registration:
    tag_id: int
    template: Template
    homography: Matrix  # page mm -> image px
    reprojection_error_px: float  # RMS over the points used in the fit
    reprojection_error_mm: float
    tag_corners_px: Matrix  # 4x2, aruco order
    fiducials_px: tuple[tuple[float, float] | None, ...]  # tl, tr, br, bl; None = not found
    page_polygon_px: Matrix  # 4x2: page corners tl, tr, br, bl in the image
    image_shape: tuple[int, int]
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Fields whose printed boxes were matched and agree with the fit (None: not needed, all
    # four corner marks were found).
    fields_matched: int | None = None

    @property
    def fiducials_found(self) -> int:
        return sum(p is not None for p in self.fiducials_px)

    def project(self, points_mm: Sequence[tuple[float, float]] | Matrix) -> Matrix:
        """Page mm points -> image px (N x 2)."""
        pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 2)
        return _apply(self.homography, pts)

    def px_per_mm_at(self, point_mm: tuple[float, float]) -> float:
        """Local image scale (geometric mean of x and y) around a page point."""
        return _local_scale(self.homography, point_mm)


def tag_side(corners: Matrix) -> float:
    """Mean side of a tag's quad (px)."""
    return float(np.mean(np.hypot(*np.diff(np.vstack([corners, corners[:1]]), axis=0).T)))


def _fiducial_level(
    levels: Sequence[tuple[Image, float]], template: Template, tag_side_px: float
) -> tuple[Image, float]:
    """The smallest copy on which a fiducial square is still FIDUCIAL_MIN_PX wide."""
    square_px = tag_side_px / template.tag_size_mm * min(f.square_mm for f in template.fiducials)
    for image, scale in reversed(levels):
        if square_px * scale >= FIDUCIAL_MIN_PX:
            return image, scale
    return levels[0]


def _refine_corners(gray: Image, pts: Matrix, half_window: int) -> Matrix:
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


def _search_fiducials(
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
        found[i] = _refined(gray, hit, scale, h, fid)


def _refined(gray: Image, hit: tuple[float, float, float], scale: float, h: Matrix,
             fid: Fiducial) -> tuple[float, float]:
    """A match on the small copy -> the saddle point at full resolution."""
    full = _to_full(np.array([hit[:2]]), scale)
    local = _local_scale(h, fid.center_mm)
    refined = _refine_corners(gray, full, round(fid.square_mm * local / 3))[0]
    return (float(refined[0]), float(refined[1]))


def _confirm_near_misses(
    gray: Image, small: Image, scale: float, template: Template, tag_mm: Matrix,
    tag_px: Matrix, found: list[tuple[float, float] | None], page_scale: float,
    near: dict[int, list[tuple[float, float, float]]],
) -> None:
    """Fill in missing fiducials from their near misses (best first): a fit through the spot
    draws the mark with the right shape, and it must then match MIN_MATCH_SCORE there."""
    to_small = _to_level(scale)
    for i, spots in near.items():
        fid = template.fiducials[i]
        for spot in sorted(spots, key=lambda s: -s[2]):
            if found[i] is not None:
                break
            trial = list(found)
            full = _to_full(np.array([spot[:2]]), scale)[0]
            trial[i] = (float(full[0]), float(full[1]))
            h_near, _ = _fit(*_correspondences(template, tag_mm, tag_px, trial), page_scale)
            hit = _match_fiducial(small, to_small @ h_near, fid, REMATCH_MM)
            if hit is not None and hit[2] >= MIN_MATCH_SCORE:
                found[i] = _refined(gray, hit, scale, h_near, fid)
                logger.debug("fiducial %s: near miss %.2f confirmed at %.2f", fid.name,
                             spot[2], hit[2])


def _affine_guess(src_mm: Matrix, dst_px: Matrix) -> Matrix:
    import cv2

    affine, _ = cv2.estimateAffine2D(src_mm, dst_px, method=cv2.LMEDS)
    return np.vstack([affine, [0.0, 0.0, 1.0]]).astype(np.float64)


def _correspondences(
    template: Template, tag_mm: Matrix, tag_px: Matrix,
    found: Sequence[tuple[float, float] | None],
) -> tuple[Matrix, Matrix]:
    src = [tag_mm] + [np.array([f.center_mm]) for f, p in zip(template.fiducials, found,
                                                              strict=True) if p is not None]
    dst = [tag_px] + [np.array([p]) for p in found if p is not None]
    return np.vstack(src), np.vstack(dst)


def _fit(
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
        residual = np.hypot(*(_apply(h, src_mm) - dst_px).T)
        residual[~inliers] = -1.0
        worst = int(np.argmax(residual))
        if residual[worst] <= threshold:
            return h, inliers
        inliers[worst] = False


def register(
    gray: Image,
    *,
    other_forms: Mapping[int, str] | None = None,
    levels: Sequence[tuple[Image, float]] | None = None,
    beside: Executor | None = None,
) -> Registration | RegistrationFailure:
    """Place a grayscale photo on its page template, or say why it cannot be placed.

    `levels`: the photo's `pyramid` when the caller already has it (it reuses the copies).
    `beside`: an executor on which the page's outline is found while the tag is looked for.
    """
    import time

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    other_forms = OTHER_FORM_TAGS if other_forms is None else other_forms
    templates = load_templates()
    levels = pyramid(gray) if levels is None else levels
    timings["pyramid_ms"] = (time.perf_counter() - t0) * 1000
    coarse, coarse_scale = levels[-1]
    outline_px: Future[Matrix | None] | None = None
    if beside is not None:
        outline_px = beside.submit(_page_outline, coarse, coarse_scale)
    tags, ids = _find_tags(levels, tuple(sorted({*templates, *other_forms})))
    timings["tag_ms"] = (time.perf_counter() - t0) * 1000 - timings["pyramid_ms"]
    if not ids:
        return RegistrationFailure(NOT_A_FORM)
    known = [i for i, tag_id in enumerate(ids) if tag_id in templates]
    if not known:
        for tag_id in ids:
            if tag_id in other_forms:
                return RegistrationFailure(
                    f"Ini halaman {other_forms[tag_id]}, bukan C.Hasil PPWP. "
                    "Unggah halaman C.Hasil PPWP (Presiden dan Wakil Presiden).",
                    tag_id=tag_id, other_form=other_forms[tag_id])
        return RegistrationFailure(
            f"Ini bukan halaman C.Hasil PPWP: kode {ids[0]} tidak dikenal", tag_id=ids[0])
    if len({ids[i] for i in known}) > 1:
        return RegistrationFailure(
            "Ada lebih dari satu halaman dalam foto: foto satu halaman saja", tag_id=ids[known[0]])
    index = known[0]
    tag_id = ids[index]
    template = templates[tag_id]

    t1 = time.perf_counter()
    tag_mm = np.array(template.tag_corners_mm, dtype=np.float64)
    tag_side_px = tag_side(tags[index])
    page_scale = tag_side_px / template.tag_size_mm  # px per mm near the tag
    cell_px = tag_side_px / 8
    tag_px = _refine_corners(gray, tags[index], round(cell_px / 3))
    small, scale = _fiducial_level(levels, template, tag_side_px)

    # A full homography from a 32 mm tag extrapolates badly across a 900 mm page; an affine
    # fit is steadier for the first prediction, then found fiducials sharpen the estimate.
    h_guess = _affine_guess(tag_mm, tag_px)
    corners = (_page_outline(coarse, coarse_scale) if outline_px is None
               else outline_px.result())
    outline = _page_quad_guess(corners, template, tag_px)
    searches = (FIDUCIAL_SEARCH_MM, FIDUCIAL_SEARCH_MM / 3)
    if outline is not None:
        h_guess, searches = outline, (OUTLINE_SEARCH_MM, FIDUCIAL_SEARCH_MM)
    found: list[tuple[float, float] | None] = [None] * len(template.fiducials)
    near: dict[int, list[tuple[float, float, float]]] = {}
    for search_mm in searches:
        _search_fiducials(gray, small, scale, template, h_guess, search_mm, found, near)
        if all(p is not None for p in found):
            break
        src_mm, dst_px = _correspondences(template, tag_mm, tag_px, found)
        h_guess, _ = _fit(src_mm, dst_px, page_scale)
    if near and not all(p is not None for p in found):
        before = sum(p is not None for p in found)
        _confirm_near_misses(gray, small, scale, template, tag_mm, tag_px, found, page_scale,
                             near)
        if before < sum(p is not None for p in found) < len(found):
            # The confirmed mark carries the perspective: look again for the others from it.
            h_guess, _ = _fit(*_correspondences(template, tag_mm, tag_px, found), page_scale)
            _search_fiducials(gray, small, scale, template, h_guess, OUTLINE_SEARCH_MM, found)
    timings["fiducials_ms"] = (time.perf_counter() - t1) * 1000

    src_mm, dst_px = _correspondences(template, tag_mm, tag_px, found)
    homography, inliers = _fit(src_mm, dst_px, page_scale)
    # Fiducials the fit rejected were matched on something else: report them as not found.
    for k, fid_index in enumerate(i for i, p in enumerate(found) if p is not None):
        if not inliers[4 + k]:
            found[fid_index] = None
    fields_matched: int | None = None
    if 0 < sum(p is not None for p in found) < len(found):
        t2 = time.perf_counter()
        src_mm, dst_px = _correspondences(template, tag_mm, tag_px, found)
        for margin in BOX_SEARCH_MM:
            box_mm, box_px = _box_correspondences(gray, homography, template, margin)
            homography, box_inliers = _fit(np.vstack([src_mm, box_mm]),
                                           np.vstack([dst_px, box_px]), page_scale)
        fields_matched = int(box_inliers[len(src_mm) :].sum())
        if fields_matched >= 3:
            # The boxes pin the page now: look again, closely, for the marks still missing
            # (searched first from a guess that was too far off).
            _search_fiducials(gray, small, scale, template, homography, OUTLINE_SEARCH_MM, found)
            src_mm, dst_px = _correspondences(template, tag_mm, tag_px, found)
            homography, box_inliers = _fit(np.vstack([src_mm, box_mm]),
                                           np.vstack([dst_px, box_px]), page_scale)
        n_marks = len(src_mm)
        src_mm, dst_px = np.vstack([src_mm, box_mm]), np.vstack([dst_px, box_px])
        inliers = box_inliers
        for k, fid_index in enumerate(i for i, p in enumerate(found) if p is not None):
            if not inliers[4 + k]:
                found[fid_index] = None
        fields_matched = int(inliers[n_marks:].sum())
        timings["boxes_ms"] = (time.perf_counter() - t2) * 1000
    residuals = np.hypot(*(_apply(homography, src_mm[inliers]) - dst_px[inliers]).T)
    error_px = float(np.sqrt(np.mean(residuals**2)))
    width, height = template.page_size_mm
    page_poly = _apply(homography, np.array([[0, 0], [width, 0], [width, height], [0, height]]))
    registration = Registration(
        tag_id=tag_id,
        template=template,
        homography=homography,
        reprojection_error_px=error_px,
        reprojection_error_mm=error_px / _local_scale(homography, (width / 2, height / 2)),
        tag_corners_px=tag_px,
        fiducials_px=tuple(found),
        page_polygon_px=page_poly,
        image_shape=(int(gray.shape[0]), int(gray.shape[1])),
        timings_ms=timings,
        fields_matched=fields_matched,
    )
    timings["total_ms"] = (time.perf_counter() - t0) * 1000
    logger.debug("registered tag %s: %s/4 fiducials, rms %.2f px", tag_id,
                 registration.fiducials_found, error_px)
    return registration


def rectify(
    gray: Image,
    registration: Registration,
    px_per_mm: float,
    region_mm: tuple[float, float, float, float] | None = None,
) -> Image:
    """The page (or a region x, y, w, h of it, mm) straightened at `px_per_mm`."""
    import cv2

    x, y, w, h = region_mm or (0.0, 0.0, *registration.template.page_size_mm)
    # Output pixel (u, v) centre is page point (x + (u + 0.5) / k, y + (v + 0.5) / k).
    k = px_per_mm
    out_to_page = np.array([[1 / k, 0, x + 0.5 / k], [0, 1 / k, y + 0.5 / k], [0, 0, 1.0]])
    size = (max(1, round(w * k)), max(1, round(h * k)))
    out: Image = cv2.warpPerspective(
        gray, registration.homography @ out_to_page, size,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return out
