"""Decoding a photo: JPEG through simplejpeg's fast DCT, anything else through OpenCV."""

from __future__ import annotations

import cv2
import numpy as np

from vision.photo_sim import with_exif_orientation
from vision.pipeline import decode
from vision.synthetic import synthetic_photo


def _opencv(data: bytes) -> np.ndarray:
    flags = cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION
    gray = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    assert gray is not None
    return np.asarray(gray)


def test_a_jpeg_decodes_to_opencvs_pixels_within_a_few_grey_levels() -> None:
    jpeg = synthetic_photo(1, seed=3, source="procedural").jpeg
    gray, reference = decode(jpeg), _opencv(jpeg)
    assert gray is not None and gray.dtype == np.uint8 and gray.shape == reference.shape
    assert gray.flags["C_CONTIGUOUS"]
    difference = np.abs(gray.astype(np.int16) - reference)
    assert difference.max() <= 6 and difference.mean() < 1.0


def test_a_jpeg_stored_on_its_side_keeps_its_stored_pixels() -> None:
    jpeg = synthetic_photo(1, seed=3, source="procedural").jpeg
    turned = with_exif_orientation(jpeg, 6)
    gray = decode(turned)
    assert gray is not None and gray.shape == _opencv(jpeg).shape


def test_a_truncated_jpeg_is_left_to_opencv_as_before() -> None:
    # simplejpeg refuses half a file; OpenCV (4.x) refuses it too, so the upload is told
    # that its photo cannot be opened rather than read from half a page.
    jpeg = synthetic_photo(1, seed=3, source="procedural").jpeg
    cut = jpeg[: len(jpeg) // 2]
    reference = cv2.imdecode(np.frombuffer(cut, np.uint8), cv2.IMREAD_GRAYSCALE)
    gray = decode(cut)
    if reference is None:
        assert gray is None
    else:
        assert gray is not None and np.array_equal(gray, np.asarray(reference))


def test_a_png_is_decoded_by_opencv_and_bytes_that_are_no_image_are_not() -> None:
    page = np.tile(np.arange(256, dtype=np.uint8), (64, 1))
    ok, png = cv2.imencode(".png", page)
    assert ok
    gray = decode(png.tobytes())
    assert gray is not None and np.array_equal(gray, page)
    assert decode(b"") is None
    assert decode(b"\xff\xd8\xff\xe0 not really a jpeg") is None
