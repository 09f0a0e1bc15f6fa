"""frametrim: a box crop holding its whole printed frame is cut at the frame's outside."""

from __future__ import annotations

import cv2
import numpy as np

from vision.frametrim import trim_to_frame


def page(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return np.clip(rng.normal(220.0, 4.0, (h, w)), 0, 255).astype(np.float32)


def test_paper_beyond_the_frame_is_cut_away_and_the_frame_kept() -> None:
    crop = page(100, 80)
    # OpenCV draws thickness 3 as 5 px, 2 px either side: rows 5-9 and 90-94, columns 7-11
    # and 68-72.
    cv2.rectangle(crop, (9, 7), (70, 92), 50.0, 3)
    trimmed, sides = trim_to_frame(crop)
    # The frame's outer edge is now the crop's edge.
    assert sides == 4 and trimmed.shape == (100 - 5 - 5, 80 - 7 - 7)
    assert trimmed[0].mean() < 100 and trimmed[:, 0].mean() < 100
    assert trimmed[-1].mean() < 100 and trimmed[:, -1].mean() < 100


def test_a_frame_cut_off_on_one_side_is_still_a_frame() -> None:
    crop = page(100, 80)
    cv2.rectangle(crop, (9, 7), (70, 120), 50.0, 3)  # the bottom side lies outside the crop
    trimmed, sides = trim_to_frame(crop)
    assert sides == 3 and trimmed.shape == (100 - 5, 80 - 7 - 7)


def test_an_interior_crop_and_a_long_digit_bar_are_left_alone() -> None:
    crop = page(100, 80)
    cv2.line(crop, (8, 12), (72, 12), 40.0, 3)  # the bar of a 7 wide across the box
    cv2.line(crop, (72, 12), (40, 90), 40.0, 3)
    trimmed, sides = trim_to_frame(crop)
    assert trimmed is crop and sides == 1  # the bar alone, not a frame
    framed_at_edges = page(100, 80)
    cv2.rectangle(framed_at_edges, (0, 0), (79, 99), 50.0, 3)
    trimmed, sides = trim_to_frame(framed_at_edges)
    assert sides == 4 and trimmed.shape == (100, 80)


def test_the_side_of_a_bold_digit_filling_the_box_is_writing_not_the_frame() -> None:
    # A bold `8` or `0` filling the box spans its height like a frame side; the frame's
    # cut sides run on past it, so it is the writing's and the digit keeps its side.
    crop = page(100, 80)
    crop[0:3, :] = crop[97:, :] = crop[:, 77:] = 50.0  # the frame, cut through at the edges
    crop[:, 10:26] = 40.0  # the digit's side, 16 px (a fifth of the box) across
    trimmed, sides = trim_to_frame(crop)
    assert sides == 3 and trimmed.shape == crop.shape
    assert trimmed[:, 10:26].mean() < 100


def test_a_bar_the_cut_frame_runs_past_is_inside_the_frame_and_not_cut_at() -> None:
    # Cut at the frame's inner edge: its remnants run down both sides to the crop's edge,
    # past a `2`'s wide base with paper under it.
    crop = page(100, 80)
    crop[0:3, :] = crop[:, 0:3] = crop[:, 77:] = 50.0
    crop[84:88, 5:75] = 40.0
    trimmed, sides = trim_to_frame(crop)
    assert sides == 3 and trimmed.shape == crop.shape


def test_boxes_drawn_as_a_table_are_cut_at_their_frame() -> None:
    # A row of boxes shares its top and bottom rules, which run on past this box's sides
    # into the paper beyond them.
    crop = page(100, 80)
    crop[6:11, :] = crop[89:94, :] = 50.0  # the rules, across the whole crop
    crop[6:94, 8:13] = crop[6:94, 67:72] = 50.0  # this box's sides
    trimmed, sides = trim_to_frame(crop)
    assert sides == 4 and trimmed.shape == (100 - 6 - 6, 80 - 8 - 8)
