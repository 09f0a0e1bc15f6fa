"""A box crop cut with paper around its printed frame -> the crop cut at the frame's outside.

`classify_cells` takes box crops from anyone's cutter. One that cuts at the box's outer
border, or a little beyond it, hands over the printed frame with a band of paper outside it;
`cellprep` removes frame remnants that touch the crop's edges, but a whole frame standing
inside the crop is a dark rectangle it would keep as ink, and an empty box then read as `0`
and an `X` as `8`. A frame is a long dark line near each of the crop's sides: where one is
found on at least three sides, the paper outside it is cut away, leaving the frame at the
crop's edges as in a crop cut at the border (which `cellprep` handles). Without a frame on
three sides nothing is cut, and a line the frame's cut sides run past is the writing's, not
the frame's: a wide `2`'s base, or the side of a bold `8` filling the box. Cut at, those
went with the frame: of 600 rendered font boxes (`model_card.held_out_set`, seed 99), 8 read right
uncut were misread; with the checks below, none (the same 21 misses as without trimming).
"""

from __future__ import annotations

from typing import Any

import numpy as np

F32 = np.ndarray[Any, np.dtype[np.float32]]

# A side's line lies within this share of the crop from its edge...
BAND = 0.2
# ...and is dark along this share of the crop's width (height): a frame inset by up to an
# eighth of the crop on either side still spans three quarters of it.
COVER = 0.75
# Darker than this share of the paper's brightness is line (a printed frame is ~50% or more).
DARK = 0.7
MIN_SIDES = 3
# A line starting this close to the crop's edge is a frame cut through (or with no paper
# left outside it), not one standing inside the crop.
EDGE_PX = 3


def _outer_line(dark: np.ndarray[Any, Any]) -> int | None:
    """The first row from the top (of `dark`, rows x columns) of a line, or None.

    A row counts with the two after it (a slightly tilted line spreads over a few rows);
    the line then starts at the first of those three that holds a good part of it."""
    near = dark[: max(1, int(len(dark) * BAND)) + 2]  # the band's rows and the two after
    window = near[:-2] | near[1:-1] | near[2:]
    covered = np.flatnonzero(window.mean(axis=1) >= COVER)
    if not covered.size:
        return None
    first = int(covered[0])
    rows = near[first : first + 3].mean(axis=1)
    return first + int(np.flatnonzero(rows >= COVER / 3)[0])


def _runs_on(side: str, view: np.ndarray[Any, Any], found: dict[str, int | None]) -> bool:
    """Does one of the frame's other sides run on past `side`'s line, into the paper it
    would cut away? (`view`: the crop turned so that `side` is its top.)

    Only the frame's sides cut through at the crop's edge are asked. Where the cut left
    paper outside a side's line, that line is the frame's, and the frame lies whole inside
    the crop: the first line met from this side too is the frame's (the writing is inside
    it), whatever runs on past it (boxes drawn as a table share their top and bottom rules).
    Where a side was cut through, what is met first from this side may be the writing
    itself: a `1`'s foot, a `2`'s base, a ruling under the digit; the frame's cut sides run
    on past it to the crop's edge. Cut at, such a bar would be taken off with the frame."""
    start = found[side]
    if start is None or start < EDGE_PX:
        return False
    near = view[max(0, start - EDGE_PX - 1) : start - 1]
    ends = ("left", "right") if side in ("top", "bottom") else ("top", "bottom")
    width = view.shape[1]
    for other in ends:
        at = found[other]
        if at is None or at >= EDGE_PX:
            continue
        # Within the view, the first of the pair is counted from column 0, the second
        # from the last column.
        cols = slice(at, at + 3) if other in ("left", "top") else slice(width - at - 3,
                                                                        width - at)
        if near[:, cols].any(axis=1).mean() > 0.5:
            return True
    return False


def trim_to_frame(gray: F32) -> tuple[F32, int]:
    """`gray` (paper light, ink dark) cut at the outside of the printed frame it holds (or
    `gray` itself; a frame is a dark line along three sides or four), and along how many
    of its sides such a line lies."""
    h, w = gray.shape
    if min(h, w) < 16:
        return gray, 0
    # The paper's level: the 90th percentile of every other pixel each way (as good a
    # level, at a quarter of the cost; `partition` is twice as fast as `percentile`).
    sample = gray[::2, ::2].ravel()
    k = int(0.9 * (sample.size - 1))
    paper = float(np.partition(sample, k)[k])
    dark = gray < DARK * paper
    # The crop turned so that each side is on top, and where that side's line starts,
    # counted from its edge.
    views = {"top": dark, "bottom": dark[::-1], "left": dark.T, "right": dark.T[::-1]}
    found = {side: _outer_line(view) for side, view in views.items()}
    for side in views:
        if _runs_on(side, views[side], found):
            found[side] = None
    sides = sum(v is not None for v in found.values())
    if sides < MIN_SIDES:
        return gray, sides
    # A line within EDGE_PX of the edge is left as it is: `cellprep` takes such remnants off
    # (they are what it was built on), and cutting the last pixel of paper outside them
    # made a bold digit touching both side lines run edge to edge, where it passed for rules.
    top, bottom, left, right = (
        v if v is not None and v >= EDGE_PX else 0
        for v in (found["top"], found["bottom"], found["left"], found["right"])
    )
    return gray[top : h - bottom, left : w - right], sides
