"""Handwritten glyphs: every label drawable, one consistent hand per writer, readable digits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from vision.handwriting import LABELS, Writer, glyph, procedural_glyph


def _writer(seed: int) -> Writer:
    return Writer.random(np.random.default_rng(seed))


@pytest.mark.parametrize("label", LABELS)
def test_procedural_glyph_has_ink_at_the_asked_height(label: str) -> None:
    rng = np.random.default_rng(7)
    mask = glyph(label, rng, "procedural", height_px=48)
    assert mask.dtype == np.uint8 and mask.ndim == 2
    assert mask.max() >= 200, "strokes reach full ink"
    assert (mask > 128).sum() >= 40
    assert 35 <= mask.shape[0] <= 75
    # Cropped to the ink: every border row/column is within a pixel or two of a stroke.
    assert mask[:3].max() > 0 and mask[-3:].max() > 0
    assert mask[:, :3].max() > 0 and mask[:, -3:].max() > 0


def test_same_seed_draws_the_same_glyph() -> None:
    a = glyph("5", np.random.default_rng(3), "procedural", writer=_writer(1))
    b = glyph("5", np.random.default_rng(3), "procedural", writer=_writer(1))
    assert np.array_equal(a, b)


def _normalised(mask: np.ndarray) -> np.ndarray:
    return cv2.resize(mask, (24, 32), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


@pytest.mark.parametrize("label", ["2", "4", "7", "X"])
def test_different_writers_draw_differently(label: str) -> None:
    shapes = [
        _normalised(glyph(label, np.random.default_rng(0), "procedural", writer=_writer(s)))
        for s in range(6)
    ]
    for i in range(len(shapes)):
        for k in range(i + 1, len(shapes)):
            assert np.abs(shapes[i] - shapes[k]).mean() > 0.02


def _lean(mask: np.ndarray) -> float:
    """Horizontal shift per unit of height (positive: the top leans right)."""
    m = cv2.moments(mask.astype(np.float32))
    return float(-m["mu11"] / m["mu02"])


def test_one_writer_keeps_one_slant_across_digits() -> None:
    upright = replace(_writer(2), slant=-0.1)
    leaning = replace(_writer(2), slant=0.35)
    for label in ["1", "4", "7", "9"]:
        a = [_lean(procedural_glyph(label, np.random.default_rng(s), upright)) for s in range(5)]
        b = [_lean(procedural_glyph(label, np.random.default_rng(s), leaning)) for s in range(5)]
        assert np.mean(b) > np.mean(a) + 0.15, label


def test_writer_habits_change_the_shape() -> None:
    base = _writer(4)
    plain_one = procedural_glyph("1", np.random.default_rng(0),
                                 replace(base, one_flag=False, one_base=False, slant=0.0))
    flagged_one = procedural_glyph("1", np.random.default_rng(0),
                                   replace(base, one_flag=True, one_base=True, slant=0.0))
    assert flagged_one.shape[1] > plain_one.shape[1] * 2

    barred = procedural_glyph("7", np.random.default_rng(0), replace(base, seven_bar=True))
    bare = procedural_glyph("7", np.random.default_rng(0), replace(base, seven_bar=False))
    assert int((barred > 128).sum()) > int((bare > 128).sum())


def test_unknown_label_is_refused() -> None:
    with pytest.raises(ValueError, match="no glyph"):
        glyph("A", np.random.default_rng(0))


def _mnist_format(mask: np.ndarray) -> np.ndarray:
    """Like MNIST: longest side 20 px, centred by mass in 28 x 28."""
    h, w = mask.shape
    scale = 20.0 / max(h, w)
    small = cv2.resize(mask, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    out = np.zeros((28, 28), np.float32)
    y0, x0 = (28 - small.shape[0]) // 2, (28 - small.shape[1]) // 2
    out[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    m = cv2.moments(out)
    shift = np.array([[1, 0, 14 - m["m10"] / m["m00"]], [0, 1, 14 - m["m01"] / m["m00"]]])
    centred: np.ndarray = cv2.warpAffine(out, shift, (28, 28)) / 255
    return centred


@pytest.mark.shared
def test_procedural_digits_are_readable_by_a_model_of_real_handwriting(
        shared_dir: Path) -> None:
    """A nearest-neighbour reader built only from real MNIST handwriting reads our digits."""
    with np.load(shared_dir / "data" / "mnist_train.npz") as data:
        images, labels = data["images"][:20000], data["labels"][:20000]
    train = images.reshape(len(images), -1).astype(np.float32) / 255
    train_sq = (train**2).sum(axis=1)
    rng = np.random.default_rng(11)
    queries, truth = [], []
    for writer_seed in range(30):
        writer = _writer(100 + writer_seed)
        for d in range(10):
            queries.append(_mnist_format(procedural_glyph(str(d), rng, writer)).ravel())
            truth.append(d)
    q = np.array(queries)
    dist = train_sq[None, :] - 2 * q @ train.T
    nearest = np.argsort(dist, axis=1)[:, :5]
    votes = labels[nearest]
    predicted = np.array([np.bincount(v, minlength=10).argmax() for v in votes])
    accuracy = float((predicted == np.array(truth)).mean())
    print(f"procedural readability {accuracy:.3f}")
    assert accuracy >= 0.75, f"kNN on MNIST reads {accuracy:.0%} of procedural digits"


@pytest.mark.shared
def test_mnist_source_gives_real_digits_and_procedural_crosses(shared_dir: Path) -> None:
    rng = np.random.default_rng(5)
    for label in ["3", "X"]:
        mask = glyph(label, rng, "mnist", height_px=40)
        assert (mask > 128).sum() >= 30
        assert 30 <= mask.shape[0] <= 70
