"""Filled C.Hasil pages and simulated phone photos of them, with their ground truth.

The project tests and benchmarks itself on these photos, so they imitate what the box will
really get: one officer's hand per form (``vision.handwriting``), numbers right-aligned in
the boxes with the leading boxes filled the way officers do it (``X``, left empty or ``0``,
mostly one habit per officer), digits of varying size and position that now and then touch
the box border, blue or black ballpoint, page 2's bubbles filled (sometimes sloppily), and a
phone photo of the result (``vision.photo_sim``).

The page under the writing is our render of the template (``vision.render``: boxes, tag and
marks only) or, with ``artwork="official"``, KPU's own PDF page from ``../shared`` with all its
tables, text and logo printed around the boxes, as the box will really see it.

The numbers and what the officer writes in the boxes come from ``vision.tps_numbers``
(``tps_values`` is also this module's): box texts use ``_`` for an empty box, one character per
box, as ``FieldReading.text`` does: ``"X32"``, ``"_32"``, ``"032"``. The ink is laid as
``vision.pen_ink`` lays it; ``non_form_photo`` photographs a page of ``vision.other_documents``.
Page geometry and the blank page come from ``vision.template`` and ``vision.render``.

Randomness: everything follows from ``seed`` (and the page), in separate streams
(``vision.tps_numbers.stream_rng``) for the numbers, the handwriting, the camera and the other
documents, so the same seed gives the same JPEG bytes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

import cv2
import numpy as np

from vision.handwriting import SIZES, Source, Writer, glyph, mnist_available, shared_dir
from vision.other_documents import other_document
from vision.pen_ink import Image, lay_ink, marker_line, pen_floor
from vision.photo_sim import Light, SimulatedPhoto, default_height, photograph
from vision.render import mm_to_px, page_shape_px, px_per_mm, rasterise_pdf_page, render_page
from vision.template import FieldSpec, template_for_page
from vision.tps_numbers import (
    CAMERA_STREAM,
    HAND_STREAM,
    OTHER_STREAM,
    PEN_STREAM,
    box_texts,
    check_values,
    stream_rng,
)
from vision.tps_numbers import tps_values as tps_values  # documented as vision.synthetic's

logger = logging.getLogger(__name__)

Matrix = np.ndarray[Any, np.dtype[np.float64]]

PAGES = (1, 2, 3)
DIFFICULTIES = ("easy", "normal", "hard")

# How neat the hand is and how often a digit strays onto the box border, per difficulty.
_SLOPPINESS = {"easy": 0.6, "normal": 1.0, "hard": 1.4}
_TOUCH_P = {"easy": 0.02, "normal": 0.08, "hard": 0.2}
# The narrowest line a pen draws (a ballpoint's): glyphs scaled down keep at least this.
PEN_MM = 0.4
# Smaller writing, as the officers of the 2019 scans wrote: ink 19-47% of the box height
# there (median 35%). The default hand's ink is 55-85% (median ~75%); glyph boxes of
# 0.25-0.45 of the box put it at about 30-50% (median ~42%), still a little above the scans.
SMALL_WRITING = (0.25, 0.45)
# Writing bigger than the box, as officers do when the box is small for their hand or they
# write with a marker: glyph boxes of 1.4-1.9 of the box put the ink at 0.8-1.6 of its
# height (median 1.28), over a line by more than 1 mm in two boxes of three.
BIG_WRITING = (1.4, 1.9)
# A felt-tip marker's line (mm): KPPS often fill the plano, a poster read across the room,
# with a marker (spidol) rather than a ballpoint. Each photo's officer draws one width.
MARKER_MM = (1.5, 3.0)
# The share of page 2's digit columns an officer leaves unbubbled: by default a column
# forgotten now and then; BUBBLES_SKIPPED, an officer who fills the boxes and none of the
# bubbles, so the boxes alone say the votes.
BUBBLE_SKIP = 0.03
BUBBLES_SKIPPED = 1.0
Artwork = Literal["render", "official"]
OFFICIAL_FORM = "forms/C.HASIL-PPWP-2024-plano.pdf"  # in ../shared


@dataclass(frozen=True)
class SyntheticPhoto:
    """A simulated phone photo and what is really on the paper.

    ``values``: the number in each written field (empty fields are absent). ``boxes``: what
    is in each field's boxes, ``_`` for empty. ``bubbles`` (page 2): the digit bubbled under
    each box, None where no bubble was filled. ``homography_mm`` maps page mm to photo pixels
    as if the sheet were flat; ``mm_to_photo`` is exact (the sheet's curl included).
    ``page`` is 0 for a photo of something that is not a C.Hasil page.
    """

    jpeg: bytes
    values: dict[str, int]
    page: int
    boxes: dict[str, str] = field(default_factory=dict)
    bubbles: dict[str, tuple[int | None, ...]] = field(default_factory=dict)
    seed: int = 0
    difficulty: str = "normal"
    homography_mm: Matrix | None = None
    camera: SimulatedPhoto | None = None
    dpi: float = 0.0

    def mm_to_photo(self, points_mm: Any) -> Matrix:
        """Photo pixel positions of page points given in mm (N x 2)."""
        if self.camera is None:
            raise ValueError("this photo shows no C.Hasil page")
        pts = np.asarray(points_mm, np.float64).reshape(-1, 2)
        px = cv2.perspectiveTransform(pts[None], mm_to_px(self.dpi))[0]
        return self.camera.page_to_photo(px)


# --- drawing on the page ----------------------------------------------------------------------


def official_form_available() -> bool:
    return (shared_dir() / OFFICIAL_FORM).is_file()


@lru_cache(maxsize=6)
def _blank(page: int, dpi: float, artwork: Artwork = "render") -> Image:
    image = render_page(page, dpi) if artwork == "render" else _official_page(page, dpi)
    image.setflags(write=False)
    return image


def _official_page(page: int, dpi: float) -> Image:
    """KPU's PDF page rasterised at `dpi`, on the render's pixel grid."""
    path = shared_dir() / OFFICIAL_FORM
    if not path.is_file():
        raise FileNotFoundError(f"the official form {path} is not here: use artwork='render'")
    gray = rasterise_pdf_page(path, page - 1, dpi)
    # pdfium rounds the page's pixel size its own way (1418 against the render's 1417 px):
    # both cover the same 600 x 900 mm, so the template's mm land where the render puts them.
    height, width = page_shape_px(template_for_page(page), dpi)
    return np.asarray(cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA), np.uint8)


@dataclass(frozen=True)
class _Hand:
    writer: Writer
    source: Source
    touch_p: float
    dx_bias: float
    dy_bias: float
    sizes: tuple[float, float] = SIZES
    line_px: float | None = None  # a marker's line; None: a ballpoint's


def _write_box(image: Image, label: str, box: tuple[float, float, float, float],
               line_mm: float, k: float, hand: _Hand, rng: np.random.Generator) -> None:
    if label == "_":
        return
    x, y, w, h = (v * k for v in box)
    # The writer's habit (drawn in handwriting.SIZES) placed in this photo's range of sizes.
    lo, hi = hand.sizes
    habit = hand.writer.size
    if hand.sizes != SIZES:
        habit = lo + (habit - SIZES[0]) * (hi - lo) / (SIZES[1] - SIZES[0])
    size = float(np.clip(habit + rng.normal(0, 0.05), lo - 0.07, hi + 0.08))
    if label == "X":
        size = float(np.clip(size + rng.uniform(0.0, 0.1), lo - 0.07, hi + 0.13))
    target_h = size * h
    # A marker's line widens the glyph by about its width: drawn that much smaller inside.
    inset = hand.line_px or 0.0
    if inset:
        target_h = max(8.0, target_h - inset)
    mask = glyph(label, rng, hand.source, writer=hand.writer, height_px=max(8, round(target_h)))
    scale = target_h / mask.shape[0]
    target_w = mask.shape[1] * scale
    if label == "X":
        target_w = max(target_w, w * rng.uniform(0.55, 0.9))
    if target_w > 0.92 * w - inset:
        target_h, target_w = target_h * (0.92 * w - inset) / target_w, 0.92 * w - inset
    placed = cv2.resize(mask, (max(1, round(target_w)), max(1, round(target_h))),
                        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    if hand.line_px is None:
        placed = pen_floor(placed, PEN_MM * k)
    else:
        placed = marker_line(placed, hand.line_px)
    free_x, free_y = w - placed.shape[1], h - placed.shape[0]
    # Negative when the glyph is bigger than the box: it spills over both lines about evenly.
    ox = free_x / 2 + hand.dx_bias * free_x / 2 + rng.normal(0, abs(free_x) / 8 + 0.5)
    oy = free_y / 2 + hand.dy_bias * free_y / 2 + rng.normal(0, abs(free_y) / 8 + 0.5)
    overhang = 0.0
    if rng.random() < hand.touch_p:
        overhang = line_mm * k * rng.uniform(0.5, 1.5) + 1  # onto the printed border
        side = int(rng.integers(4))
        ox, oy = [(ox, -overhang), (free_x + overhang, oy), (ox, free_y + overhang),
                  (-overhang, oy)][side]
    ox = float(np.clip(ox, min(0.0, free_x) - overhang, max(0.0, free_x) + overhang))
    oy = float(np.clip(oy, min(0.0, free_y) - overhang, max(0.0, free_y) + overhang))
    density = hand.writer.ink_density * rng.uniform(0.9, 1.0)
    lay_ink(image, placed, round(x + ox), round(y + oy), hand.writer.ink_bgr, density)


def _bubble_mask(radius: float, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    """A filled bubble as officers fill them: mostly solid, sometimes scribbled or small."""
    size = int(math.ceil(radius * 3)) | 1
    mask = np.zeros((size, size), np.uint8)
    c = size / 2
    cx, cy = c + rng.normal(0, radius * 0.12), c + rng.normal(0, radius * 0.12)
    style = rng.choice(["solid", "scribble", "small"], p=[0.7, 0.25, 0.05])
    shift = 4
    if style == "scribble":
        ys = np.linspace(cy - radius * 0.8, cy + radius * 0.8, int(rng.integers(5, 9)))
        half = np.sqrt(np.maximum(radius**2 - (ys - cy) ** 2, 0)) * rng.uniform(0.7, 1.0)
        xs = np.where(np.arange(len(ys)) % 2 == 0, cx - half, cx + half)
        pts = np.round(np.column_stack([xs, ys]) * (1 << shift)).astype(np.int32)
        thick = max(1, round(radius * rng.uniform(0.3, 0.45)))
        cv2.polylines(mask, [pts], False, 255, thick, cv2.LINE_AA, shift)
    else:
        r = radius * (rng.uniform(0.8, 1.05) if style == "solid" else rng.uniform(0.45, 0.6))
        axes = (round(r * (1 << shift)), round(r * rng.uniform(0.85, 1.1) * (1 << shift)))
        centre = (round(cx * (1 << shift)), round(cy * (1 << shift)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1,
                    cv2.LINE_AA, shift)
    return mask


def _fill_bubbles(image: Image, spec: FieldSpec, text: str, k: float, hand: _Hand,
                  rng: np.random.Generator,
                  skip: float = BUBBLE_SKIP) -> tuple[int | None, ...]:
    marked: list[int | None] = []
    for column in spec.bubbles:
        char = text[column.box]
        digit: int | None = int(char) if char.isdigit() else None
        # A leading X or empty box is a zero the officer may or may not bubble.
        if digit is None and rng.random() < 0.5:
            digit = 0
        if digit is not None and rng.random() < skip:
            digit = None  # forgot this column, or skips the bubbles
        marked.append(digit)
        if digit is None:
            continue
        cx, cy = column.centers_mm[digit]
        mask = _bubble_mask(column.radius_mm * k, rng)
        density = hand.writer.ink_density * rng.uniform(0.75, 1.0)
        lay_ink(image, mask, round(cx * k - mask.shape[1] / 2), round(cy * k - mask.shape[0] / 2),
             hand.writer.ink_bgr, density)
    return tuple(marked)


def _hand(difficulty: str, source: Source, rng: np.random.Generator,
          sizes: tuple[float, float] = SIZES) -> _Hand:
    writer = Writer.random(rng)
    sloppy = _SLOPPINESS[difficulty]
    writer = replace(writer, wobble=writer.wobble * sloppy, jitter=writer.jitter * sloppy)
    if source == "auto":
        # With MNIST at hand, half the officers write MNIST digits: thick real handwriting
        # and thin ballpoint strokes both get tested.
        source = "mnist" if mnist_available() and rng.random() < 0.5 else "procedural"
    return _Hand(writer, source, _TOUCH_P[difficulty], float(rng.uniform(-0.5, 0.5)),
                 float(rng.uniform(-0.5, 0.5)), sizes)


def _fill(page: int, values: Mapping[str, int | None], seed: int, dpi: float,
          difficulty: str, source: Source, sizes: tuple[float, float] = SIZES,
          artwork: Artwork = "render", pen_mm: tuple[float, float] | None = None,
          bubble_skip: float = BUBBLE_SKIP,
          ) -> tuple[Image, dict[str, str], dict[str, tuple[int | None, ...]]]:
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {', '.join(DIFFICULTIES)}")
    template = template_for_page(page)
    check_values(template, values)
    rng = stream_rng(seed, page, HAND_STREAM)
    hand = _hand(difficulty, source, rng, sizes)
    texts = box_texts(template, values, rng)
    image = np.asarray(cv2.cvtColor(_blank(page, float(dpi), artwork), cv2.COLOR_GRAY2BGR),
                       np.uint8)
    k = px_per_mm(dpi)
    if pen_mm is not None:
        # Its own stream: the officer, numbers and camera stay those of the ballpoint photo.
        line_mm = float(stream_rng(seed, page, PEN_STREAM).uniform(*pen_mm))
        hand = replace(hand, line_px=line_mm * k)
    bubbles: dict[str, tuple[int | None, ...]] = {}
    for spec in template.fields:
        text = texts[spec.name]
        for label, box in zip(text, spec.boxes_mm, strict=True):
            _write_box(image, label, box, spec.line_mm, k, hand, rng)
        if spec.bubbles and set(text) != {"_"}:
            bubbles[spec.name] = _fill_bubbles(image, spec, text, k, hand, rng, bubble_skip)
    return image, texts, bubbles


def filled_page(page: int, values: Mapping[str, int | None], seed: int, dpi: float = 100.0, *,
                difficulty: str = "normal", source: Source = "auto",
                sizes: tuple[float, float] = SIZES, artwork: Artwork = "render",
                pen_mm: tuple[float, float] | None = None) -> Image:
    """The flat page (BGR) as the officer left it, before any camera."""
    return _fill(page, values, seed, dpi, difficulty, source, sizes, artwork, pen_mm)[0]


def _render_dpi(width: int, height: int) -> float:
    """Enough resolution that the camera only ever shrinks the page (steps of 10 dpi)."""
    px_per_mm_needed = 1.1 * 0.9 * max(width, height) / 900.0
    return float(max(40, math.ceil(px_per_mm_needed * 25.4 / 10) * 10))


def synthetic_photo(page: int, *, seed: int, values: Mapping[str, int | None] | None = None,
                    width_px: int = 3000, difficulty: str = "normal",
                    source: Source = "auto", sizes: tuple[float, float] = SIZES,
                    artwork: Artwork = "render",
                    paper_curl: float | None = None,
                    pen_mm: tuple[float, float] | None = None,
                    light: Light | None = None,
                    bubble_skip: float = BUBBLE_SKIP) -> SyntheticPhoto:
    """A phone photo of page ``page`` filled with ``values`` (default: ``tps_values(seed)``).

    ``source="procedural"`` never touches ../shared; ``"auto"`` mixes in MNIST digits when
    ../shared holds them. ``sizes``: the range of officers' glyph heights as a share of the
    box (``SMALL_WRITING``: as small as in the 2019 scans; ``BIG_WRITING``: over the box's
    lines); the same seed draws the same
    officer, values and camera whatever the sizes or the artwork. ``artwork="official"``:
    the page is KPU's PDF from ../shared (`official_form_available`), not our render.
    ``paper_curl``: how far the paper is from flat (`photo_sim.photograph`; default the
    difficulty's). ``pen_mm``: the range of the officer's line width when the page is filled
    with a marker (``MARKER_MM``); None, a ballpoint. ``light``: the paper's grey and the
    grain instead of the difficulty's (`photo_sim.DIM_LIGHT`: an evening under one lamp).
    ``bubble_skip``: the share of page 2's digit columns left unbubbled (``BUBBLES_SKIPPED``:
    none bubbled).
    """
    if page not in PAGES:
        raise ValueError(f"page must be one of {PAGES}, not {page}")
    chosen: dict[str, int | None] = dict(tps_values(seed)[page] if values is None else values)
    height_px = default_height(width_px)
    dpi = _render_dpi(width_px, height_px)
    image, texts, bubbles = _fill(page, chosen, seed, dpi, difficulty, source, sizes, artwork,
                                  pen_mm, bubble_skip)
    shot = photograph(image, stream_rng(seed, page, CAMERA_STREAM), difficulty, width_px=width_px,
                      height_px=height_px, paper_curl=paper_curl, light=light)
    written = {name: int(v) for name, v in chosen.items() if v is not None}
    return SyntheticPhoto(jpeg=shot.jpeg, values=written, page=page, boxes=texts,
                          bubbles=bubbles, seed=seed, difficulty=difficulty,
                          homography_mm=shot.homography @ mm_to_px(dpi), camera=shot,
                          dpi=dpi)


def blank_photo(page: int, seed: int, *, width_px: int = 3000,
                difficulty: str = "normal") -> SyntheticPhoto:
    """A photo of the page with every box left empty."""
    return synthetic_photo(page, seed=seed, values={}, width_px=width_px, difficulty=difficulty)


def non_form_photo(seed: int, *, width_px: int = 3000,
                   difficulty: str = "normal") -> SyntheticPhoto:
    """A photo of something else: a letter, another form with boxes, or a poster (page 0)."""
    rng = stream_rng(seed, 0, OTHER_STREAM)
    document = other_document(rng, dpi=_render_dpi(width_px, default_height(width_px)))
    camera = stream_rng(seed, 0, CAMERA_STREAM)
    jpeg = photograph(document, camera, difficulty, width_px=width_px).jpeg
    return SyntheticPhoto(jpeg=jpeg, values={}, page=0, seed=seed, difficulty=difficulty)
