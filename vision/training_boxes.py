"""Rendered box crops for training and held-out measurement: MNIST, Hershey-font and
procedural-hand digits, drawn X fillers and blank boxes, each rendered as dark ink on light
paper as a camera or scanner gives a box (uneven light, watermark, border remnants, ruling
and dotted lines, specks, blur, noise, JPEG), then passed through `cellprep.prepare`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vision import cellprep, digits

LABELS = digits.LABELS
X_INDEX = LABELS.index("X")
BLANK_INDEX = LABELS.index("")


def load_mnist(shared: Path, split: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    data = np.load(shared / "data" / f"mnist_{split}.npz")
    return np.asarray(data["images"], np.uint8), np.asarray(data["labels"], np.int64)


# Synthetic glyphs and box crops. A glyph is an ink coverage map (float32, 0..1), tight to the ink.
Glyph = np.ndarray[Any, np.dtype[np.float32]]
FONTS = (0, 1, 2, 3, 4, 6, 7)  # Hershey faces but the tiny one; 6 and 7 are the script faces


def _tight(alpha: np.ndarray[Any, Any]) -> Glyph:
    ys, xs = np.nonzero(alpha > 0.05)
    return np.asarray(alpha[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1], np.float32)


def _warp(alpha: np.ndarray[Any, Any], rng: np.random.Generator, rot: float, shear: float) -> Glyph:
    """Rotate and shear about the centre on a canvas large enough to keep every stroke."""
    import cv2

    h, w = alpha.shape
    pad = max(h, w) // 2
    canvas = np.pad(alpha.astype(np.float32), pad)
    ch, cw = canvas.shape
    rotate = np.vstack([cv2.getRotationMatrix2D((cw / 2, ch / 2), rng.uniform(-rot, rot), 1.0),
                        [0.0, 0.0, 1.0]])
    k = float(rng.uniform(-shear, shear))
    slant = np.array([[1.0, k, -k * ch / 2], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    m = (slant @ rotate)[:2]
    out = cv2.warpAffine(canvas, m, (cw, ch), flags=cv2.INTER_LINEAR)
    return _tight(np.clip(out, 0.0, 1.0))


def _vary_stroke(alpha: Glyph, rng: np.random.Generator) -> Glyph:
    import cv2

    k = int(rng.integers(-1, 3))
    if k == 0:
        return alpha
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(k) + 1, 2 * abs(k) + 1))
    op = cv2.dilate if k > 0 else cv2.erode
    out = op(alpha, kernel)
    return _tight(out) if out.max() > 0.3 else alpha


def mnist_glyph(image: np.ndarray[Any, Any], rng: np.random.Generator) -> Glyph:
    """An MNIST digit (white on black 28x28) as ink coverage at 3x size, re-slanted, re-inked."""
    import cv2

    big = cv2.resize(_tight(image.astype(np.float32) / 255.0), None, fx=3, fy=3,
                     interpolation=cv2.INTER_CUBIC)
    alpha = _warp(np.clip(big, 0.0, 1.0), rng, rot=8, shear=0.25)
    return _vary_stroke(alpha, rng)


def font_glyph(text: str, rng: np.random.Generator) -> Glyph:
    """A digit or letter in a random Hershey face, weight, slant and rotation."""
    import cv2

    font = int(rng.choice(FONTS)) | (cv2.FONT_ITALIC if rng.random() < 0.3 else 0)
    canvas = np.zeros((200, 200), np.uint8)
    thickness = int(rng.integers(2, 9))
    cv2.putText(canvas, text, (40, 150), font, 4.0, 255, thickness, cv2.LINE_AA)
    return _warp(canvas.astype(np.float32) / 255.0, rng, rot=10, shear=0.3)


def hand_glyph(label: str, rng: np.random.Generator) -> Glyph:
    """A digit or X from the project's procedural hand (`vision.handwriting`), another style."""
    from vision.handwriting import Writer, procedural_glyph

    mask = procedural_glyph(label, rng, Writer.random(rng), int(rng.integers(40, 90)))
    return _tight(mask.astype(np.float32) / 255.0)


def x_glyph(rng: np.random.Generator) -> Glyph:
    """The 'X' filler: two crossing strokes, random angles, lengths and pen, sometimes sloppy."""
    import cv2

    canvas = np.zeros((160, 160), np.uint8)
    thickness = int(rng.integers(3, 13))
    centre = np.array([80.0, 80.0]) + rng.normal(0, 6, 2)
    base = float(rng.uniform(-20, 20))
    for angle in (45.0 + base + rng.normal(0, 8), 135.0 + base + rng.normal(0, 8)):
        half = rng.uniform(30, 65, 2)
        direction = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
        shift = rng.normal(0, 7, 2)
        start = centre - direction * half[0] + shift
        end = centre + direction * half[1] + shift
        # A hand stroke bends: pass through a displaced midpoint.
        normal = np.array([-direction[1], direction[0]])
        mid = (start + end) / 2 + normal * rng.normal(0, 5)
        pts = np.array([start, mid, end], np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [pts], False, 255, thickness, cv2.LINE_AA)
    return _warp(canvas.astype(np.float32) / 255.0, rng, rot=5, shear=0.2)


def render_box(glyph: Glyph | None, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    """A grayscale box interior as a camera or scanner gives it, with `glyph` written in it."""
    import cv2

    h = int(rng.uniform(22, 150))
    w = max(12, int(h * rng.uniform(0.5, 1.15)))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    paper = float(rng.uniform(140, 248))
    # Uneven light: a linear gradient in a random direction.
    theta = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(theta) * xx / w + np.sin(theta) * yy / h + 1.5) / 3.0
    img = paper * (1.0 - rng.uniform(0, 0.35) * ramp)
    if rng.random() < 0.4:  # faint printed watermark (security pattern, logo) behind the ink
        mark = np.zeros((h, w), np.uint8)
        text = "".join(rng.choice(list("KPUSMO"), 3))
        scale = h / 40 * rng.uniform(0.8, 2.0)
        org = (int(rng.integers(-w // 2, w // 2)), int(rng.integers(h // 3, h)))
        cv2.putText(mark, text, org, cv2.FONT_HERSHEY_DUPLEX, scale, 255, max(1, h // 12))
        img *= 1.0 - rng.uniform(0.03, 0.15) * (mark / 255.0)
    if glyph is not None:
        gh, gw = glyph.shape
        # One in five writers fills the box and touches its top or bottom edge, where the
        # frame remover may take a 7's bar or a 5's flag with the border.
        big = rng.random() < 0.2
        fill = rng.uniform(0.85, 1.0) if big else rng.uniform(0.45, 0.88)
        scale = min(h * fill / gh, w * 0.92 / gw)
        nh, nw = max(2, int(gh * scale)), max(2, int(gw * scale))
        alpha = cv2.resize(glyph, (nw, nh), interpolation=cv2.INTER_AREA)
        top = int(np.clip((h - nh) / 2 + rng.normal(0, h * 0.07), 0, h - nh))
        if big:
            top = 0 if rng.random() < 0.5 else h - nh
        left = int(np.clip((w - nw) / 2 + rng.normal(0, w * 0.07), 0, w - nw))
        ink = np.zeros((h, w), np.float32)
        ink[top : top + nh, left : left + nw] = alpha
        img *= 1.0 - rng.uniform(0.45, 0.95) * ink
    lines = np.zeros((h, w), np.uint8)
    for edge in range(4):  # remnants of the printed box border
        if rng.random() < 0.35:
            t = int(rng.integers(1, max(2, h // 20) + 1))
            o = int(rng.integers(0, 3))
            if edge == 0:
                cv2.rectangle(lines, (0, o), (w, o + t - 1), 255, -1)
            elif edge == 1:
                cv2.rectangle(lines, (0, h - 1 - o - t + 1), (w, h - 1 - o), 255, -1)
            elif edge == 2:
                cv2.rectangle(lines, (o, 0), (o + t - 1, h), 255, -1)
            else:
                cv2.rectangle(lines, (w - 1 - o - t + 1, 0), (w - 1 - o, h), 255, -1)
    if rng.random() < 0.15:  # a ruling line across the box
        y = int(rng.integers(h // 6, h - h // 6))
        cv2.line(lines, (0, y), (w, y), 255, int(rng.integers(1, 3)))
    if rng.random() < 0.15:  # dotted guide line
        y = int(rng.uniform(0.6, 0.95) * h)
        step = int(rng.integers(3, 7))
        for x in range(int(rng.integers(0, step)), w, step):
            cv2.circle(lines, (x, y), int(rng.integers(0, 2)), 255, -1)
    if rng.random() < 0.3:  # specks of dust or ink
        for _ in range(int(rng.integers(1, 5))):
            p = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.circle(lines, p, int(rng.integers(0, 2)), 255, -1)
    img *= 1.0 - rng.uniform(0.3, 0.85) * (lines / 255.0)
    sigma = float(rng.uniform(0, 1.2))
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img += rng.normal(0, rng.uniform(1, 8), img.shape)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 96))])
        out = cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE)
    return np.asarray(out, np.uint8)


def synthetic_set(
    mnist_images: np.ndarray[Any, Any],
    mnist_labels: np.ndarray[Any, Any],
    *,
    n_digits: int,
    n_font: int,
    n_hand: int,
    n_x: int,
    n_blank: int,
    seed: int,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Rendered box crops through `cellprep.prepare`: (N, 28, 28) uint8 and labels."""
    rng = np.random.default_rng(seed)

    def from_mnist() -> tuple[np.ndarray[Any, Any] | None, int]:
        i = int(rng.integers(len(mnist_images)))
        return mnist_glyph(mnist_images[i], rng), int(mnist_labels[i])

    def from_font() -> tuple[np.ndarray[Any, Any] | None, int]:
        d = int(rng.integers(10))
        return font_glyph(str(d), rng), d

    def from_hand() -> tuple[np.ndarray[Any, Any] | None, int]:
        label = int(rng.integers(len(LABELS) - 1))  # digits and X
        return hand_glyph(LABELS[label], rng), label

    makers: list[tuple[int, Callable[[], tuple[np.ndarray[Any, Any] | None, int]]]] = [
        (n_digits, from_mnist),
        (n_font, from_font),
        (n_hand, from_hand),
        (n_x, lambda: (x_glyph(rng), X_INDEX)),
        (n_blank, lambda: (None, BLANK_INDEX)),
    ]
    images, labels = [], []
    for count, make in makers:
        for _ in range(count):
            glyph, label = make()
            images.append(cellprep.prepare(render_box(glyph, rng)))
            labels.append(label)
    return np.stack(images), np.asarray(labels, np.int64)
