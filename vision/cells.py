"""Registered photo -> one straightened grayscale crop per digit box interior.

Each box is sampled on its own (a perspective warp of just that box) at CELL_PX_PER_MM, so
crops have the same size whatever the photo's resolution. The crop is the box's white interior
inset by INSET_MM: enough to clear the printed border given registration error (~0.3 mm) and
blur, small enough to keep digits that touch the border. Dark ink on light paper, as
photographed; normalisation for the model is `vision/cellprep.py`'s job.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from vision.framedprep import Frame
from vision.local_fit import Shift
from vision.register import Registration, rectify

logger = logging.getLogger(__name__)

Image = np.ndarray[Any, Any]

CELL_PX_PER_MM = 4.0
INSET_MM = 0.8


def box_interior_mm(box: tuple[float, float, float, float],
                    inset_mm: float = INSET_MM) -> tuple[float, float, float, float]:
    x, y, w, h = box
    return (x + inset_mm, y + inset_mm, w - 2 * inset_mm, h - 2 * inset_mm)


def crop_cells(
    gray: Image,
    registration: Registration,
    *,
    px_per_mm: float = CELL_PX_PER_MM,
    inset_mm: float = INSET_MM,
) -> dict[str, list[Image]]:
    """Field name -> its box crops left to right (uint8, dark ink on light paper)."""
    cells: dict[str, list[Image]] = {}
    for field in registration.template.fields:
        cells[field.name] = [
            rectify(gray, registration, px_per_mm, box_interior_mm(box, inset_mm))
            for box in field.boxes_mm
        ]
    logger.debug("cropped %s boxes", sum(len(v) for v in cells.values()))
    return cells


# Framed crops: the box with its printed frame and a margin of paper around it, for
# `vision.framedprep`, which keeps the digits that touch or cross the frame whole.
FRAMED_PX_PER_MM = 3.0  # about a 12 MP photo's own resolution on the 600 x 900 mm page
FRAME_MARGIN_MM = 1.5  # paper beyond the line's outer edge
# A page that would go to a person has its doubtful boxes cut again at this scale and read
# from that closer look (`verdict.CLOSER_BELOW`): small writing is only 12-20 px high at
# 3 px/mm, and a 12 MP photo holds about 4 px/mm of the page. Cutting every box at 4 px/mm read
# small writing better (150 photos: 97.74 -> 98.15% of boxes) but took page 1 from ~2.2 to ~2.7
# times OpenCV's decode; a doubtful page's few doubtful boxes cost a few ms (measured: pages to
# a person, 500 photos 6.6 -> 4.2%, 150 written small 33.3 -> 28.0%; 5 px/mm no better).
CLOSER_PX_PER_MM = 4.0


# Boxes whose writing runs past the usual crop (a digit written taller than the box, over its
# lines) are cut again with more paper above and below (`page_boxes.look_wider`): the clear
# paper the form leaves there (`FieldSpec.room_mm`: 3.6-4.2 mm on page 1, where a table's rule
# or the next row's boxes follow; 4.7-5.6 on page 2; 6.9 and more on page 3) less
# ROOM_CLEAR_MM, at most WIDER_MARGIN_MM. Print nearer would join the writing that crosses
# the line: a `1` through a caption read as a `7`, 0.99 sure.
WIDER_MARGIN_MM = 8.0
ROOM_CLEAR_MM = 0.5
# Taller crops only where they take this much paper (pages 2 and 3). Page 1's ~3.4 mm measured
# worse than none (150 photos written bigger than the boxes: boxes 96.67 -> 96.41%, page 1's
# pages to a person 80 -> 84%): writing that runs that far past page 1's boxes crosses the
# table's rules and the next row's boxes too, and read whole from 3.4 mm it is read surer,
# not more often right, than from the usual crop. With it: 96.76%, page 1 80% again, page 3
# 82 -> 70%.
WIDER_MIN_MM = 4.0


def room_above_below_mm(template: Any) -> dict[str, float]:
    """Field name -> how much paper (mm) a taller crop of its boxes takes above and below
    their lines: FRAME_MARGIN_MM where the form leaves no more (or was not measured)."""
    room: dict[str, float] = {}
    for field in template.fields:
        clear = min(field.room_mm) - ROOM_CLEAR_MM if field.room_mm else 0.0
        room[field.name] = max(FRAME_MARGIN_MM, min(WIDER_MARGIN_MM, clear))
    return room


def framed_region_mm(box: tuple[float, float, float, float], line_mm: float,
                     margin_mm: float = FRAME_MARGIN_MM,
                     margin_y_mm: float | None = None) -> tuple[float, float, float, float]:
    """The box with its line and `margin_mm` of paper around it (`margin_y_mm` above and
    below when given)."""
    x, y, w, h = box
    pad, pad_y = _pads(line_mm, margin_mm, margin_y_mm)
    return (x - pad, y - pad_y, w + 2 * pad, h + 2 * pad_y)


def _pads(line_mm: float, margin_mm: float, margin_y_mm: float | None) -> tuple[float, float]:
    """The line and paper (mm) a framed crop takes beside and above/below its box."""
    return line_mm + margin_mm, line_mm + (margin_mm if margin_y_mm is None else margin_y_mm)


def box_frame(box: tuple[float, float, float, float], line_mm: float,
              px_per_mm: float = FRAMED_PX_PER_MM,
              margin_mm: float = FRAME_MARGIN_MM, margin_y_mm: float | None = None) -> Frame:
    """Where the box's interior and line lie in its framed crop, in crop pixels."""
    _, _, w, h = box
    pad, pad_y = (side * px_per_mm for side in _pads(line_mm, margin_mm, margin_y_mm))
    return Frame(x=pad, y=pad_y, w=w * px_per_mm, h=h * px_per_mm, line=line_mm * px_per_mm,
                 px_per_mm=px_per_mm)


def crop_framed(
    gray: Image,
    registration: Registration,
    *,
    px_per_mm: float = FRAMED_PX_PER_MM,
    shifts: Mapping[str, Shift] | None = None,
    only: Mapping[str, Collection[int]] | None = None,
    margin_y_mm: Mapping[str, float] | None = None,
) -> dict[str, list[tuple[Image, Frame]]]:
    """Field name -> (framed crop, where its frame lies) per box, left to right.

    `shifts`: where each field's boxes really are relative to the homography's guess
    (`local_fit.field_shifts`: the paper is not flat); the crops are cut there. Each field is
    straightened once and its boxes sliced from it (a third of the warps: the calls, not the
    pixels, cost); a box's frame then lies up to half a pixel from `box_frame`'s place, which
    its `Frame` says. `only`: just these boxes (field name -> the boxes' places in it) of
    these fields, in the template's and the boxes' order; every box unless given.
    """
    k = px_per_mm
    cells: dict[str, list[tuple[Image, Frame]]] = {}
    for field in registration.template.fields:
        if only is not None and field.name not in only:
            continue
        shift = (shifts or {}).get(field.name)
        dx, dy = (shift.dx_mm, shift.dy_mm) if shift is not None else (0.0, 0.0)
        tall = (margin_y_mm or {}).get(field.name)
        x0, y0, w, h = framed_region_mm(field.bbox_mm, field.line_mm, margin_y_mm=tall)
        # One pixel of slack: each box's slice, rounded, stays inside.
        strip = rectify(gray, registration, k, (x0 + dx, y0 + dy, w + 1 / k, h + 1 / k))
        cells[field.name] = []
        for index, box in enumerate(field.boxes_mm):
            if only is not None and index not in only[field.name]:
                continue
            bx, by, bw, bh = framed_region_mm(box, field.line_mm, margin_y_mm=tall)
            frame = box_frame(box, field.line_mm, k, margin_y_mm=tall)
            # Sliced so that the frame's place rounds as in a crop of its own: `framedprep`
            # prepares the boxes whose frames round alike as one stack.
            left = (bx - x0) * k + frame.x - round(frame.x)
            top = (by - y0) * k + frame.y - round(frame.y)
            col, row = round(left), round(top)
            crop = strip[row : row + round(bh * k), col : col + round(bw * k)]
            cells[field.name].append(
                (crop, replace(frame, x=round(frame.x) + left - col,
                               y=round(frame.y) + top - row)))
    return cells
