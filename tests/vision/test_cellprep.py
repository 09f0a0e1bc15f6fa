"""cellprep: any box crop becomes an MNIST-style 28x28 image; blank boxes stay blank."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from vision import cellprep

Image = np.ndarray[Any, Any]


def paper(h: int, w: int, *, level: float = 225.0, seed: int = 0) -> Image:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(level, 3.0, (h, w)), 0, 255).astype(np.float32)


def write(img: Image, text: str, *, ink: float = 40.0, height: float = 0.6) -> Image:
    """Write `text` (a digit) centred-ish in the box with a pen about a 20th of the box high."""
    h, w = img.shape
    mask = np.zeros((h, w), np.uint8)
    scale = h * height / 22.0
    thick = max(1, h // 20)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    org = ((w - tw) // 2, (h + th) // 2)
    cv2.putText(mask, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA)
    return img * (1 - mask / 255.0) + ink * (mask / 255.0)


def border(img: Image, *, ink: float = 60.0, thick: int = 2) -> Image:
    """Remnants of the printed box frame along all four edges."""
    out = img.copy()
    out[:thick, :] = ink
    out[-thick:, :] = ink
    out[:, :thick] = ink
    out[:, -thick:] = ink
    return out


def u8(img: Image) -> Image:
    return np.clip(img, 0, 255).astype(np.uint8)


def jpeg(img: Image, quality: int = 50) -> Image:
    ok, enc = cv2.imencode(".jpg", u8(img), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.asarray(cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE))


def centre_of_mass(out: Image) -> tuple[float, float]:
    m = out.astype(np.float64)
    ys, xs = np.mgrid[0 : m.shape[0], 0 : m.shape[1]]
    return float((m * ys).sum() / m.sum()), float((m * xs).sum() / m.sum())


def assert_mnist_like(out: Image) -> None:
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out.max() == 255, "the strongest ink is full white"
    cy, cx = centre_of_mass(out)
    assert abs(cy - 13.5) <= 1.0 and abs(cx - 13.5) <= 1.0, (cy, cx)
    ys, xs = np.nonzero(out > 25)
    extent = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    assert 18 <= extent <= 23, f"the ink fits a 20 px box, got {extent}"


def similarity(a: Image, b: Image) -> float:
    fa, fb = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(np.corrcoef(fa, fb)[0, 1])


BLANKS = {
    "plain": paper(60, 40),
    "jpeg noise": jpeg(paper(60, 40, seed=1), 25),
    "border remnants": border(paper(60, 40, seed=2)),
    "ruling line": cv2.line(paper(60, 40, seed=3), (0, 30), (39, 30), 70.0, 2),
    "dotted guide": paper(60, 40, seed=4),
    "shadow": paper(60, 40, seed=5) * np.linspace(1.0, 0.45, 40)[None, :],
    "specks": paper(60, 40, seed=6),
    "huge scan": border(paper(700, 450, seed=7), thick=12),
    "tiny": paper(9, 6, seed=8),
}
for x in range(1, 40, 4):
    BLANKS["dotted guide"][50:52, x : x + 2] = 90.0
for y, x in ((10, 8), (44, 30), (25, 5)):
    BLANKS["specks"][y : y + 2, x : x + 2] = 50.0


@pytest.mark.parametrize("name", sorted(BLANKS))
def test_blank_boxes_stay_blank(name: str) -> None:
    prepared = cellprep.prepare_one(u8(BLANKS[name]))
    assert prepared.blank, f"{name}: ink fraction {prepared.ink_fraction:.4f}"
    assert not prepared.image.any()


@pytest.mark.parametrize(
    ("h", "w"), [(60, 40), (24, 16), (14, 10), (900, 600), (300, 300), (40, 70)]
)
def test_a_digit_of_any_size_is_centred_by_mass_in_20_px(h: int, w: int) -> None:
    out = cellprep.prepare(u8(write(paper(h, w), "3")))
    assert_mnist_like(out)


def test_size_does_not_change_the_result_much() -> None:
    small = cellprep.prepare(u8(write(paper(30, 20), "7")))
    large = cellprep.prepare(u8(write(paper(600, 400), "7")))
    assert similarity(small, large) > 0.75


def test_border_remnants_ruling_line_and_jpeg_are_removed() -> None:
    clean = cellprep.prepare(u8(write(paper(64, 52), "5")))
    dirty = border(write(paper(64, 52, seed=9), "5"), thick=3)
    cv2.line(dirty, (0, 56), (51, 56), 80.0, 1)
    out = cellprep.prepare(jpeg(dirty, 40))
    assert_mnist_like(out)
    assert similarity(clean, out) > 0.8


def test_uneven_light_does_not_become_ink() -> None:
    lit = write(paper(64, 44), "2") * np.linspace(1.0, 0.4, 64)[:, None]
    out = cellprep.prepare(u8(lit))
    assert_mnist_like(out)
    assert similarity(cellprep.prepare(u8(write(paper(64, 44), "2"))), out) > 0.8


def test_a_one_in_the_middle_is_not_taken_for_a_ruling_line() -> None:
    img = paper(64, 40)
    cv2.line(img, (20, 8), (20, 54), 40.0, 3)  # 72% of the box high, in the middle
    out = cellprep.prepare_one(u8(img))
    assert not out.blank
    ys, xs = np.nonzero(out.image > 25)
    assert ys.max() - ys.min() + 1 >= 19 and xs.max() - xs.min() + 1 <= 6


def test_faint_pencil_is_ink_but_watermark_grey_is_not() -> None:
    faint = cellprep.prepare_one(u8(write(paper(60, 40), "4", ink=150.0)))  # ~33% contrast
    assert not faint.blank
    watermark = cellprep.prepare_one(u8(write(paper(60, 40), "4", ink=200.0)))  # ~11%
    assert watermark.blank


def test_colour_and_float_inputs_are_accepted() -> None:
    gray = u8(write(paper(60, 40), "8"))
    expected = cellprep.prepare(gray)
    colour = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    np.testing.assert_array_equal(cellprep.prepare(colour), expected)
    unit = gray.astype(np.float32) / 255.0
    assert similarity(cellprep.prepare(unit), expected) > 0.98


def test_batch_is_the_same_as_one_by_one() -> None:
    crops = [u8(write(paper(50 + 10 * i, 36), str(i))) for i in range(10)] + [u8(BLANKS["plain"])]
    batch = cellprep.prepare_batch(crops)
    assert batch.shape == (11, 28, 28, 1) and batch.dtype == np.uint8
    for crop, row in zip(crops, batch, strict=True):
        np.testing.assert_array_equal(row[:, :, 0], cellprep.prepare(crop))
    assert cellprep.prepare_batch([]).shape == (0, 28, 28, 1)


@pytest.mark.parametrize("bad", [np.zeros(10), np.zeros((2, 2)), np.zeros((3, 3, 3, 3))])
def test_a_crop_that_is_not_an_image_is_refused_clearly(bad: Image) -> None:
    with pytest.raises(ValueError, match="2-D image"):
        cellprep.prepare(bad)


def test_strokes_near_the_edges_are_writing_not_frame() -> None:
    """Big handwriting fills the box: a 7's bar under the top edge, a 1 as tall as the box."""
    seven = paper(64, 60)
    cv2.line(seven, (14, 6), (50, 6), 40.0, 3)  # the bar, 60% of the width, 6 px from the top
    cv2.line(seven, (50, 6), (26, 60), 40.0, 3)
    out = cellprep.prepare(u8(seven))
    top = np.nonzero(out.any(axis=1))[0].min()
    assert (out[top : top + 3] > 100).sum(axis=1).max() >= 10, "the bar of the 7 is kept"

    one = paper(64, 60, seed=1)
    cv2.line(one, (30, 1), (28, 62), 40.0, 3)  # edge to edge vertically
    prepared = cellprep.prepare_one(u8(one))
    assert not prepared.blank
    ys, _ = np.nonzero(prepared.image > 25)
    assert ys.max() - ys.min() + 1 >= 19


def test_a_faint_pen_in_an_over_exposed_photo_is_still_read() -> None:
    """Ink only ~24% darker than the paper (light ballpoint, blur, bright light) is writing;
    the same box with watermark grey (~11%) stays blank."""
    faint = cellprep.prepare_one(u8(write(paper(64, 64), "0", ink=172.0)))
    assert not faint.blank, faint.ink_fraction
    assert_mnist_like(faint.image)
    assert similarity(faint.image, cellprep.prepare(u8(write(paper(64, 64), "0")))) > 0.8
    assert cellprep.prepare_one(u8(write(paper(64, 64), "0", ink=200.0))).blank


def test_a_thin_light_pen_a_sixth_darker_than_the_paper_is_writing() -> None:
    """A small digit in light ballpoint, photographed at ~3 px/mm, peaks only ~17% darker
    than the paper (measured on simulated small writing: 12-22%): still writing, while
    watermark grey (~11%, above) stays blank."""
    light = cellprep.prepare_one(u8(write(paper(64, 64), "3", ink=187.0, height=0.35)))
    assert not light.blank, light.ink_fraction
    assert_mnist_like(light.image)


def test_a_one_a_fifth_of_the_box_high_is_writing_not_a_speck() -> None:
    """Officers write small: a thin `1` a fifth of a tall box high (as in a real 2019 scan)
    is read, while specks about a twentieth of the box (BLANKS["specks"]) stay blank."""
    box = paper(64, 36, seed=9)
    box[26:39, 17:20] = 60.0  # 13 px of 64: 20% of the height, 3 px wide
    prepared = cellprep.prepare_one(u8(box))
    assert not prepared.blank, prepared.ink_fraction
    ys, _ = np.nonzero(prepared.image > 25)
    assert ys.max() - ys.min() + 1 >= 18, "scaled up to the model's 20 px like any digit"


def test_boxes_prepared_together_do_not_influence_each_other() -> None:
    """A page's boxes (same size, one stack) come out as each would alone: a heavy frame,
    a ruling line or a full-height stroke in one box changes nothing in its neighbours."""
    crops = [
        u8(border(write(paper(66, 66, seed=1), "7"), thick=4)),
        u8(cv2.line(write(paper(66, 66, seed=2), "2"), (0, 60), (65, 60), 60.0, 2)),
        u8(paper(66, 66, seed=3)),
        u8(cv2.line(paper(66, 66, seed=4), (33, 0), (31, 65), 40.0, 3)),
        u8(write(paper(66, 66, seed=5), "9", ink=172.0)),
        u8(border(paper(66, 66, seed=6), thick=3)),
    ]
    batch = cellprep.prepare_batch(crops)
    for crop, row in zip(crops, batch, strict=True):
        np.testing.assert_array_equal(row[:, :, 0], cellprep.prepare(crop))
    blank = [not row.any() for row in batch]
    assert blank == [False, False, True, False, False, True]


def framed(img: Image, *, inset: int, ink: float = 60.0, thick: int = 3) -> Image:
    """The printed box frame drawn `inset` px in from the crop's edges: a box cut with its
    frame and a margin of paper around it, as a cutter that takes the outer border does."""
    out = img.copy()
    h, w = out.shape
    cv2.rectangle(out, (inset, inset), (w - 1 - inset, h - 1 - inset), ink, thick)
    return out


def test_a_light_pen_digit_is_read_in_a_crop_cut_with_its_dark_frame() -> None:
    # The printed frame is far darker than a light pen (~29% contrast): the ink's levels
    # follow the writing, not the frame, so the digit is neither lost nor read as blank.
    alone = cellprep.prepare(u8(write(paper(80, 64), "2", ink=160.0, height=0.45)))
    with_frame = cellprep.prepare_one(
        u8(framed(write(paper(80, 64), "2", ink=160.0, height=0.45), inset=5)))
    assert not with_frame.blank
    assert similarity(with_frame.image, alone) > 0.8


def test_an_empty_box_cut_with_its_frame_stays_blank() -> None:
    for inset in (0, 3, 6, 8):
        out = cellprep.prepare_one(jpeg(framed(paper(80, 64, seed=inset), inset=inset), 40))
        assert out.blank, inset


def test_a_light_pen_digit_beside_a_dark_remnant_of_the_frame_is_read() -> None:
    # A crop cut a millimetre off the box keeps a strip of the printed frame along one side.
    # It is far darker than the pen, yet the digit's levels follow the writing.
    alone = cellprep.prepare(u8(write(paper(80, 64), "2", ink=160.0, height=0.45)))
    crop = write(paper(80, 64), "2", ink=160.0, height=0.45)
    crop[:, 60:] = 60.0
    shifted = cellprep.prepare_one(u8(crop))
    assert not shifted.blank
    assert similarity(shifted.image, alone) > 0.8


def test_an_empty_box_beside_a_dark_remnant_of_the_frame_stays_blank() -> None:
    for side in range(4):
        crop = np.rot90(paper(80, 80, seed=side), side).copy()
        crop[:, 75:] = 60.0
        assert cellprep.prepare_one(jpeg(crop, 40)).blank, side
