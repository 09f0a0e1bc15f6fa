"""A box blacked out is not writing: find it, so that it is never read as a sure digit.

Officers correct a count by striking a digit out, writing over it or blacking the box out.
The ink preparation (`inkmask.paper_level`) estimates the paper with a closing wider than any
pen stroke; a solid dark patch wider than that (a blot, a box filled in) is taken for dark
paper, and only its outline is kept as ink: a ring, which the model read as a `0`, 99.6% sure
(measured on drawn blots, cellprep's crops). Such a box is found by its paper: somewhere
inside the box, the paper level falls to ink's darkness against the box's own lit paper.
It then reads as blank or as what the model sees, neither surely (`faint.doubted`): a person
looks, unless the form's arithmetic finds which (a blacked-out leading box is often blank).
"""

from __future__ import annotations

from typing import Any

import numpy as np

F32 = np.ndarray[Any, np.dtype[np.float32]]

# Darkest paper level inside the box over its brightest: a blot in black or dark blue ink
# (drawn: ellipses, a filled box, a scribble) 0.17-0.22. Boxes of the benchmark's photos
# (60 each of the default hand, the "hard" camera, writing small, KPU's own page, 5 MP: 8,298
# boxes) 0.455 at the lowest, MNIST digits with strokes wider than the closing (a fat `6`);
# 1 in 1,000 under 0.6. A blot in a light pen above this is not told from such a digit. In
# `classify_cells`'s crops (worked at ~4 px/mm, where a 5 mm stroke outlasts the closing) that
# fat `6` measures 0.24: `bench cells` doubts it (1 box of 1,840 in 5 of its 7 cuts, read
# right before); nothing else there changed.
BLOT_DARKNESS = 0.35


def blotted(paper: F32, inner: tuple[int, int, int, int]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Per tile of `paper` (N, H, W; `inkmask.paper_level`): is the box blacked out somewhere
    in its interior rows y0:y1, columns x0:x1?"""
    y0, y1, x0, x1 = inner
    lit = np.maximum(paper.max(axis=(1, 2)), 1.0)
    darkest = paper[:, y0:y1, x0:x1].min(axis=(1, 2))
    return np.asarray(darkest < BLOT_DARKNESS * lit)
