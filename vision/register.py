"""Photo -> page registration: AprilTag (36h10) + four corner fiducials -> homography.

Stages: find the tag on a downscaled copy (fast), refine its corners at full resolution,
pick the template by tag id, predict where the corner fiducials are, find each one by
template matching in a window around its prediction (coarse, downscaled; a near miss under a
poor prediction is matched again under a fit through it; with two or more still missing,
every mark-shaped spot in the photo is tried so) and refine its saddle point (where the two
squares touch) at full resolution, then fit one page homography to tag corners + fiducials,
dropping outliers. The homography maps page mm to image pixels
(cv2 convention: pixel centres at integers).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vision.fiducials import (
    confirm_near_misses,
    fiducial_level,
    refine_corners,
    search_fiducials,
)
from vision.mark_search import search_everywhere
from vision.page_fit import affine_guess, correspondences, fit_homography
from vision.page_fit import apply_homography as _apply
from vision.page_fit import box_correspondences as _box_correspondences
from vision.page_fit import local_scale as _local_scale
from vision.page_fit import page_outline as _page_outline
from vision.page_fit import page_quad_guess as _page_quad_guess
from vision.tags import every_known_tag, pyramid
from vision.tags import find_tags as _find_tags
from vision.template import OTHER_FORM_TAGS, Template, load_templates

logger = logging.getLogger(__name__)

Image = np.ndarray[Any, Any]
Matrix = np.ndarray[Any, np.dtype[np.float64]]

FIDUCIAL_SEARCH_MM = 90.0  # half window around a fiducial's tag-based prediction
OUTLINE_SEARCH_MM = 30.0  # half window around its prediction from the page outline
BOX_SEARCH_MM = (12.0, 3.0)  # field box search margins: coarse, then fine

NOT_A_FORM = "Ini bukan halaman C.Hasil PPWP: kode (AprilTag) di kanan atas tidak ditemukan"
MORE_THAN_ONE_PAGE = "Ada lebih dari satu halaman dalam foto: foto satu halaman saja"


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
    corners = (_page_outline(coarse, coarse_scale) if outline_px is None
               else outline_px.result())
    found: list[tuple[int, Matrix]] = []
    for i in known:
        _add_tag(found, ids[i], tags[i])

    def place(page: int, tag_corners: Matrix) -> Registration:
        return _place(gray, levels, templates[page], tag_corners, corners, timings, t0)

    if len(found) == 1:
        ((page, tag_corners),) = found
        placed = place(page, tag_corners)
        if _whole(placed):
            return placed
        # Pages hung side by side on a wall: the left neighbour's tag (its top right corner)
        # is beside the photographed page's top left, and the search stops at the first tag
        # it finds. Before the page is called cut off, every tag is looked for.
        more_corners, more_ids = every_known_tag(levels, tuple(templates))
        for tag_id, pts in zip(more_ids, more_corners, strict=True):
            _add_tag(found, tag_id, pts)
        whole = [other for other in (place(p, pts) for p, pts in found[1:]) if _whole(other)]
        return whole[0] if len(whole) == 1 else placed
    # The photographed page is the one whole in the frame, all its corner marks found; a
    # neighbour's far marks are out of it. Two copies of a page (two TPS's sheets on one
    # table) count as two pages: reading either could give one TPS another's numbers.
    whole = [p for p in (place(page, pts) for page, pts in found) if _whole(p)]
    if len(whole) == 1:
        logger.debug("tags %s in the photo: tag %s is the whole page", [page for page, _ in found],
                     whole[0].tag_id)
        return whole[0]
    return RegistrationFailure(MORE_THAN_ONE_PAGE, tag_id=ids[known[0]])


def _add_tag(found: list[tuple[int, Matrix]], tag_id: int, corners: Matrix) -> None:
    """Add a tag seen at `corners` unless it is one already in `found`: a detector may outline
    one tag twice, or on two levels; another copy of the same page lies at least a page away."""
    centre = corners.mean(axis=0)
    if not any(page == tag_id and np.hypot(*(pts.mean(axis=0) - centre)) < tag_side(pts)
               for page, pts in found):
        found.append((tag_id, corners))


def _whole(registration: Registration) -> bool:
    return registration.fiducials_found == len(registration.template.fiducials)


def _place(gray: Image, levels: Sequence[tuple[Image, float]], template: Template,
           tag_corners: Matrix, corners: Matrix | None, timings: dict[str, float],
           t0: float) -> Registration:
    """The photo on `template`'s page, from its tag's corners (full-res px) and the bright
    outline of the paper (`page_outline`'s corners, None when not found)."""
    import time

    timings = dict(timings)  # this placement's own: a photo may be placed on two pages
    t1 = time.perf_counter()
    tag_id = template.tag_id
    tag_mm = np.array(template.tag_corners_mm, dtype=np.float64)
    tag_side_px = tag_side(tag_corners)
    page_scale = tag_side_px / template.tag_size_mm  # px per mm near the tag
    cell_px = tag_side_px / 8
    tag_px = refine_corners(gray, tag_corners, round(cell_px / 3))
    small, scale = fiducial_level(levels, template, tag_side_px)

    # A full homography from a 32 mm tag extrapolates badly across a 900 mm page; an affine
    # fit is steadier for the first prediction, then found fiducials sharpen the estimate.
    h_guess = affine_guess(tag_mm, tag_px)
    outline = _page_quad_guess(corners, template, tag_px)
    searches = (FIDUCIAL_SEARCH_MM, FIDUCIAL_SEARCH_MM / 3)
    if outline is not None:
        h_guess, searches = outline, (OUTLINE_SEARCH_MM, FIDUCIAL_SEARCH_MM)
    found: list[tuple[float, float] | None] = [None] * len(template.fiducials)
    near: dict[int, list[tuple[float, float, float]]] = {}
    for search_mm in searches:
        search_fiducials(gray, small, scale, template, h_guess, search_mm, found, near)
        if all(p is not None for p in found):
            break
        src_mm, dst_px = correspondences(template, tag_mm, tag_px, found)
        h_guess, _ = fit_homography(src_mm, dst_px, page_scale)
    if near and not all(p is not None for p in found):
        before = sum(p is not None for p in found)
        confirm_near_misses(gray, small, scale, template, tag_mm, tag_px, found, page_scale,
                             near)
        if before < sum(p is not None for p in found) < len(found):
            # The confirmed mark carries the perspective: look again for the others from it.
            h_guess, _ = fit_homography(
                *correspondences(template, tag_mm, tag_px, found), page_scale)
            search_fiducials(gray, small, scale, template, h_guess, OUTLINE_SEARCH_MM, found)
    if sum(p is not None for p in found) < 3:
        # Tag + three marks predict the fourth within a few mm (a mark missing then is out
        # of the frame or covered, and the printed boxes pin the page below); with fewer,
        # a tilted page's far marks are anywhere.
        search_everywhere(gray, levels, small, scale, template, h_guess, tag_mm, tag_px,
                          found, page_scale)
    timings["fiducials_ms"] = (time.perf_counter() - t1) * 1000

    src_mm, dst_px = correspondences(template, tag_mm, tag_px, found)
    homography, inliers = fit_homography(src_mm, dst_px, page_scale)
    # Fiducials the fit rejected were matched on something else: report them as not found.
    for k, fid_index in enumerate(i for i, p in enumerate(found) if p is not None):
        if not inliers[4 + k]:
            found[fid_index] = None
    fields_matched: int | None = None
    if 0 < sum(p is not None for p in found) < len(found):
        t2 = time.perf_counter()
        src_mm, dst_px = correspondences(template, tag_mm, tag_px, found)
        for margin in BOX_SEARCH_MM:
            box_mm, box_px = _box_correspondences(gray, homography, template, margin)
            homography, box_inliers = fit_homography(np.vstack([src_mm, box_mm]),
                                           np.vstack([dst_px, box_px]), page_scale)
        fields_matched = int(box_inliers[len(src_mm) :].sum())
        if fields_matched >= 3:
            # The boxes pin the page now: look again, closely, for the marks still missing
            # (searched first from a guess that was too far off).
            search_fiducials(gray, small, scale, template, homography, OUTLINE_SEARCH_MM, found)
            src_mm, dst_px = correspondences(template, tag_mm, tag_px, found)
            homography, box_inliers = fit_homography(np.vstack([src_mm, box_mm]),
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
