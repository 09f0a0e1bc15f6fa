"""Operations on a stack of tiles (N, H, W) that treat each tile as if it were alone.

A page's boxes are prepared together (`cellprep`, `framedprep`): one OpenCV call over the
whole stack costs little more than one over a single box, and numpy's per-call overhead is
paid once. A 1-D kernel along rows sees only its own row, so the stack is one (N*H, W) image
for it; along columns, the same on the transposed tiles. 2-D max and min filters run on the
tiles stacked with blank rows between them whose value never wins (the window is then clipped
at each tile's edges, as a replicated or ignored border does). Connected components run once
on the tiles stacked with a blank row between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

Image = np.ndarray[Any, Any]
U8 = np.ndarray[Any, np.dtype[np.uint8]]


def by_rows(stack: Image, op: Any) -> Image:
    n, h, w = stack.shape
    return np.asarray(op(np.ascontiguousarray(stack).reshape(n * h, w))).reshape(n, h, w)


def by_cols(stack: Image, op: Any) -> Image:
    n, h, w = stack.shape
    flat = np.ascontiguousarray(stack.transpose(0, 2, 1)).reshape(n * w, h)
    return np.asarray(op(flat)).reshape(n, w, h).transpose(0, 2, 1)


def _line(k: int) -> U8:
    return np.ones((1, max(1, k)), np.uint8)


def max_filter(stack: U8, kh: int, kw: int) -> U8:
    """Dilation of each tile by a kh x kw rectangle, the window clipped at the tile's edges.

    One OpenCV call on the tiles stacked with kh // 2 blank rows between them: blank never
    wins a max of bytes.
    """
    n, h, w = stack.shape
    padded = np.zeros((n, h + kh // 2, w), np.uint8)
    padded[:, :h] = stack
    out = cv2.dilate(padded.reshape(-1, w), np.ones((kh, kw), np.uint8),
                     borderType=cv2.BORDER_CONSTANT)
    return np.asarray(out, np.uint8).reshape(n, -1, w)[:, :h]


def dilate_tiles(mask: U8, kernel: U8) -> U8:
    """Dilation of each tile (N, H, W) alone by a kernel whose rows are contiguous runs.

    The kernel is the union of its rows: each distinct run is one 1-D dilation along the
    rows of the whole stack, then shifted up or down within each tile. Exactly OpenCV's
    dilation of a tile alone (max is exact), at a fraction of its cost for a disk.
    """
    n, h, w = mask.shape
    cy, cx = kernel.shape[0] // 2, kernel.shape[1] // 2
    flat = mask.reshape(n * h, w)
    out = np.zeros_like(mask)
    runs: dict[tuple[int, int], U8] = {}
    for ky in range(kernel.shape[0]):
        cols = np.flatnonzero(kernel[ky])
        if not cols.size:
            continue
        a, b = int(cols[0]) - cx, int(cols[-1]) - cx
        if cols.size != b - a + 1 or a > 0 or b < 0:
            raise ValueError("kernel rows must be runs through the centre column")
        if (a, b) not in runs:
            line = np.ones((1, b - a + 1), np.uint8)
            grown = cv2.dilate(flat, line, anchor=(-a, 0))
            runs[(a, b)] = np.asarray(grown, np.uint8).reshape(n, h, w)
        run, dy = runs[(a, b)], ky - cy
        if abs(dy) >= h:
            continue  # reaches past the tile
        if dy >= 0:
            np.maximum(out[:, : h - dy], run[:, dy:], out=out[:, : h - dy])
        else:
            np.maximum(out[:, -dy:], run[:, : h + dy], out=out[:, -dy:])
    return out


def close_rows(stack: U8, k: int) -> U8:
    # OpenCV's default border leaves the edges untouched by a closing...
    return by_rows(stack, lambda a: cv2.morphologyEx(a, cv2.MORPH_CLOSE, _line(k)))


def open_rows(stack: U8, k: int) -> U8:
    # ...but would extend strokes touching the edge into "lines" of any length in an opening.
    return by_rows(stack, lambda a: cv2.morphologyEx(
        a, cv2.MORPH_OPEN, _line(k), borderType=cv2.BORDER_CONSTANT, borderValue=0))


def transposed(stack: Image) -> Image:
    return np.ascontiguousarray(stack.transpose(0, 2, 1))


def closing(stack: Image, k: int) -> Image:
    """Grey closing of each tile by a k x k square, the window clipped at the tile's edges
    (which is what a replicated border gives a max or a min filter).

    The tiles are stacked with k // 2 rows between them that never win (the lowest value for
    the max, the highest for the min): two OpenCV calls for the whole stack.
    """
    n, h, w = stack.shape
    low, high = (0, 255) if stack.dtype == np.uint8 else (-np.inf, np.inf)
    padded = np.full((n, h + k // 2, w), low, stack.dtype)
    padded[:, :h] = stack
    square = np.ones((k, k), np.uint8)
    grown = cv2.dilate(padded.reshape(-1, w), square, borderType=cv2.BORDER_REPLICATE)
    grown.reshape(n, -1, w)[:, h:] = high
    shrunk = cv2.erode(grown, square, borderType=cv2.BORDER_REPLICATE)
    return np.asarray(shrunk).reshape(n, -1, w)[:, :h]


@dataclass(frozen=True)
class Components:
    """Connected components of every tile at once; label 0 is the background."""

    shape: tuple[int, int, int]  # (N, H, W): the stack of tiles
    index: Image  # the non-zero pixels, as flat indices into the stack
    label: Image  # their labels
    tile: Image  # per label: the tile it lies in
    top: Image  # per label, in tile coordinates
    left: Image
    height: Image
    width: Image
    area: Image


def components(mask: U8) -> Components:
    """Label every tile's 8-connected components at once: the tiles as one image with a blank
    row after each. From then on only the labelled (non-zero) pixels are looked at."""
    n, h, w = mask.shape
    padded = np.zeros((n, h + 1, w), bool)  # a blank row keeps tiles apart
    padded[:, :h] = mask
    count, labels = cv2.connectedComponents(padded.view(np.uint8).reshape(n * (h + 1), w),
                                            connectivity=8)
    where = np.flatnonzero(padded)  # numpy finds non-zero bools several times faster
    label: Image = labels.ravel()[where]
    # Labels only, stats from the labelled pixels: OpenCV's own statistics pass costs several
    # times the labelling on these tall, mostly empty images.
    y, x = np.divmod(where, w)
    index = where - (y // (h + 1)) * w  # in the stack: the blank rows dropped
    top, left = np.full(count, n * (h + 1)), np.full(count, w)
    bottom, right = np.full(count, -1), np.full(count, -1)
    np.minimum.at(top, label, y)
    np.maximum.at(bottom, label, y)
    np.minimum.at(left, label, x)
    np.maximum.at(right, label, x)
    top[0] = left[0] = bottom[0] = right[0] = 0
    return Components(
        shape=(n, h, w), index=index, label=label, tile=top // (h + 1), top=top % (h + 1),
        left=left, height=bottom - top + 1, width=right - left + 1,
        area=np.bincount(label, minlength=count),
    )


def select(cc: Components, keep: Image) -> U8:
    """The pixels of the components whose `keep` (per label) is true."""
    keep = np.asarray(keep, bool).copy()
    keep[0] = False
    out = np.zeros(cc.shape, np.uint8)
    out.reshape(-1)[cc.index[keep[cc.label]]] = 1
    return out
