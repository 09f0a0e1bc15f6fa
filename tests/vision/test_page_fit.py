"""Mapping points between the photo and its downscaled copies; the page's outline."""

from __future__ import annotations

import cv2
import numpy as np

from vision.page_fit import apply_homography, page_outline, to_full, to_level


def test_to_level_undoes_to_full_at_every_scale() -> None:
    pts = np.array([[0.0, 0.0], [10.5, 3.25], [999.0, 1499.0]])
    for scale in (1.0, 0.5, 0.25):
        assert np.allclose(apply_homography(to_level(scale), to_full(pts, scale)), pts)


def _corners_found(found: np.ndarray, quad: np.ndarray) -> float:
    """Largest distance from a true corner to the nearest corner found (px)."""
    return float(max(np.min(np.hypot(*(found - corner).T)) for corner in quad))


def test_the_page_outline_is_its_four_corners() -> None:
    image = np.full((1000, 750), 40, np.uint8)
    quad = np.array([[180, 60], [700, 120], [640, 880], [90, 780]], np.float64)
    cv2.fillConvexPoly(image, quad.astype(np.int32), 230)
    found = page_outline(image, 1.0)
    assert found is not None and _corners_found(found, quad) < 4


def test_something_bright_touching_the_page_does_not_hide_its_outline() -> None:
    # A lit table edge beside the sheet joins the page's bright region and adds a corner to
    # its hull: the outline then still aims the corner-mark search.
    image = np.full((1000, 750), 40, np.uint8)
    quad = np.array([[260, 40], [730, 100], [650, 900], [80, 780]], np.float64)
    cv2.fillConvexPoly(image, quad.astype(np.int32), 230)
    cv2.fillConvexPoly(image, np.array([[150, 190], [215, 200], [200, 330], [130, 300]]), 230)
    found = page_outline(image, 1.0)
    assert found is not None and _corners_found(found, quad) < 25


def test_a_bright_region_that_is_no_quad_gives_no_outline() -> None:
    image = np.full((1000, 750), 40, np.uint8)
    cv2.circle(image, (375, 500), 300, 230, -1)
    assert page_outline(image, 1.0) is None
