"""The ink mask's levels: set from the box's own ink, and above the photo's grain."""

from __future__ import annotations

import cv2
import numpy as np

from vision.inkmask import (
    FAINT_GROW,
    FAINT_SEED,
    NOISE_CAP,
    ink_contrast,
    ink_levels,
    inked_tiles,
    noise_floors,
)


def _tiles(paper: float, grain: float, seed: int = 0) -> np.ndarray:
    """Five 60 x 60 boxes of paper at grey `paper` with a 2 px wide grain of sigma `grain`;
    the last holds a bold `0` (an ellipse 3 px thick, 60 grey levels under the paper)."""
    rng = np.random.default_rng(seed)
    tiles = []
    for k in range(5):
        noise = cv2.resize(rng.standard_normal((30, 30)).astype(np.float32), (60, 60),
                           interpolation=cv2.INTER_LINEAR) * grain * 1.6
        tile = np.full((60, 60), paper, np.float32) + noise
        if k == 4:
            ring = np.zeros((60, 60), np.uint8)
            cv2.ellipse(ring, (30, 30), (10, 16), 0, 0, 360, 1, 3)
            tile[ring > 0] -= 60.0
        tiles.append(np.clip(tile, 0, 255))
    return np.stack(tiles).astype(np.float32)


def test_in_daylight_the_levels_are_the_faint_pen_s() -> None:
    contrast = ink_contrast(_tiles(220.0, 3.0))
    seed, grow = noise_floors(contrast, (8, 52, 8, 52))
    assert np.allclose(seed, FAINT_SEED) and np.allclose(grow, FAINT_GROW)


def test_dim_grain_is_not_ink_and_a_bold_digit_still_is() -> None:
    # An evening photo: paper at grey 110, grain sigma 8. The grain alone peaks over the
    # faint pen's seed in every empty box, and a level taken over the whole box (the `0`
    # included) rose above the `0` itself.
    contrast = ink_contrast(_tiles(110.0, 8.0))
    region = (8, 52, 8, 52)
    peak = contrast[:, 8:52, 8:52].max(axis=(1, 2))
    assert (peak[:4] > FAINT_SEED).all()
    floors = noise_floors(contrast, region)
    assert (floors[0][:4] > peak[:4]).all()
    assert list(inked_tiles(peak, floors[0])) == [4]
    _, _, mask = ink_levels(contrast[4:], peak[4:], (floors[0][4:], floors[1][4:]))
    ring = np.zeros((60, 60), np.uint8)
    cv2.ellipse(ring, (30, 30), (10, 16), 0, 0, 360, 1, 3)
    assert mask[0][ring > 0].mean() > 0.9  # the `0` whole
    assert mask[0][ring == 0].mean() < 0.02  # and hardly any grain beside it


def test_a_box_written_over_most_of_it_keeps_its_ink() -> None:
    # Ink over most of a box (writing bigger than the box, a blot): its darkness's lower
    # quarter is ink, not paper, and its own level rose above the ink (measured up to 2.4 on
    # big writing). The grain is the photo's: the box is held to NOISE_CAP times the others'
    # median.
    tiles = _tiles(220.0, 3.0)
    for y in range(4, 56, 7):  # strokes 6 px wide, 1 px of paper between
        tiles[3, y:y + 6, 4:56] -= 120.0
    contrast = ink_contrast(tiles)
    sample = contrast[3, 8:52:2, 8:52:2]
    low, quarter = np.percentile(sample, (5, 25))
    assert quarter > 0.3 > low  # the box's lower quarter is ink: its own level is not paper
    seed, grow = noise_floors(contrast, (8, 52, 8, 52))
    assert seed[3] <= NOISE_CAP * FAINT_SEED + 1e-6
    peak = contrast[:, 8:52, 8:52].max(axis=(1, 2))
    assert 3 in inked_tiles(peak, seed)
