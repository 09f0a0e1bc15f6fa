"""The renderer draws the measured template: the tag decodes, boxes sit where the template says."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.render import mm_to_px, page_shape_px, render_page, write_pdf, write_png
from vision.template import template_for_page

DPI = 100.0


def _tag(gray: np.ndarray) -> tuple[int, np.ndarray]:
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    detector = cv2.aruco.ArucoDetector(
        cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_APRILTAG_36h10), params)
    corners, ids, _ = detector.detectMarkers(gray)
    assert ids is not None and len(ids) == 1
    return int(np.asarray(ids).ravel()[0]), np.asarray(corners[0], float).reshape(4, 2)


@pytest.mark.parametrize("page", [1, 2, 3])
def test_page_has_its_tag_at_the_measured_corners(page: int) -> None:
    template = template_for_page(page)
    gray = render_page(page, DPI)
    assert gray.dtype == np.uint8 and gray.shape == page_shape_px(template, DPI)
    assert gray.shape == (3543, 2362)
    tag_id, corners = _tag(gray)
    assert tag_id == 100 + page
    h = mm_to_px(DPI)
    expected = np.array([h[:2, :2] @ c + h[:2, 2] for c in template.tag_corners_mm])
    assert np.abs(corners - expected).max() < 1.0  # px at 100 dpi, i.e. < 0.25 mm


@pytest.mark.parametrize("page", [1, 2, 3])
def test_box_interiors_are_white_and_bordered_where_the_template_says(page: int) -> None:
    template = template_for_page(page)
    gray = render_page(page, DPI)
    k = DPI / 25.4
    for field in template.fields:
        for x, y, w, h in field.boxes_mm:
            inner = gray[round(y * k) + 2 : round((y + h) * k) - 2,
                         round(x * k) + 2 : round((x + w) * k) - 2]
            assert inner.min() > 240, field.name
            # The printed border just outside the interior, mid-height on the left.
            border = gray[round((y + h / 2) * k), round((x - field.line_mm / 2) * k)]
            assert border < 100, field.name


def test_fiducials_are_two_dark_squares_touching_at_the_centre() -> None:
    template = template_for_page(1)
    gray = render_page(1, DPI)
    k = DPI / 25.4
    for fid in template.fiducials:
        cx, cy = fid.center_mm
        d = fid.square_mm / 2
        assert gray[round((cy - d) * k), round((cx - d) * k)] < 60  # top-left square
        assert gray[round((cy + d) * k), round((cx + d) * k)] < 60  # bottom-right square
        assert gray[round((cy - d) * k), round((cx + d) * k)] > 200
        assert gray[round((cy + d) * k), round((cx - d) * k)] > 200


def test_page2_bubbles_are_drawn_rings() -> None:
    template = template_for_page(2)
    gray = render_page(2, 200.0)
    k = 200.0 / 25.4
    for field in template.fields:
        for column in field.bubbles:
            for cx, cy in column.centers_mm:
                ring = gray[round(cy * k), round((cx - column.radius_mm + 0.15) * k) - 1:
                            round((cx - column.radius_mm + 0.15) * k) + 2]
                assert ring.min() < 120


def test_pdf_is_printable_at_the_real_size(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    path = write_pdf(3, tmp_path / "p3.pdf", dpi=60.0)
    pdf = pdfium.PdfDocument(str(path))
    width_pt, height_pt = pdf[0].get_size()
    assert width_pt * 25.4 / 72 == pytest.approx(600.0, abs=1.0)
    assert height_pt * 25.4 / 72 == pytest.approx(900.0, abs=1.0)
    png = write_png(3, tmp_path / "p3.png", dpi=60.0)
    back = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    assert back is not None
    assert back.shape == page_shape_px(template_for_page(3), 60.0)
    assert _tag(back)[0] == 103
