"""Page 2's bubble columns: a second, independent reading of each vote count.

Under each digit box of a paslon's vote count is a column of ten bubbles, 0 at the top; the
officer fills the one matching the digit. A column is read by the fill of each bubble's
interior (the printed ring is left out) relative to the paper around it. The darkest bubble
counts only if it is clearly filled and clearly darker than the runner-up; otherwise the
column is unknown (none filled, or two filled) and says nothing.

Fusion with the boxes (agreement makes the field more certain, disagreement sends it to a
person, an unknown column neither helps nor hurts) is `vision.omr_fusion`'s.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from typing import Any, Literal

import numpy as np

from vision.local_fit import shifted
from vision.template import BubbleColumn

logger = logging.getLogger(__name__)

Gray = np.ndarray[Any, np.dtype[np.uint8]]
Matrix = np.ndarray[Any, np.dtype[np.float64]]
ColumnState = Literal["ok", "none", "multiple"]

# Pixels per mm of the small straightened strip a column is measured on.
STRIP_PX_PER_MM = 6.0
# Share of the bubble radius measured: inside the printed ring.
INNER = 0.62
# A filled bubble is at least this share inked; the runner-up at least MARGIN less.
FILL_MIN = 0.35
MARGIN = 0.20
# A column under FILL_MIN may still hold a faint or small fill (a dot, a tick): one bubble at
# least FAINT_MIN inked and FAINT_MARGIN clear of every other. Too weak to vouch for a box, it
# still speaks against a box read as another digit. Seed 1809367 (page 2): a `3` read `5`
# 0.996 sure, its bubble filled small (0.31, every other 0.0), passed on the model alone.
# Measured on 600 page 2 photos in mixed harsh conditions (hard hand, marker, dim light,
# folded, KPU's page): in the 765 columns left empty the top bubble stood at most 0.083 clear
# of the next (99.9th percentile 0.078) and at most 0.25 inked; of the 14 filled columns not
# read "ok", the 4 such faint fills were 0.30-0.35, each on the bubble the officer filled.
FAINT_MIN = 0.2
FAINT_MARGIN = 0.15

# A stroke from the box above reaching down into the bubbles (writing bigger than the box,
# a marker's `1` run long): ink across the gap between the box and bubble 0, in this share of
# the gap's height at one point of the column's width. The gap measured is the paper from the
# strip's top to CROSSING_CLEAR_MM above bubble 0's ring, so a sloppy fill of bubble 0 stays
# out of it. Such a column's bubble 0 is the stroke, not the officer's 0 (TPS 1900320's page
# 2: a big marker `1` read as an empty box ran into bubble 0, and the "filled" 0 vouched for
# the empty box: 14 passed as 4); and ink coming down from a box read empty or `X` says there
# is writing in it.
CROSSING_RUN = 0.8
CROSSING_CLEAR_MM = 1.2


@dataclass(frozen=True)
class ColumnReading:
    box: int
    digit: int | None
    state: ColumnState
    fill: tuple[float, ...]
    # A stroke from the box runs into the column (CROSSING_RUN): bubble 0 is not read.
    crossed: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "box": self.box,
            "digit": self.digit,
            "state": self.state,
            "fill": [round(f, 3) for f in self.fill],
        }
        if self.crossed:
            out["crossed"] = True
        return out

    @property
    def read_fill(self) -> tuple[float, ...]:
        """The fills the column is read by: a crossed column's bubble 0 holds the stroke."""
        return (0.0, *self.fill[1:]) if self.crossed else self.fill


def _top_two(fill: Sequence[float]) -> tuple[int, float, float]:
    """A column's most inked bubble, its fill and the runner-up's."""
    order = sorted(range(len(fill)), key=lambda i: fill[i], reverse=True)
    return order[0], fill[order[0]], fill[order[1]]


def pick_digit(fill: Sequence[float]) -> tuple[int | None, ColumnState]:
    """The filled bubble of a column, if exactly one is clearly filled."""
    digit, best, second = _top_two(fill)
    if best < FILL_MIN:
        return None, "none"
    if best - second < MARGIN:
        return None, "multiple"
    return digit, "ok"


def _strip_transform(h_mm_to_px: Matrix, x0: float, y0: float) -> Matrix:
    """Strip pixel -> photo pixel, for warping only the few mm around one column."""
    scale = np.array(
        [[1 / STRIP_PX_PER_MM, 0, x0], [0, 1 / STRIP_PX_PER_MM, y0], [0, 0, 1]], dtype=np.float64
    )
    return np.asarray(h_mm_to_px @ scale, dtype=np.float64)


def measure_column(gray: Gray, h_mm_to_px: Matrix, column: BubbleColumn) -> tuple[float, ...]:
    """Inked share of each bubble's interior in a photo, given page mm -> photo px."""
    return _measure(gray, h_mm_to_px, column)[0]


def _measure(gray: Gray, h_mm_to_px: Matrix,
             column: BubbleColumn) -> tuple[tuple[float, ...], bool]:
    """`measure_column`'s fills, and whether a stroke from the box crosses into the column."""
    import cv2

    x0, y0, width, height = _strip_region(column)
    strip = np.asarray(cv2.warpPerspective(
        gray,
        _strip_transform(h_mm_to_px, x0, y0),
        (width, height),
        flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    ), np.uint8)
    # Paper level from the strip itself, so shadows and white balance cancel out.
    paper = _percentile_90(strip)
    labels, sizes = _interiors(column)
    dark = strip < paper * 0.6
    inked = np.bincount(labels[dark], minlength=len(sizes) + 1)[1:]
    fill = tuple(float(k) / float(n) for k, n in zip(inked, sizes, strict=True))
    return fill, _crossed(dark, column)


def _crossed(dark: np.ndarray[Any, np.dtype[np.bool_]], column: BubbleColumn) -> bool:
    """Ink down through the gap above bubble 0 (the strip's top rows), within the bubbles'
    width: a stroke from the box, not a fill."""
    x0, y0, _, _ = _strip_region(column)
    cx, cy = column.centers_mm[0]
    rows = int((cy - column.radius_mm - CROSSING_CLEAR_MM - y0) * STRIP_PX_PER_MM)
    half = column.radius_mm * STRIP_PX_PER_MM
    left, right = int((cx - x0) * STRIP_PX_PER_MM - half), int((cx - x0) * STRIP_PX_PER_MM + half)
    gap = dark[:max(rows, 0), max(left, 0):max(right, 0)]
    return bool(gap.size) and float(gap.mean(axis=0).max()) >= CROSSING_RUN


def _strip_region(column: BubbleColumn) -> tuple[float, float, int, int]:
    """The column's strip: its top left corner (page mm) and size (strip px)."""
    pad = 2 * column.radius_mm
    xs = [c[0] for c in column.centers_mm]
    ys = [c[1] for c in column.centers_mm]
    x0, y0 = min(xs) - pad, min(ys) - pad
    return (x0, y0, int(round((max(xs) + pad - x0) * STRIP_PX_PER_MM)),
            int(round((max(ys) + pad - y0) * STRIP_PX_PER_MM)))


@lru_cache(maxsize=64)
def _interiors(column: BubbleColumn) -> tuple[np.ndarray[Any, np.dtype[np.intp]],
                                              tuple[int, ...]]:
    """Per strip pixel, 1 + the digit whose bubble interior holds it (0: none); and each
    interior's pixel count. Fixed by the template, so drawn once per column."""
    x0, y0, width, height = _strip_region(column)
    labels = np.zeros((height, width), np.intp)
    rin = column.radius_mm * INNER * STRIP_PX_PER_MM
    yy, xx = np.ogrid[:height, :width]
    for digit, (cx, cy) in enumerate(column.centers_mm):
        px, py = (cx - x0) * STRIP_PX_PER_MM, (cy - y0) * STRIP_PX_PER_MM
        labels[(xx - px) ** 2 + (yy - py) ** 2 <= rin * rin] = digit + 1
    sizes = np.bincount(labels.ravel(), minlength=len(column.centers_mm) + 1)[1:]
    labels.setflags(write=False)
    return labels, tuple(int(n) for n in sizes)


def _percentile_90(strip: Gray) -> float:
    """`np.percentile(strip, 90)` (linear) of a byte image, from its histogram: the two order
    statistics it interpolates are found by counting instead of by partitioning the strip."""
    cumulative = np.cumsum(np.bincount(strip.ravel(), minlength=256))
    n = int(cumulative[-1])
    at = (n - 1) * 0.9  # numpy's virtual index for its default 'linear' method
    below = math.floor(at)
    low, high = np.searchsorted(cumulative, [below, min(below + 1, n - 1)], side="right")
    gamma = at - below
    diff = float(high - low)
    # numpy's _lerp: from the nearer end, so that gamma 1 gives `high` exactly.
    return float(high) - diff * (1 - gamma) if gamma >= 0.5 else float(low) + diff * gamma


def read_columns(
    gray: Gray, h_mm_to_px: Matrix, columns: Sequence[BubbleColumn]
) -> list[ColumnReading]:
    readings = []
    for column in columns:
        fill, crossed = _measure(gray, h_mm_to_px, column)
        unread = ColumnReading(column.box, None, "none", fill, crossed)
        digit, state = pick_digit(unread.read_fill)
        readings.append(replace(unread, digit=digit, state=state))
    return readings


def faint_digit(fill: Sequence[float]) -> int | None:
    """The bubble of a column read "none" that still stands out (see FAINT_MIN), if one."""
    digit, best, second = _top_two(fill)
    if best >= FILL_MIN or best < FAINT_MIN or best - second < FAINT_MARGIN:
        return None
    return digit


def bubble_work(gray: Gray, registration: Any,
                 shifts: dict[str, Any]) -> dict[str, Callable[[], list[Any]]]:
    """Page 2: per field, the reading of its bubble columns from the photo (needs no box
    reading), moved with the field's boxes (`local_fit`)."""
    return {spec.name: partial(read_columns, gray,
                               shifted(registration.homography, shifts.get(spec.name)),
                               spec.bubbles)
            for spec in registration.template.fields if spec.bubbles}
