"""Printed straight lines inside a box crop: remnants of its frame and ruling lines.

What `cellprep` removes before it looks for writing, and how it tells a crop that holds a
remnant of its frame along a side.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vision.tiles import (
    close_rows,
    components,
    max_filter,
    open_rows,
    select,
    transposed,
)

Image = np.ndarray[Any, Any]
U8 = np.ndarray[Any, np.dtype[np.uint8]]


def _frame_depth(frame_v: U8) -> tuple[Image, Image]:
    """Per tile, how far the removed side frame reaches into the box from the left and right."""
    profile = np.asarray(frame_v.any(axis=1), bool)
    half = profile.shape[1] // 2
    near, far = profile[:, :half], profile[:, half:]
    left = np.where(near.any(axis=1), half - np.argmax(near[:, ::-1], axis=1), 0)
    right = np.where(far.any(axis=1), half - np.argmax(far, axis=1), 0)
    return left, right


def _at_boundary(lines: U8, axis: int, margin: int) -> U8:
    """Keep line pieces that touch the tile's boundary across `axis` (0: top/bottom rows,
    1: left/right columns): the printed frame lies there, a digit's bar or stem does not.
    `lines` must be empty but within `margin` of those two sides: only the bands are traced."""
    band = lines if axis == 0 else transposed(lines)
    if not band.any():
        return lines
    n, size, _ = band.shape
    ends = np.concatenate([band[:, :margin], band[:, size - margin :]])
    cc = components(ends)
    slack = max(2, round(size * 0.04))
    keep = np.where(cc.tile < n, cc.top <= slack, cc.top + cc.height >= margin - slack)
    kept = select(cc, keep)
    out = np.zeros_like(band)
    out[:, :margin], out[:, size - margin :] = kept[:n], kept[n:]
    return out if axis == 0 else transposed(out)


def _edge_to_edge(lines: U8, depth: tuple[Image, Image]) -> U8:
    """Keep the horizontal pieces that run from one side of the box to the other (up to the
    frame remnants removed at either side, which a printed rule crosses)."""
    if not lines.any():
        return lines
    cc = components(lines)
    size = lines.shape[2]
    slack = max(2, round(size * 0.04))
    near, far = depth[0][cc.tile], depth[1][cc.tile]
    return select(cc, (cc.left <= near + slack) & (cc.left + cc.width >= size - far - slack))


def long_lines(mask: U8) -> U8:
    """Pixels of straight lines that are print, not writing: frame remnants and rules.

    Frame remnants run along most of a side and touch the box's boundary; a rule runs
    across the box from edge to edge. The bar of a '7' under the top edge, the stem of a
    tall '1' or the side of a '6' match neither and survive. Vertical rules do not occur
    inside the form's boxes, so a stem spanning the whole height is never taken for one.
    """
    _, h, w = mask.shape
    # Bridge the gaps of dotted guides before looking for length.
    edge_h = open_rows(close_rows(mask, 7), int(w * 0.6))
    edge_v = transposed(open_rows(close_rows(transposed(mask), 7), int(h * 0.6)))
    my, mx = max(2, h // 8), max(2, w // 8)
    edge_h[:, my:-my, :] = 0
    edge_v[:, :, mx:-mx] = 0
    frame_v = _at_boundary(edge_v, 1, mx)
    frame = np.bitwise_or(_at_boundary(edge_h, 0, my), frame_v)
    edges = max_filter(frame, 3, 3)
    # With the frame gone, a stroke that nearly fills the box cannot be bridged to it.
    inner = np.asarray(mask & (1 - edges), np.uint8)
    rules = _edge_to_edge(open_rows(close_rows(inner, 7), int(w * 0.85)), _frame_depth(frame_v))
    # Widen by one pixel to take the anti-aliased fringe of the line with it.
    return np.asarray(np.bitwise_or(edges, max_filter(rules, 3, 3)), np.uint8)


def along_a_side(lines: U8, my: int, mx: int) -> Image:
    """Per tile: does a line run along half or more of one of its sides, within `my` rows
    of the top or bottom or `mx` columns of the left or right?"""
    cover = (lines[:, :my].max(axis=1).mean(axis=1), lines[:, -my:].max(axis=1).mean(axis=1),
             lines[:, :, :mx].max(axis=2).mean(axis=1), lines[:, :, -mx:].max(axis=2).mean(axis=1))
    return np.asarray(np.max(cover, axis=0) >= 0.5)
