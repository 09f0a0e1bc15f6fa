"""The page's AprilTag (36h10) on a photo: which page it is and where its corners are.

OpenCV's aruco reads the official form's 36h10 family (pupil-apriltags lacks it). The tag is
looked for on a downscaled copy of the photo (`pyramid`), against a dictionary of only the
tags Titik knows; the whole family last, so that a tag of another form can be named.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from vision.page_fit import to_full as _to_full

Image = np.ndarray[Any, Any]
Matrix = np.ndarray[Any, np.dtype[np.float64]]

# The photo is halved (area filter: the integer fast path costs ~2 ms on 12 MP) while its
# long side exceeds DETECT_LONG_SIDE. The tag is looked for on the smallest level first: a
# page that fills the frame puts the 32 mm tag at >= ~25 px there. The next level up is the
# fallback for smaller or blurrier tags; under `quality.MIN_PX_PER_MM` the page is refused
# as too small anyway.
DETECT_LONG_SIDE = 1100
# Tag perimeter over the image's long side: only tags of pages that fill a readable share of
# the frame. Pruning small candidates keeps aruco's work on busy pages down.
MIN_TAG_PERIMETER_RATE = 0.04
FALLBACK_TAG_PERIMETER_RATE = 0.02
# Adaptive threshold windows (px) for aruco: two instead of its three (3, 13, 23): a 3 px
# window only finds tags whose cells are ~1 px, which do not decode anyway; measured as the
# same detections, ~30% faster.
THRESHOLD_WINDOWS = (5, 15)


@lru_cache(maxsize=8)
def detector(min_perimeter_rate: float, tag_ids: tuple[int, ...] | None,
             windows: tuple[int, int] = THRESHOLD_WINDOWS) -> Any:
    """Aruco detector for 36h10, restricted to `tag_ids` (None: the whole family), thresholding
    with each of `windows` (smallest, largest; 10 px apart).

    Identification compares every candidate quad with every code of the dictionary, with
    per-code overhead: against 2320 codes that was 5-10 ms per candidate and most of the
    registration time on busy pages. A dictionary of just the tags we know is ~1000x smaller,
    and less likely to take a stray square for a tag.
    """
    import cv2

    family = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_APRILTAG_36h10)
    dictionary = family
    if tag_ids is not None:
        dictionary = cv2.aruco.Dictionary(
            np.ascontiguousarray(family.bytesList[list(tag_ids)]), family.markerSize,
            family.maxCorrectionBits)
    params = cv2.aruco.DetectorParameters()
    params.minMarkerPerimeterRate = min_perimeter_rate
    params.maxMarkerPerimeterRate = 0.6
    # 36h10 has few bits; require a clean decode rather than accepting 1-bit corrections.
    params.errorCorrectionRate = 0.3
    params.adaptiveThreshWinSizeMin, params.adaptiveThreshWinSizeMax = windows
    params.adaptiveThreshWinSizeStep = 10
    return cv2.aruco.ArucoDetector(dictionary, params)


def pyramid(gray: Image, long_side: int = DETECT_LONG_SIDE) -> list[tuple[Image, float]]:
    """The photo halved until its long side is at most `long_side`: (image, scale), big first."""
    import cv2

    levels = [(gray, 1.0)]
    while max(levels[-1][0].shape) > long_side:
        image, scale = levels[-1]
        h, w = image.shape[0] // 2, image.shape[1] // 2
        # An odd last row/column is dropped so each small pixel is exactly 2 x 2 big ones.
        half = cv2.resize(image[: 2 * h, : 2 * w], (w, h), interpolation=cv2.INTER_AREA)
        levels.append((half, scale / 2))
    return levels


def detect(image: Image, scale: float, rate: float, tag_ids: tuple[int, ...] | None,
            windows: tuple[int, int] = THRESHOLD_WINDOWS) -> tuple[list[Matrix], list[int]]:
    corners, ids, _ = detector(rate, tag_ids, windows).detectMarkers(image)
    if ids is None or not len(ids):
        return [], []
    pts = [_to_full(np.asarray(c, dtype=np.float64).reshape(4, 2), scale) for c in corners]
    found = [int(i) for i in np.asarray(ids).ravel()]
    return pts, found if tag_ids is None else [tag_ids[i] for i in found]


EVERY_TAG_MAX_PX = 4_000_000


def _attempts(levels: Sequence[tuple[Image, float]], known_ids: tuple[int, ...]
              ) -> list[tuple[Image, float, float, tuple[int, ...] | None, tuple[int, int]]]:
    small, scale = levels[-1]
    narrow, wide = THRESHOLD_WINDOWS
    # The narrow threshold window alone first: it finds most tags at a quarter of the cost
    # (the wide one also outlines every printed box); the wide one only when it did not.
    attempts: list[tuple[Image, float, float, tuple[int, ...] | None, tuple[int, int]]] = [
        (small, scale, MIN_TAG_PERIMETER_RATE, known_ids, (narrow, narrow)),
        (small, scale, MIN_TAG_PERIMETER_RATE, known_ids, (wide, wide))]
    # Up the pyramid for smaller tags: a tag's cells must span ~4 px to decode, and a page
    # far off in a 12 MP frame (under ~2 px/mm) has its tag decode on level 1 only at some
    # sampling phases, on the full photo always. Without this, such a photo would be told it is
    # not a C.Hasil page, not to come closer; only photos with no tag at all pay for it.
    for image, s in levels[-2:-4:-1]:
        attempts.append((image, s, FALLBACK_TAG_PERIMETER_RATE, known_ids, THRESHOLD_WINDOWS))
    return attempts


def find_tags(
    levels: Sequence[tuple[Image, float]], known_ids: tuple[int, ...]
) -> tuple[list[Matrix], list[int]]:
    """Tag corners (full-res px) and ids: known tags on the smallest level, then up to two
    levels up; the whole 36h10 family last, so that a tag we do not know can still be named."""
    small, scale = levels[-1]
    attempts = _attempts(levels, known_ids)
    attempts.append((small, scale, MIN_TAG_PERIMETER_RATE, None, THRESHOLD_WINDOWS))
    for image, s, rate, ids, windows in attempts:
        pts, found = detect(image, s, rate, ids, windows)
        if found:
            return pts, found
    return [], []


def every_known_tag(
    levels: Sequence[tuple[Image, float]], known_ids: tuple[int, ...]
) -> tuple[list[Matrix], list[int]]:
    """Every known tag any of `find_tags`'s attempts finds, the full 12 MP photo left out (a
    search there costs more than the rest of the read): for a photo with more than one page
    in it, where `find_tags` stops at the first. A tag found by several attempts is listed
    once per attempt; two copies of a page (same id) both are."""
    corners: list[Matrix] = []
    found: list[int] = []
    for image, s, rate, ids, windows in _attempts(levels, known_ids):
        if image.size <= EVERY_TAG_MAX_PX:
            pts, tag_ids = detect(image, s, rate, ids, windows)
            corners += pts
            found += tag_ids
    return corners, found
