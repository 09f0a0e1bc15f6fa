"""Handwritten digit and "X" glyphs as ink masks, for synthetic forms.

Two sources:

* ``mnist``: real handwriting from ``../shared/data/mnist_*.npz`` (or ``$TITIK_SHARED``). The
  held-out ``test`` split is the default so benchmarks never score the model on its own
  training digits. MNIST has no "X", so crosses always come from the procedural generator.
* ``procedural``: each character is a few pen strokes (polylines and cubic Bezier curves) in a
  unit box, bent by a per-writer style (slant, aspect, stroke width, habits such as a flag on
  the 1 or a bar through the 7) and by per-glyph jitter, then drawn anti-aliased. It ships with
  the project, so tests run on machines without ``../shared``.

A glyph is a ``uint8`` mask, 255 = full ink, 0 = bare paper, cropped to its ink with a one-pixel
margin. The caller scales it into a box and picks the ink colour (``Writer.ink_bgr``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

logger = logging.getLogger(__name__)

Source = Literal["auto", "mnist", "procedural"]
Points = np.ndarray[Any, np.dtype[np.float64]]
Mask = np.ndarray[Any, np.dtype[np.uint8]]

LABELS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "X")
_SUPERSAMPLE = 4

# Ballpoint colours (BGR) as they look on paper under indoor light.
_BLUE_INKS = ((140, 40, 20), (170, 70, 30), (120, 30, 35), (150, 60, 50))
_BLACK_INKS = ((35, 30, 30), (50, 45, 45), (32, 28, 30))


def shared_dir() -> Path:
    """../shared beside the repository root, or ``$TITIK_SHARED``."""
    root = Path(__file__).resolve().parents[1]
    return Path(os.environ.get("TITIK_SHARED", root.parent / "shared")).resolve()


def mnist_available(split: str = "test") -> bool:
    return (shared_dir() / "data" / f"mnist_{split}.npz").is_file()


@lru_cache(maxsize=2)
def _mnist_by_label(split: str) -> dict[int, Mask]:
    path = shared_dir() / "data" / f"mnist_{split}.npz"
    if not path.is_file():
        raise FileNotFoundError(
            f"MNIST {split} digits not found at {path} (../shared absent?); "
            "use source='procedural' or 'auto'")
    with np.load(path) as data:
        images, labels = data["images"], data["labels"]
    logger.info("loaded %s MNIST %s digits from %s", len(labels), split, path)
    return {d: np.ascontiguousarray(images[labels == d]) for d in range(10)}


# A writer's habitual glyph height as a share of the box (the glyph's own box: its ink is
# about 0.7 of it). Officers in the 2019 scans wrote smaller (`synthetic.SMALL_WRITING`).
SIZES = (0.62, 0.82)


@dataclass(frozen=True)
class Writer:
    """One officer's hand: every glyph of a form is drawn with the same Writer.

    Lengths are fractions of the glyph height. ``slant`` is a shear (positive leans right).
    """

    slant: float
    aspect: float
    stroke: float
    wobble: float
    jitter: float
    size: float
    loop_gap: float
    one_flag: bool
    one_base: bool
    seven_bar: bool
    seven_hook: bool
    four_closed: bool
    three_flat: bool
    two_curly: bool
    eight_circles: bool
    nine_straight: bool
    ink_bgr: tuple[int, int, int]
    ink_density: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> Writer:
        blue = rng.random() < 0.65
        inks = _BLUE_INKS if blue else _BLACK_INKS
        return cls(
            slant=float(rng.normal(0.12, 0.12)),
            aspect=float(rng.uniform(0.55, 0.85)),
            stroke=float(rng.uniform(0.06, 0.13)),
            wobble=float(rng.uniform(0.005, 0.022)),
            jitter=float(rng.uniform(0.01, 0.035)),
            size=float(rng.uniform(*SIZES)),
            loop_gap=float(rng.uniform(0.0, 0.5)),
            one_flag=bool(rng.random() < 0.55),
            one_base=bool(rng.random() < 0.2),
            seven_bar=bool(rng.random() < 0.25),
            seven_hook=bool(rng.random() < 0.2),
            four_closed=bool(rng.random() < 0.5),
            three_flat=bool(rng.random() < 0.15),
            two_curly=bool(rng.random() < 0.25),
            eight_circles=bool(rng.random() < 0.25),
            nine_straight=bool(rng.random() < 0.6),
            ink_bgr=inks[int(rng.integers(len(inks)))],
            ink_density=float(rng.uniform(0.8, 1.0)),
        )


def glyph(
    label: str,
    rng: np.random.Generator,
    source: Source = "auto",
    *,
    writer: Writer | None = None,
    height_px: int = 48,
    split: str = "test",
) -> Mask:
    """One handwritten ``label`` ("0".."9" or "X") as an ink mask about ``height_px`` tall.

    ``auto`` uses MNIST when ``../shared`` holds it and the procedural hand otherwise.
    """
    if label not in LABELS:
        raise ValueError(f"no glyph for {label!r}; expected one of {', '.join(LABELS)}")
    writer = writer or Writer.random(rng)
    use_mnist = label != "X" and (
        source == "mnist" or (source == "auto" and mnist_available(split))
    )
    if use_mnist:
        return _mnist_glyph(int(label), rng, writer, height_px, split)
    if label == "X" and source != "procedural" and mnist_available(split):
        # Crosses beside MNIST digits get MNIST's felt-tip weight, so stroke width alone
        # never tells an X from a digit.
        writer = replace(writer, stroke=float(rng.uniform(0.1, 0.16)))
    return procedural_glyph(label, rng, writer, height_px)


def _mnist_glyph(digit: int, rng: np.random.Generator, writer: Writer, height_px: int,
                 split: str) -> Mask:
    pool = _mnist_by_label(split)[digit]
    image = pool[int(rng.integers(len(pool)))]
    scale = height_px / 20.0  # MNIST digits are normalised to a 20 px box
    # The writer's slant is applied on top of the MNIST writer's own, so a form keeps one lean.
    shear = writer.slant * 0.5
    matrix = np.array([[scale, -shear * scale, 0.0], [0.0, scale, 0.0]])
    size = int(np.ceil(28 * scale)) + 2 * int(abs(shear) * 28 * scale) + 2
    matrix[0, 2] = size / 2 - (matrix[0, 0] * 14 + matrix[0, 1] * 14)
    matrix[1, 2] = size / 2 - scale * 14
    out = np.asarray(cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR),
                     dtype=np.uint8)
    return _crop_ink(out)


# --- procedural strokes -------------------------------------------------------------------


def _bezier(p0: Any, p1: Any, p2: Any, p3: Any, n: int = 24) -> Points:
    t = np.linspace(0.0, 1.0, n)[:, None]
    pts = np.array([p0, p1, p2, p3], dtype=np.float64)
    curve: Points = (
        (1 - t) ** 3 * pts[0] + 3 * (1 - t) ** 2 * t * pts[1]
        + 3 * (1 - t) * t**2 * pts[2] + t**3 * pts[3]
    )
    return curve


def _line(*points: Any, n: int = 8) -> Points:
    pts = np.array(points, dtype=np.float64)
    segments = [
        pts[i] + np.linspace(0.0, 1.0, n, endpoint=False)[:, None] * (pts[i + 1] - pts[i])
        for i in range(len(pts) - 1)
    ]
    return np.vstack([*segments, pts[-1:]])


def _ellipse(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float,
             n: int = 40) -> Points:
    """Arc in image coordinates (y down): a=0 right, a=pi/2 bottom."""
    a = np.linspace(a0, a1, n)
    return np.column_stack([cx + rx * np.cos(a), cy + ry * np.sin(a)])


class _Hand:
    """Builds one glyph's strokes: the writer's habits plus this glyph's random jitter."""

    def __init__(self, writer: Writer, rng: np.random.Generator) -> None:
        self.w = writer
        self.rng = rng

    def j(self, *point: float) -> tuple[float, float]:
        dx, dy = self.rng.normal(0.0, self.w.jitter, 2)
        return (point[0] + dx, point[1] + dy)

    def gap(self) -> float:
        """Extra turn (positive overshoot, negative gap) where a loop should close."""
        if self.rng.random() < self.w.loop_gap:
            return float(self.rng.uniform(-0.12, -0.03)) * 2 * np.pi
        return float(self.rng.uniform(0.0, 0.12)) * 2 * np.pi

    def strokes(self, label: str) -> list[Points]:
        return getattr(self, f"_d{label}")()  # type: ignore[no-any-return]

    def _d0(self) -> list[Points]:
        r = self.rng
        cx, cy = self.j(0.5, 0.5)
        rx, ry = 0.45 + r.normal(0, 0.03), 0.5 + r.normal(0, 0.02)
        a0 = -np.pi / 2 + r.normal(0, 0.3)
        a = np.linspace(a0, a0 - 2 * np.pi - self.gap(), 56)
        wiggle = 1 + 0.06 * np.sin(2 * a + r.uniform(0, 2 * np.pi))
        return [np.column_stack([cx + rx * wiggle * np.cos(a), cy + ry * wiggle * np.sin(a)])]

    def _d1(self) -> list[Points]:
        top, bottom = self.j(0.58, 0.0), self.j(0.48, 1.0)
        stem = _line(top, bottom)
        if self.w.one_flag or self.w.one_base:
            stem = np.vstack([_line(self.j(0.2, 0.3), top, n=6)[:-1], stem])
        strokes = [stem]
        if self.w.one_base:
            bx, by = bottom
            strokes.append(_line(self.j(bx - 0.3, by), self.j(bx + 0.3, by - 0.01)))
        return strokes

    def _d2(self) -> list[Points]:
        j = self.j
        start = j(0.1, 0.28)
        turn = j(0.88, 0.33)
        foot = j(0.05, 1.0)
        top = _bezier(start, j(0.12, -0.06), j(0.92, -0.1), turn)
        down = _bezier(turn, j(0.75, 0.58), j(0.3, 0.8), foot)
        if self.w.two_curly:
            fx, fy = foot
            loop = _bezier(foot, (fx - 0.1, fy - 0.2), (fx + 0.2, fy - 0.16),
                           (fx + 0.14, fy + 0.01))
            down = np.vstack([down, loop[1:]])
        base = _line(down[-1], j(0.97, 0.97))
        return [np.vstack([top, down[1:], base[1:]])]

    def _d3(self) -> list[Points]:
        j = self.j
        mid = j(0.42, 0.47)
        if self.w.three_flat:
            upper = _line(j(0.12, 0.02), j(0.88, 0.02), mid)
        else:
            upper = _bezier(j(0.12, 0.16), j(0.45, -0.1), j(1.0, 0.05), mid)
        lower = _bezier(mid, j(1.08, 0.42), j(1.02, 1.08), j(0.08, 0.86))
        return [np.vstack([upper, lower[1:]])]

    def _d4(self) -> list[Points]:
        j = self.j
        bar_y = 0.62 + self.rng.normal(0, 0.04)
        if self.w.four_closed:
            apex = j(0.7, 0.0)
            cross = _line(apex, j(0.04, bar_y), j(0.98, bar_y))
            stem = _line(apex, j(0.7, 1.0))
        else:
            cross = _line(j(0.3, 0.0), j(0.08, bar_y), j(0.98, bar_y))
            stem = _line(j(0.72, 0.18), j(0.7, 1.0))
        return [cross, stem]

    def _d5(self) -> list[Points]:
        j = self.j
        corner = j(0.24, 0.03)
        knee = j(0.18, 0.45)
        flag = _line(j(0.88, 0.02), corner)
        bowl = _bezier(knee, j(0.95, 0.22), j(1.1, 1.05), j(0.08, 0.9))
        body = np.vstack([_line(corner, knee)[:-1], bowl])
        if self.rng.random() < 0.5:
            return [np.vstack([flag[:-1], body])]
        return [body, flag]

    def _d6(self) -> list[Points]:
        r = self.rng
        cx, cy = self.j(0.52, 0.7)
        rx, ry = 0.4 + r.normal(0, 0.03), 0.28 + r.normal(0, 0.02)
        left = (cx - rx, cy)
        stem = _bezier(self.j(0.82, 0.02), self.j(0.35, 0.06), self.j(0.05, 0.4), left)
        loop = _ellipse(cx, cy, rx, ry, np.pi, -np.pi - self.gap() * 0.5, 40)
        return [np.vstack([stem, loop[1:]])]

    def _d7(self) -> list[Points]:
        j = self.j
        left, right = j(0.04, 0.04), j(0.96, 0.02)
        top = _line(j(0.04, 0.2), left)[:-1] if self.w.seven_hook else np.empty((0, 2))
        stroke = np.vstack([top, _line(left, right)[:-1],
                            _bezier(right, j(0.75, 0.35), j(0.45, 0.65), j(0.35, 1.0))])
        strokes = [stroke]
        if self.w.seven_bar:
            strokes.append(_line(j(0.3, 0.52), j(0.85, 0.5)))
        return strokes

    def _d8(self) -> list[Points]:
        r = self.rng
        waist = 0.45 + r.normal(0, 0.03)
        if self.w.eight_circles:
            top = _ellipse(0.5, waist / 2, 0.36, waist / 2, np.pi / 2, np.pi / 2 + 2 * np.pi + 0.3)
            bottom = _ellipse(0.5, (1 + waist) / 2, 0.46, (1 - waist) / 2, -np.pi / 2,
                              -np.pi / 2 + 2 * np.pi + 0.3)
            return [top + self.rng.normal(0, self.w.jitter, 2),
                    bottom + self.rng.normal(0, self.w.jitter, 2)]
        t = np.linspace(0.0, 2 * np.pi + self.gap() * 0.3, 72)
        upper = np.cos(t) > 0  # first and last quarter of the turn draw the top loop
        y = np.where(upper, waist * (1 - np.cos(t)), waist + (1 - waist) * (-np.cos(t)))
        amp = np.where(upper, 0.36, 0.46) + r.normal(0, 0.03)
        x = 0.5 + amp * np.sin(2 * t)
        return [np.column_stack([x, y])]

    def _d9(self) -> list[Points]:
        r = self.rng
        cx, cy = self.j(0.46, 0.28)
        rx, ry = 0.4 + r.normal(0, 0.03), 0.27 + r.normal(0, 0.02)
        right = (cx + rx, cy)
        loop = _ellipse(cx, cy, rx, ry, 0.0, -2 * np.pi - self.gap() * 0.5, 40)
        if self.w.nine_straight:
            stem = _line(right, self.j(cx + rx - 0.1, 1.0))
        else:
            stem = _bezier(right, self.j(0.9, 0.7), self.j(0.7, 1.02), self.j(0.25, 0.92))
        return [np.vstack([loop, stem[1:]])]

    def _dX(self) -> list[Points]:
        j = self.j
        bow = self.rng.normal(0, 0.06, 2)
        a = _bezier(j(0.02, 0.02), j(0.35 + bow[0], 0.35 - bow[0]), j(0.65, 0.65), j(0.98, 0.98))
        b = _bezier(j(0.98, 0.02), j(0.65 + bow[1], 0.35 + bow[1]), j(0.35, 0.65), j(0.02, 0.98))
        return [a, b]


def procedural_glyph(label: str, rng: np.random.Generator, writer: Writer,
                     height_px: int = 48) -> Mask:
    """Draw ``label`` with ``writer``'s hand: strokes -> style transform -> anti-aliased mask."""
    strokes = _Hand(writer, rng).strokes(label)
    strokes = [_style(s, label, writer, rng) for s in strokes]
    return _render(strokes, writer, rng, height_px)


def _style(points: Points, label: str, writer: Writer, rng: np.random.Generator) -> Points:
    x, y = points[:, 0].copy(), points[:, 1].copy()
    # Smooth wobble: a slowly varying displacement along the stroke, like an unsteady hand.
    for _ in range(2):
        fx, fy, phase = rng.uniform(1.0, 3.0), rng.uniform(1.0, 3.0), rng.uniform(0, 2 * np.pi, 2)
        x += writer.wobble * np.sin(2 * np.pi * fy * y + phase[0])
        y += writer.wobble * np.sin(2 * np.pi * fx * x + phase[1])
    aspect = 1.0 if label == "X" else writer.aspect
    x = (x - 0.5) * aspect * rng.uniform(0.9, 1.1)
    y = y - 0.5
    x = x - (writer.slant + rng.normal(0, 0.04)) * y
    angle = rng.normal(0, 0.05)
    c, s = np.cos(angle), np.sin(angle)
    return np.column_stack([c * x - s * y, s * x + c * y])


def _render(strokes: list[Points], writer: Writer, rng: np.random.Generator,
            height_px: int) -> Mask:
    ss = _SUPERSAMPLE
    scale = height_px * ss
    all_pts = np.vstack(strokes) * scale
    lo = all_pts.min(axis=0)
    pen = max(1.0, writer.stroke * rng.uniform(0.85, 1.15) * scale)
    pad = pen + 2 * ss
    size = np.ceil(all_pts.max(axis=0) - lo + 2 * pad).astype(int)
    canvas = np.zeros((size[1], size[0]), np.uint8)
    shift = 4  # fractional bits for cv2's sub-pixel drawing
    for stroke in strokes:
        pts = (stroke * scale - lo + pad) * (1 << shift)
        # Pen pressure varies slowly along the stroke: thicker and darker where pressed.
        pressure = 0.8 + 0.2 * np.sin(np.linspace(0, rng.uniform(1, 4), len(pts)) +
                                      rng.uniform(0, 2 * np.pi))
        ipts = np.round(pts).astype(np.int32)
        for i in range(len(ipts) - 1):
            thickness = max(1, int(round(pen * pressure[i])))
            cv2.line(canvas, tuple(ipts[i]), tuple(ipts[i + 1]), 255, thickness,
                     cv2.LINE_AA, shift)
    small = cv2.resize(canvas, (max(1, size[0] // ss), max(1, size[1] // ss)),
                       interpolation=cv2.INTER_AREA)
    density = writer.ink_density * rng.uniform(0.9, 1.0)
    return _crop_ink((small.astype(np.float32) * density).astype(np.uint8))


def _crop_ink(mask: Mask, threshold: int = 24) -> Mask:
    ys, xs = np.nonzero(mask > threshold)
    if len(ys) == 0:
        return mask
    y0, y1 = max(0, ys.min() - 1), min(mask.shape[0], ys.max() + 2)
    x0, x1 = max(0, xs.min() - 1), min(mask.shape[1], xs.max() + 2)
    return np.ascontiguousarray(mask[y0:y1, x0:x1])
