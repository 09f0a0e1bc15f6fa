"""A pen's ink on the synthetic paper: a glyph or bubble mask laid onto the page so that it
darkens the paper and the printing beneath it, as ballpoint ink does, and a scaled-down glyph
kept at least a pen's line wide.

Shared by the filled C.Hasil pages (``vision.synthetic``) and the other documents photographed
instead of one (``vision.other_documents``).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

Image = np.ndarray[Any, np.dtype[np.uint8]]


def lay_ink(image: Image, mask: np.ndarray[Any, Any], x: int, y: int,
            colour: tuple[int, int, int], density: float) -> None:
    """Lay ink (a 0..255 mask) at (x, y): it darkens the paper and printing beneath it."""
    h, w = mask.shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, image.shape[1]), min(y + h, image.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    alpha = mask[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.float32) * (density / 255.0)
    absorb = 1.0 - np.asarray(colour, np.float32) / 255.0
    roi = image[y0:y1, x0:x1].astype(np.float32)
    roi *= 1.0 - alpha[..., None] * absorb[None, None, :]
    image[y0:y1, x0:x1] = roi.astype(np.uint8)


def _line_width(mask: np.ndarray[Any, Any]) -> float:
    """A glyph's stroke width (px): ink mass (anti-aliased edges count by their share) over
    half the outline's length."""
    ink = (mask > 127).astype(np.uint8)
    outline = int(ink.sum()) - int(cv2.erode(ink, np.ones((3, 3), np.uint8)).sum())
    return float(mask.sum(dtype=np.int64)) / 255.0 / max(outline / 2.0, 1.0)


def _widened(mask: np.ndarray[Any, Any], line_px: float, *,
             grow_mask: bool) -> np.ndarray[Any, Any]:
    """The glyph's strokes widened to `line_px` (unchanged when already that wide);
    `grow_mask`: the mask grown by the same first, so no stroke is cut at its edge."""
    if not (mask > 127).any():
        return mask
    grow = round(line_px - _line_width(mask))
    if grow < 1:
        return mask
    if grow_mask:
        pad = grow // 2 + 1
        mask = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow + 1, grow + 1))
    return np.asarray(cv2.dilate(mask, disk), np.uint8)


def marker_line(mask: np.ndarray[Any, Any], line_px: float) -> np.ndarray[Any, Any]:
    """Redraw a glyph with a felt-tip marker's line `line_px` wide: its strokes widened to
    that, the mask grown by the same so no stroke is cut at its edge."""
    return _widened(mask, line_px, grow_mask=True)


def pen_floor(mask: np.ndarray[Any, Any], pen_px: float) -> np.ndarray[Any, Any]:
    """Widen a glyph's strokes to at least a pen's line: a glyph scaled down with its
    strokes would otherwise write a small digit with a hair-thin, faint line."""
    return _widened(mask, pen_px, grow_mask=False)
