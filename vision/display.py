"""The straightened page the officer and the PPK see: the whole page at PX_PER_MM.

Shown beside what was read and when a person reviews it; stored with the upload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from vision.page_fit import to_level
from vision.register import Registration, rectify

Gray = np.ndarray[Any, np.dtype[np.uint8]]

PX_PER_MM = 1.6
JPEG_QUALITY = 80


def straightened_jpeg(
    levels: Sequence[tuple[Gray, float]], registration: Registration,
    px_per_mm: float = PX_PER_MM,
) -> bytes:
    """The straightened page as a JPEG, warped from the photo's `pyramid` level that is
    sharp enough."""
    import cv2

    # The smallest copy with at least 1.5x the output's resolution: area-filtered already,
    # so the warp neither aliases nor walks 12 MP of pixels.
    local = registration.px_per_mm_at(
        (registration.template.page_size_mm[0] / 2, registration.template.page_size_mm[1] / 2)
    )
    source, factor = levels[0]
    for image, scale in reversed(levels):
        if local * scale >= 1.5 * px_per_mm:
            source, factor = image, scale
            break
    scaled = registration
    if factor < 1.0:
        scaled = replace(registration, homography=to_level(factor) @ registration.homography)
    page = rectify(source, scaled, px_per_mm)
    ok, encoded = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding of the rectified page failed")
    return bytes(encoded.tobytes())
