"""Photo quality: measured values against thresholds, with plain messages for the officer.

Each check says what it measured, the limit, whether it passed and, when not, what the
officer should do. `Quality.refuse` is set when the photo cannot be read at all; the gateway
then refuses the upload at once and asks for a new photo.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from vision.register import Registration, rectify

logger = logging.getLogger(__name__)

Image = np.ndarray[Any, Any]

SAMPLE_PX_PER_MM = 4.0  # boxes are measured on a straightened copy at this scale
# Below this (px/mm over the fields) the boxes are too coarse to read: a 17 mm box is then
# under ~24 px. Measured on 90 synthetic photos per frame width (1944, 1500, 1200 and 960 px),
# box accuracy per 0.2 px/mm step: normal light 99-100% from 1.0 px/mm up; the "hard" photos
# (96.6% at 12 MP) 90-100% from 1.2 up, 67-92% below; 0 wrong fields unflagged anywhere.
# 1.4 leaves a margin for real low-resolution cameras, whose optics and JPEG are worse than
# the simulation's. (It was 2.0, which refused 65% of 5 MP photos that then read 99.7%.)
MIN_PX_PER_MM = 1.4
# How much of a 4:3 frame the 2:3 page can fill (89% at most) when the officer steps close.
# A page under MIN_PX_PER_MM that would pass at this share is too far away; one that would
# not is on a camera (or a resend) with too few pixels, and stepping closer cannot help.
REACHABLE_SHARE = 0.8
MIN_FIDUCIALS = 3  # tag + 3 fiducials still pin the page; fewer is a guess
MAX_SCALE_RATIO = 1.8  # far side of the page vs near side (perspective from tilting)
REFUSE_SCALE_RATIO = 3.0
# Normalised Laplacian energy of the box strips (see _sharpness). Measured on 60 synthetic
# photos each blurred by a Gaussian of 0-4.2 px, refusal off, box accuracy by this value:
# under 0.02 65% (88% of pages to a person), 0.02-0.03 91% (59%), 0.03-0.04 98.7% (20%),
# 0.04 and up 99.5-100% (0-5%); 0 wrong fields unflagged in any bin. Under 0.02 a retake is
# cheaper than the review; between, the photo is read and the officer warned. The value is
# measured at SAMPLE_PX_PER_MM, so the frame size barely moves it: unblurred photos' median
# 0.091 at 12 MP, 0.088 at 5 MP, 0.090 at 1500 px wide.
MIN_SHARPNESS = 0.04
REFUSE_SHARPNESS = 0.02
MAX_SATURATED = 0.25  # share of box pixels clipped white
REFUSE_SATURATED = 0.6
SATURATED_LEVEL = 250
# `local_fit` looks for a field's boxes up to ~10 mm from where the page's homography puts
# them; simulated sheets whose fold moved boxes by up to 11 mm read 99.7% of boxes right.
PAPER_SHIFT_MM = 8.0
PAPER_NOT_FLAT = (
    "Kertas terlipat atau bergelombang: ratakan halaman di meja sebelum memotret "
    "(The sheet is folded or wavy: lay it flat before taking the photo)"
)


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None  # None: not measurable (page cut off)
    threshold: float
    ok: bool
    refuse: bool
    message: str | None


@dataclass(frozen=True)
class Quality:
    checks: tuple[Check, ...]

    @property
    def refuse(self) -> bool:
        return any(c.refuse for c in self.checks)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def messages(self) -> list[str]:
        return [c.message for c in self.checks if not c.ok and c.message]

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {c.name: asdict(c) for c in self.checks}
        out["refuse"] = self.refuse
        return out


def _boxes_inside(registration: Registration) -> float:
    """Share of digit box corners that fall inside the image."""
    h, w = registration.image_shape
    corners = [
        (x + dx, y + dy)
        for f in registration.template.fields
        for x, y, bw, bh in f.boxes_mm
        for dx, dy in ((0, 0), (bw, 0), (bw, bh), (0, bh))
    ]
    pts = registration.project(corners)
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    return float(inside.mean())


def _field_strips(gray: Image, registration: Registration) -> list[Image]:
    """Each field's boxes with their borders, straightened at SAMPLE_PX_PER_MM."""
    strips = []
    for field in registration.template.fields:
        x, y, w, h = field.bbox_mm
        m = field.line_mm + 1.0
        strips.append(rectify(gray, registration, SAMPLE_PX_PER_MM, (x - m, y - m, w + 2 * m,
                                                                     h + 2 * m)))
    return strips


def _sharpness(strips: list[Image]) -> float:
    """Laplacian energy over intensity spread: box borders give strong edges when sharp.

    Normalising by the spread keeps the value steady under dim or bright light; the median
    over fields ignores one shadowed or glared strip.
    """
    import cv2

    values = []
    for strip in strips:
        # Bytes in, 16-bit Laplacian out (exact: at most 4 x 255 either way); OpenCV's
        # statistics in double precision, without float copies of the strip.
        spread = float(cv2.meanStdDev(strip)[1][0, 0]) ** 2 + 1.0
        energy = float(cv2.meanStdDev(cv2.Laplacian(strip, cv2.CV_16S))[1][0, 0]) ** 2
        values.append(energy / spread)
    return float(np.median(values))


def _saturated(strips: list[Image]) -> float:
    # The count over the size is the mean of the booleans exactly (whole numbers in float64).
    return float(np.mean([np.count_nonzero(s >= SATURATED_LEVEL) / s.size for s in strips]))


def _scale_ratio(registration: Registration) -> tuple[float, float]:
    """(min px/mm over the field area, max/min px/mm across the page corners)."""
    width, height = registration.template.page_size_mm
    corners = [(0.0, 0.0), (width, 0.0), (width, height), (0.0, height)]
    scales = _px_per_mm(registration, corners)
    at_fields = _px_per_mm(registration, [(f.bbox_mm[0], f.bbox_mm[1])
                                          for f in registration.template.fields])
    return float(at_fields.min()), float(scales.max() / scales.min())


def page_share(registration: Registration) -> float:
    """Share of the photo's area that the page covers."""
    width, height = registration.template.page_size_mm
    quad = registration.project([(0.0, 0.0), (width, 0.0), (width, height), (0.0, height)])
    x, y = quad[:, 0], quad[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
    rows, cols = registration.image_shape
    return area / float(rows * cols)


def _too_small(registration: Registration, scale: float) -> str:
    """What to tell the officer whose page came out under MIN_PX_PER_MM."""
    share = page_share(registration)
    reachable = scale * float(np.sqrt(REACHABLE_SHARE / max(share, 1e-6)))
    logger.debug("page %.2f px/mm, %.0f%% of the frame: %.2f px/mm when close",
                 scale, 100 * share, reachable)
    if reachable >= MIN_PX_PER_MM:
        return ("Halaman terlalu kecil di foto: dekatkan kamera sampai halaman memenuhi layar "
                "(Page too small: move closer)")
    return ("Resolusi foto terlalu rendah untuk membaca angka: atur kamera ke resolusi "
            "tertinggi dan kirim foto aslinya, bukan kiriman ulang dari WhatsApp "
            "(Photo resolution too low to read the digits: set the camera to its highest "
            "resolution and send the original photo, not one forwarded through WhatsApp)")


def _px_per_mm(registration: Registration, points_mm: list[tuple[float, float]]) -> Image:
    """`Registration.px_per_mm_at` of many points in one projection."""
    pts = np.asarray(points_mm, dtype=np.float64)
    ends = registration.project(np.vstack([pts, pts + (1.0, 0.0), pts + (0.0, 1.0)]))
    at, along_x, along_y = np.split(ends, 3)
    return np.asarray(np.sqrt(np.hypot(*(along_x - at).T) * np.hypot(*(along_y - at).T)))


def assess(gray: Image, registration: Registration) -> Quality:
    """Measure the photo around the registered page."""
    checks: list[Check] = []
    inside = _boxes_inside(registration)
    found = registration.fiducials_found
    cut = inside < 1.0 or found < MIN_FIDUCIALS
    checks.append(Check(
        "cut_off", float(found), float(MIN_FIDUCIALS), ok=found == 4 and inside == 1.0,
        refuse=cut,
        message=None if found == 4 and inside == 1.0 else (
            "Halaman terpotong: keempat sudut halaman harus masuk foto "
            "(Page cut off: all four corners must be in the photo)"),
    ))
    scale, ratio = _scale_ratio(registration)
    checks.append(Check(
        "page_size", round(scale, 3), MIN_PX_PER_MM, ok=scale >= MIN_PX_PER_MM,
        refuse=scale < MIN_PX_PER_MM,
        message=None if scale >= MIN_PX_PER_MM else _too_small(registration, scale),
    ))
    checks.append(Check(
        "tilt", round(ratio, 3), MAX_SCALE_RATIO, ok=ratio <= MAX_SCALE_RATIO,
        refuse=ratio > REFUSE_SCALE_RATIO,
        message=None if ratio <= MAX_SCALE_RATIO else (
            "Foto terlalu miring: pegang ponsel sejajar di atas halaman "
            "(Photo too tilted: hold the phone level above the page)"),
    ))
    sharp: float | None = None
    sat: float | None = None
    if inside == 1.0:
        strips = _field_strips(gray, registration)
        sharp, sat = round(_sharpness(strips), 4), round(_saturated(strips), 4)
    sharp_ok = sharp is None or sharp >= MIN_SHARPNESS
    checks.append(Check(
        "blur", sharp, MIN_SHARPNESS, ok=sharp_ok,
        refuse=sharp is not None and sharp < REFUSE_SHARPNESS,
        message=None if sharp_ok else (
            "Foto buram: ulangi dengan tangan stabil dan tunggu kamera fokus "
            "(Photo blurred: hold steady and let the camera focus)"),
    ))
    glare_ok = sat is None or sat <= MAX_SATURATED
    checks.append(Check(
        "glare", sat, MAX_SATURATED, ok=glare_ok,
        refuse=sat is not None and sat > REFUSE_SATURATED,
        message=None if glare_ok else (
            "Ada pantulan cahaya/silau di kotak angka: geser posisi agar tidak kena lampu "
            "(Glare on the number boxes: move away from the light)"),
    ))
    quality = Quality(tuple(checks))
    if logger.isEnabledFor(logging.DEBUG):  # to_dict() is not free: only when it is shown
        logger.debug("quality: %s", quality.to_dict())
    return quality


# Sharp synthetic 12 MP photos measure 0.38-3.1 on the 1/4 copy; blurred until the tag no
# longer decodes (Gaussian sigma >= 4 px), 0.003-0.23.
BLURRED_PAGE_SHARPNESS = 0.25
MIN_PAGE_CONTRAST = 6.0  # grey levels (std): a blank sheet or a plain card is not a blurred form


def paper_flatness(largest_shift_mm: float) -> Check:
    """The sheet's fold and waves, from how far `local_fit` found a field's boxes from the
    homography's place. Never a refusal (the boxes were found); past PAPER_SHIFT_MM a fold
    may move a box beyond the search, and the officer is told how to avoid it next time."""
    ok = largest_shift_mm <= PAPER_SHIFT_MM
    return Check("paper_flat", round(largest_shift_mm, 2), PAPER_SHIFT_MM, ok, False,
                 None if ok else PAPER_NOT_FLAT)


def page_sharpness(small: Image) -> float:
    """Normalised Laplacian energy inside the photo's biggest bright quad (the page), or -1.

    -1: no page-like region with some print on it, so nothing suggests a form at all.
    """
    import cv2

    blurred = cv2.GaussianBlur(small, (5, 5), 0)
    _, bright = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    contours, _ = cv2.findContours(bright, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return -1.0
    outline = max(contours, key=cv2.contourArea)
    hull = cv2.convexHull(outline)
    if cv2.contourArea(hull) < 0.15 * small.shape[0] * small.shape[1]:
        return -1.0
    if len(cv2.approxPolyDP(hull, 0.03 * cv2.arcLength(hull, True), True)) != 4:
        return -1.0
    x, y, w, h = cv2.boundingRect(hull)
    inner = small[y + h // 8 : y + h - h // 8, x + w // 8 : x + w - w // 8].astype(np.float32)
    if inner.size == 0 or float(inner.std()) < MIN_PAGE_CONTRAST:
        return -1.0
    spread = float(inner.std()) ** 2 + 1.0
    return float(cv2.Laplacian(inner, cv2.CV_32F).var()) / spread


def blurred_page(small: Image) -> bool:
    """A page-like bright quad whose contents are too blurred to read (no tag was found)."""
    value = page_sharpness(small)
    logger.debug("page sharpness without tag: %.4f", value)
    return 0.0 <= value < BLURRED_PAGE_SHARPNESS
