"""A second look at box interiors `cellprep` prepared as blank: faint or short marks.

`vision.classify_cells` reads boxes cut by someone else's cutter, and the writing in them
can be faint and small: a `1` a fifth of the box high in a thin light pen, or the part of a
digit a cutter a millimetre off left inside. `cellprep` takes such a mark for paper and the
model then calls the box surely empty, the one wrong answer a reader must never give
confidently. Here each blank box is prepared again with its marks TRACE_GAIN times darker
and marks down to TRACE_MIN_EXTENT of the box kept (what `read_form` does for its own framed
boxes, `framedprep.traces`); a box that then holds a thin mark the model reads as a digit or
`X` is doubted: that label, at most DOUBT_SHARE sure. A mark the model cannot read leaves the
box blank, no longer surely (real 2019 crops cut off above the digit: 49 -> 38 of 115 read
wrong yet >= 0.9 sure).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from vision import cellprep

Image = np.ndarray[Any, Any]

# A box found blank is looked at again with its marks TRACE_GAIN times darker (about the
# paper) and marks down to TRACE_MIN_EXTENT of the box kept: a small digit in a light, thin
# pen (a `1` a fifth of the box high) is otherwise taken for paper. Measured in `read_form`
# (`framedprep.traces`) on 60 simulated photos of small writing: 55 of 62 such lost digits
# show up again, none of their 100 empty boxes; in 300 photos of the default hand 21 empty
# boxes in shadow show grain, which the model then mostly reads as nothing sure
# (TRACE_READ_MIN).
TRACE_GAIN = 2.0
TRACE_MIN_EXTENT = 0.1

# A doubted box (here and in `read_form`, on `framedprep.traces`): the share given to the
# faint mark's reading (the rest is blank's), and how sure the model must be that the mark is
# a digit. Measured in `read_form` on traced marks: in 90 photos of small writing 70 of 100
# lost digits read >= 0.5; in 300 of the default hand, 3 of 21 marks in empty boxes (grain in
# shadow) did.
DOUBT_SHARE = 0.5
TRACE_READ_MIN = 0.5
# A pen stroke lost to the paper is thin: darkened, it covers little of the box. A mark that
# covers more was a broad faint shape (printed watermark text, a shadow's edge). Measured on
# marks read as writing >= TRACE_READ_MIN: written boxes cut from 40 simulated photos
# (`bench cells`, both hands, 7 cuts) cover 1.2-8.6% of the box (5th-95th percentile, median
# 3.5%); 2,000 harsh rendered empty boxes (`training_boxes.render_box`: watermarks, remnants, grain)
# 1.4-28% (median 14.5%). At 8%: 301 of 323 recovered digits kept, false marks 210 -> 46.
TRACE_MAX_INK = 0.08
# Darkened, a grainy empty box (a dim photo's noise, magnified from a small crop) shows specks
# the model may take for a stroke; a slight blur first evens the grain out. In working pixels
# (`cellprep.WORK_H` high). Measured with TRACE_MAX_INK as above: at 0.7, recovered digits
# 301 -> 289 and false marks in the rendered empty boxes 46 -> 25 (1.0: 258 and 17; 1.5: 190
# and 6).
GRAIN_SIGMA = 0.7


def darker_all(crops: list[Image]) -> list[Image]:
    """Each crop with every mark TRACE_GAIN times darker against its paper (a box is mostly
    paper, so its 75th percentile is the paper's level even beside a printed frame). Crops of
    one size go as a stack: one percentile call for all of them (one per crop took a third of
    the second look at a page's blank boxes)."""
    grays = [cellprep.to_gray(crop) for crop in crops]
    out: list[Image] = list(grays)
    shapes: dict[tuple[int, ...], list[int]] = {}
    for i, gray in enumerate(grays):
        shapes.setdefault(gray.shape, []).append(i)
    for members in shapes.values():
        stack = np.stack([grays[i] for i in members])
        paper = np.percentile(stack, 75, axis=(1, 2))[:, None, None]
        dark = np.asarray(np.clip(paper - (paper - stack) * TRACE_GAIN, 0, 255), np.uint8)
        for k, i in enumerate(members):
            out[i] = dark[k]
    return out


def smooth(crop: Image) -> Image:
    """The crop with the paper's grain evened out (a Gaussian of GRAIN_SIGMA working pixels),
    so that darkening brings out pen strokes rather than noise."""
    gray = cellprep.to_gray(crop)
    return np.asarray(cv2.GaussianBlur(gray, (0, 0), GRAIN_SIGMA * gray.shape[0] / cellprep.WORK_H))


def faint_marks(crops: list[Image],
                prepared: list[cellprep.Prepared]) -> tuple[list[int], np.ndarray[Any, Any]]:
    """The boxes `prepared` as blank that hold a faint or short mark after all: their
    indices, and each mark as a (K, 28, 28, 1) model input."""
    blank = [i for i, one in enumerate(prepared) if one.blank]
    if not blank:
        return [], np.zeros((0, cellprep.SIZE, cellprep.SIZE, 1), np.uint8)
    again = cellprep.prepare_all(darker_all([smooth(crops[i]) for i in blank]),
                                 min_extent=TRACE_MIN_EXTENT)
    found = [k for k, one in enumerate(again)
             if not one.blank and one.ink_fraction <= TRACE_MAX_INK]
    return [blank[k] for k in found], cellprep.model_input([again[k] for k in found])


def doubted(ranked: list[tuple[str, float]], k: int) -> list[tuple[str, float]]:
    """Top-`k` labels of a box that is blank or holds what the model read in it, neither
    surely: blank at 1 - DOUBT_SHARE, each label read at DOUBT_SHARE of its probability. A
    faint mark's reading (`read_form`'s boxes) and a blacked-out box's (`vision.blots`)."""
    read = [(label, DOUBT_SHARE * p) for label, p in ranked if label != ""]
    return sorted([("", 1.0 - DOUBT_SHARE), *read], key=lambda lp: -lp[1])[:k]


def doubt(best: tuple[str, float], mark: np.ndarray[Any, Any],
          labels: list[str]) -> tuple[str, float]:
    """A blank box's reading given the model's probabilities for its faint mark: the mark's
    label at DOUBT_SHARE of its probability when it reads as writing; else blank, as sure as
    the first look and the mark's own reading agree (DOUBT_SHARE of the mark's): a mark the
    model cannot read leaves the box not surely empty."""
    j = int(np.argmax(mark))
    if labels[j] != "" and float(mark[j]) >= TRACE_READ_MIN:
        return labels[j], DOUBT_SHARE * float(mark[j])
    empty = float(mark[labels.index("")])
    return best[0], (1.0 - DOUBT_SHARE) * best[1] + DOUBT_SHARE * empty
