"""Each field's printed boxes found near where the page's homography puts them.

A homography is exact only for a flat sheet. The plano form is 600 x 900 mm of thin paper,
folded for transport, laid on a table or taped to a wall: its fold and waves move the boxes
millimetres away from where the tag and the corner marks place them. `framedprep` looks for
each box's printed line only SEARCH_PX (about 1.3 mm) around the template's place; beyond that
it cuts the box wrong. Measured on the benchmark's 150 photos of a sheet far from flat
(`photo_sim.UNEVEN_PAPER`, boxes moved up to ~5 mm): without this, boxes read right 91.8%,
pages for a person 35%; with it 99.5% and 7% (0 wrong fields unflagged either way).

So each field's row of boxes is matched as one pattern around the homography's guess, coarse
(the whole search, on a small copy of the photo) then fine (around the coarse hit), and the
field's boxes and bubbles are cut where it was found. A field whose boxes are not found (a
hand over them, glare) takes the shift of its nearest found neighbour: the paper moves
smoothly between folds. Search range: under half the 23 mm pitch of the form's rows and boxes,
so a neighbouring row or box, printed alike, never fits inside it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from vision.page_fit import peak_offset, to_level
from vision.template import FieldSpec

logger = logging.getLogger(__name__)

Image = np.ndarray[Any, Any]
Matrix = np.ndarray[Any, np.dtype[np.float64]]

SEARCH_MM = 8.0  # each way around the homography's guess; the pitch of rows and boxes is 23 mm
COARSE_PX_PER_MM = 0.75
# The fine match finds a field within ~0.1-0.3 mm (sub-pixel peak on a supersampled pattern),
# well inside framedprep's own ~1.3 mm search. Measured on 120 photos, sheets flat and
# folded: 1.0 px/mm read as many boxes right as 1.5 (99.71% / 99.66% against 99.62% /
# 99.63%) for three quarters of the time.
FINE_PX_PER_MM = 1.0
# Each way around the coarse hit (its pixel is 1.33 mm) or a found neighbour's shift (the
# paper's shift changes by up to ~1.5 mm between neighbouring fields near a fold).
FINE_SEARCH_MM = 3.0
# TM_CCOEFF_NORMED of the printed boxes' pattern against the photo: the boxes with digits in
# them score 0.6-0.9; paper, text or a hand over the field stay under it. On the small copy
# the 1 mm lines are faint: a weaker coarse hit is still looked at closely, then judged.
MATCH_SCORE = 0.5
COARSE_SCORE = 0.3
PAD_MM = 1.0  # paper drawn around the boxes' outer edge in the pattern
SUPERSAMPLE = 8


@dataclass(frozen=True)
class Shift:
    """Where a field's boxes are, relative to the homography's guess (page mm)."""

    dx_mm: float
    dy_mm: float
    found: bool  # False: taken from the nearest found field (or none found: zero)
    score: float = 0.0

    @property
    def size_mm(self) -> float:
        return float(np.hypot(self.dx_mm, self.dy_mm))


def shifted(homography: Matrix, shift: Shift | None) -> Matrix:
    """The page homography with the field moved by `shift`: page mm -> image px."""
    if shift is None:
        return homography
    move = np.array([[1.0, 0, shift.dx_mm], [0, 1.0, shift.dy_mm], [0, 0, 1.0]])
    out: Matrix = homography @ move
    return out


@lru_cache(maxsize=256)
def _pattern(boxes_mm: tuple[tuple[float, float, float, float], ...], line_mm: float,
             k: float) -> Image:
    """The field's printed boxes as black frames on white at k px/mm, PAD_MM paper around.

    Drawn SUPERSAMPLE times finer and shrunk: at 1.5 px/mm, lines rounded to whole pixels
    would sit up to 0.33 mm off, and the match with them.
    """
    import cv2

    fine = k * SUPERSAMPLE
    x0, y0 = min(b[0] for b in boxes_mm), min(b[1] for b in boxes_mm)
    x1 = max(b[0] + b[2] for b in boxes_mm)
    y1 = max(b[1] + b[3] for b in boxes_mm)
    pad = line_mm + PAD_MM
    size = (round((x1 - x0 + 2 * pad) * k), round((y1 - y0 + 2 * pad) * k))
    image = np.full((size[1] * SUPERSAMPLE, size[0] * SUPERSAMPLE), 255, np.uint8)
    for bx, by, bw, bh in boxes_mm:
        # The line's outer edge at the box's place minus its width (as `render` prints it).
        left, top = (bx - line_mm - x0 + pad) * fine, (by - line_mm - y0 + pad) * fine
        right, bottom = left + (bw + 2 * line_mm) * fine, top + (bh + 2 * line_mm) * fine
        width = line_mm * fine
        cv2.rectangle(image, (round(left), round(top)), (round(right) - 1, round(bottom) - 1),
                      0, -1)
        cv2.rectangle(image, (round(left + width), round(top + width)),
                      (round(right - width) - 1, round(bottom - width) - 1), 255, -1)
    out: Image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return out


class _Photo:
    """The photo's copies to match on: per sampling density, the smallest copy with at least
    that many px per page mm (sampling a big photo sparsely would alias thin lines away), and
    the homography onto it."""

    def __init__(self, levels: Sequence[tuple[Image, float]], homography: Matrix,
                 fields: Sequence[FieldSpec]) -> None:
        from vision.page_fit import local_scale

        # The density amid the fields: one copy per density serves the whole page.
        centres = np.array([_centre(f) for f in fields])
        middle = (centres.min(axis=0) + centres.max(axis=0)) / 2
        full = local_scale(homography, (float(middle[0]), float(middle[1])))
        self._at: dict[float, tuple[Image, Matrix]] = {}
        for k in (COARSE_PX_PER_MM, FINE_PX_PER_MM):
            image, scale = levels[0]
            for candidate, s in levels[1:]:
                if full * s < k:
                    break
                image, scale = candidate, s
            self._at[k] = (image, to_level(scale) @ homography)

    def at(self, k: float) -> tuple[Image, Matrix]:
        return self._at[k]


def _match(photo: _Photo, field: FieldSpec, k: float, centre: tuple[float, float],
           search_mm: float) -> tuple[float, float, float, bool]:
    """Best shift (mm) of the field's pattern within `search_mm` of `centre`, its score, and
    whether the best lies inside the searched range (not on its edge: the true one may be
    beyond)."""
    import cv2

    image, homography = photo.at(k)
    pattern = _pattern(field.boxes_mm, field.line_mm, k)
    # The page point (mm) at the pattern's top left corner.
    x0, y0, _, _ = field.bbox_mm
    x0, y0 = x0 - field.line_mm - PAD_MM, y0 - field.line_mm - PAD_MM
    steps = round(search_mm * k)
    left, top = x0 + centre[0] - steps / k, y0 + centre[1] - steps / k
    out_to_page = np.array([[1 / k, 0, left + 0.5 / k], [0, 1 / k, top + 0.5 / k], [0, 0, 1.0]])
    size = (pattern.shape[1] + 2 * steps, pattern.shape[0] + 2 * steps)
    window = cv2.warpPerspective(image, homography @ out_to_page, size,
                                 flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_REPLICATE)
    scores = cv2.matchTemplate(window, pattern, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    inside = 0 < bx < 2 * steps and 0 < by < 2 * steps
    dx = bx + peak_offset(scores[by, max(0, bx - 1) : bx + 2], bx)
    dy = by + peak_offset(scores[max(0, by - 1) : by + 2, bx], by)
    return centre[0] + (dx - steps) / k, centre[1] + (dy - steps) / k, float(best), inside


def field_shifts(levels: Sequence[tuple[Image, float]], homography: Matrix,
                 fields: Sequence[FieldSpec], *,
                 beside: Executor | None = None) -> dict[str, Shift]:
    """Per field, where its boxes are relative to `homography`'s guess (see the module).

    `beside`: an executor that looks for every other field meanwhile (OpenCV's calls, most of
    the time, release the GIL); the shifts are the same.
    """
    if not fields:
        return {}
    photo = _Photo(levels, homography, fields)
    half = beside.submit(_locate, photo, fields[1::2]) if beside is not None else None
    found = _locate(photo, fields[0::2] if half is not None else fields)
    if half is not None:
        found.update(half.result())
    centres = {f.name: _centre(f) for f in fields}
    by_centre = {centres[name]: shift for name, shift in found.items()}
    out = {name: found.get(name) or _borrowed(at, by_centre) for name, at in centres.items()}
    if found:
        logger.debug("field shifts: largest %.2f mm, %s of %s fields found",
                     max(s.size_mm for s in found.values()), len(found), len(fields))
    return out


def _locate(photo: _Photo, fields: Sequence[FieldSpec]) -> dict[str, Shift]:
    """The fields whose boxes are found, and where.

    The paper moves smoothly between folds: a field is first looked for closely around its
    nearest found neighbour's shift, and searched in full only when it is not found there.
    """
    found: dict[tuple[float, float], Shift] = {}  # by field centre
    names: dict[tuple[float, float], str] = {}
    for field in fields:
        at = _centre(field)
        if found:
            prior = _borrowed(at, found)
            dx, dy, score, inside = _match(photo, field, FINE_PX_PER_MM,
                                           (prior.dx_mm, prior.dy_mm), FINE_SEARCH_MM)
            if inside and score >= MATCH_SCORE:
                found[at], names[at] = Shift(dx, dy, True, score), field.name
                continue
        cx, cy, score, _ = _match(photo, field, COARSE_PX_PER_MM, (0.0, 0.0), SEARCH_MM)
        if score < COARSE_SCORE:
            continue
        dx, dy, score, _ = _match(photo, field, FINE_PX_PER_MM, (cx, cy), FINE_SEARCH_MM)
        if score >= MATCH_SCORE:
            found[at], names[at] = Shift(dx, dy, True, score), field.name
    return {names[at]: shift for at, shift in found.items()}


def _centre(field: FieldSpec) -> tuple[float, float]:
    x, y, w, h = field.bbox_mm
    return (x + w / 2, y + h / 2)


def _borrowed(centre: tuple[float, float], found: dict[tuple[float, float], Shift]) -> Shift:
    """The shift of the found field nearest `centre` (a field centre, mm); none found: zero."""
    if not found:
        return Shift(0.0, 0.0, False)
    near = found[min(found, key=lambda c: (c[0] - centre[0]) ** 2 + (c[1] - centre[1]) ** 2)]
    return Shift(near.dx_mm, near.dy_mm, False)
