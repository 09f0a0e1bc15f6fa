"""The page's tag: found on a downscaled copy, with aruco's cheap threshold first."""

from __future__ import annotations

import cv2
import numpy as np

from vision.register import Registration, register
from vision.tags import MIN_TAG_PERIMETER_RATE, THRESHOLD_WINDOWS, detect, pyramid


def test_pyramid_levels_halve_exactly() -> None:
    gray = np.zeros((3001, 4001), np.uint8)
    levels = pyramid(gray, long_side=1100)
    assert [lv[0].shape for lv in levels] == [(3001, 4001), (1500, 2000), (750, 1000)]
    assert [lv[1] for lv in levels] == [1.0, 0.5, 0.25]


def test_a_tag_the_narrow_threshold_misses_is_found_by_the_wide_one() -> None:
    from vision.synthetic import synthetic_photo

    photo = synthetic_photo(1, seed=20_048, difficulty="hard")
    gray = np.asarray(cv2.imdecode(np.frombuffer(photo.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE))
    small, scale = pyramid(gray)[-1]
    narrow, wide = THRESHOLD_WINDOWS
    # The premise (if the generator changes, pick another hard photo where it holds):
    assert detect(small, scale, MIN_TAG_PERIMETER_RATE, (101,), (narrow, narrow)) == ([], [])
    assert detect(small, scale, MIN_TAG_PERIMETER_RATE, (101,), (wide, wide))[1] == [101]
    registration = register(gray)
    assert isinstance(registration, Registration) and registration.tag_id == 101


def test_a_page_far_off_in_a_12_mp_photo_is_found_on_the_full_photo() -> None:
    """Its tag's cells are ~3 px on the half-size copy, which decodes only at some sampling
    phases; the full photo decodes it. The page is then told to come closer (quality), not
    that it is some other paper."""
    from vision.render import render_page

    page = render_page(1, 120.0)
    h, w = page.shape
    k = 1.6  # px per mm: the 600 x 900 mm page as 960 x 1440 px of a 3000 x 4000 frame
    x0, y0 = 1500 - 300 * k, 2000 - 450 * k
    quad = np.array([[x0, y0], [x0 + 600 * k, y0], [x0 + 600 * k, y0 + 900 * k],
                     [x0, y0 + 900 * k]], np.float32)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(corners, quad)
    photo = cv2.warpPerspective(page, m, (3000, 4000), flags=cv2.INTER_AREA, borderValue=70)
    levels = pyramid(photo)
    half, half_scale = levels[1]
    # The premise (if the renderer changes, pick another k where it holds):
    assert detect(half, half_scale, 0.02, (101,), THRESHOLD_WINDOWS) == ([], [])
    registration = register(photo)
    assert isinstance(registration, Registration) and registration.tag_id == 101
    assert abs(registration.px_per_mm_at((300.0, 450.0)) - k) < 0.05
