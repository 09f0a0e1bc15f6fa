"""Mapping points between the photo and its downscaled copies."""

from __future__ import annotations

import numpy as np

from vision.page_fit import apply_homography, to_full, to_level


def test_to_level_undoes_to_full_at_every_scale() -> None:
    pts = np.array([[0.0, 0.0], [10.5, 3.25], [999.0, 1499.0]])
    for scale in (1.0, 0.5, 0.25):
        assert np.allclose(apply_homography(to_level(scale), to_full(pts, scale)), pts)
