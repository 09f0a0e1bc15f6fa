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
