"""Phone-photo simulation: a flat page image -> a JPEG as an officer's phone would take it.

The page lies on a table (wood, laminate, cloth or tiles, sometimes with a pen or another
sheet beside it), is not quite flat ("normal"/"hard": a fold and gentle waves shift the paper
by up to ~1 / 2.7 mm on the 900 mm sheet), and is shot by a pinhole camera with a phone's
field of view, tilted up to 25 degrees. On top come uneven light, a soft shadow (hand or
phone), occasional glare, defocus and hand-shake blur, sensor noise, a white-balance cast and
JPEG compression.

Orientation: the page is rotated in-plane by up to +-4/10/15 degrees (easy/normal/hard).
"hard" photos also get a quarter turn (90, 180 or 270 degrees) 15% of the time: phones often
store pixels in sensor orientation and upload forms strip the EXIF tag that would have fixed
it, and officers lay the big plano sheet any way round. A sideways page is smaller in the frame.

Scale: the page's bounding box spans 72-90% (easy), 60-90% (normal) or 50-90% (hard) of
the frame along its limiting side, always wholly inside the frame (cut-off pages are the
quality checks' business, made by cropping a photo, not here).

Frame size: ``width_px`` x ``height_px``. Without ``height_px`` the frame is a 4:3 phone
frame that never exceeds a 12 MP sensor: portrait (phone upright, e.g. 3000 x 4000) for widths
up to 3000 px, landscape (phone sideways, e.g. 4000 x 3000) for wider ones.

Everything random comes from the ``rng`` argument: same seed, same bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Literal

import cv2
import numpy as np

logger = logging.getLogger(__name__)

Difficulty = Literal["easy", "normal", "hard"]
Image = np.ndarray[Any, np.dtype[Any]]


@dataclass(frozen=True)
class Camera:
    """Ranges for one difficulty level; lengths in pixels of a 3000 px wide frame."""

    tilt_deg: float
    rotate_deg: float
    quarter_turn_p: float
    fill: tuple[float, float]
    defocus: tuple[float, float]
    motion_p: float
    motion_px: float
    noise: tuple[float, float]
    jpeg_quality: tuple[int, int]
    gradient: tuple[float, float]
    shadow_p: float
    shadow_depth: tuple[float, float]
    glare_p: float
    cast: float
    paper: tuple[float, float]
    curl: float  # paper not flat: largest in-plane shift, as a share of the page's long side


# A plano sheet (600 x 900 mm) as it comes out of the box it was folded into, laid on a table:
# its fold and waves shift the paper by up to ~5 mm. The benchmark reads such photos apart.
UNEVEN_PAPER = 0.006


@dataclass(frozen=True)
class Light:
    """The paper's grey after auto-exposure and the sensor's grain (sigma, grey levels)."""

    paper: tuple[float, float]
    noise: tuple[float, float]


# The count runs into the evening under one lamp: the phone exposes the page to a dim grey
# and raises its gain, so the grain is twice the daylight's on half the contrast.
DIM_LIGHT = Light(paper=(90.0, 140.0), noise=(5.0, 10.0))

CAMERAS: dict[str, Camera] = {
    "easy": Camera(8, 4, 0.0, (0.72, 0.9), (0.3, 0.7), 0.0, 0.0, (1.5, 3.0), (85, 92),
                   (0.0, 0.15), 0.2, (0.1, 0.2), 0.0, 0.03, (215, 242), 0.0),
    "normal": Camera(18, 10, 0.0, (0.6, 0.9), (0.4, 1.1), 0.2, 3.0, (2.0, 5.0), (75, 92),
                     (0.05, 0.3), 0.5, (0.15, 0.35), 0.1, 0.06, (195, 242), 0.0012),
    "hard": Camera(25, 15, 0.15, (0.5, 0.9), (0.6, 1.6), 0.4, 5.0, (3.0, 8.0), (70, 85),
                   (0.1, 0.45), 0.7, (0.25, 0.5), 0.25, 0.1, (165, 245), 0.003),
}

_FOCAL = 0.8  # focal length in frame heights: a phone's main camera, about 65 degrees


Points = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Curl:
    """A sheet that is not flat (the plano form is folded in half and waves a little).

    Out-of-plane height ``z`` (share of the page's long side: a few gentle waves plus a tent
    along the fold) seen by a tilted camera shifts the paper in-plane by ``z * direction``.
    """

    scale: float  # page long side, px
    waves: tuple[tuple[float, float, float, float], ...]  # amplitude, fx, fy, phase
    fold: tuple[float, float, float, float, float]  # height, nx, ny, offset, half-width
    direction: tuple[float, float]

    def displacement(self, pts: Points) -> Points:
        """In-plane shift (px) of the page points ``pts`` (N x 2, page px)."""
        u = pts / self.scale
        z = np.zeros(len(pts))
        for amplitude, fx, fy, phase in self.waves:
            z += amplitude * np.sin(2 * np.pi * (fx * u[:, 0] + fy * u[:, 1]) + phase)
        height, nx, ny, offset, half = self.fold
        z += height * np.maximum(0.0, 1.0 - np.abs(nx * u[:, 0] + ny * u[:, 1] - offset) / half)
        shift: Points = z[:, None] * np.array(self.direction)[None, :] * self.scale
        return shift


@dataclass(frozen=True)
class SimulatedPhoto:
    """The JPEG plus where the page went.

    ``homography`` maps page pixels to photo pixels for a flat sheet; ``curl`` (None when
    flat) bends it slightly. ``page_to_photo`` gives the exact position of page points.
    """

    jpeg: bytes
    homography: Points
    size: tuple[int, int]
    quarter_turns: int
    rotation_deg: float
    tilt_deg: float
    curl: Curl | None = None

    def page_to_photo(self, pts: Points) -> Points:
        """Photo pixel positions of page pixel positions (N x 2), paper curl included."""
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        flat = pts
        if self.curl is not None:
            # The photo shows page point q + d(q) where a flat sheet shows q: invert by
            # fixed-point iteration (d is small and smooth).
            flat = pts - self.curl.displacement(pts)
            flat = pts - self.curl.displacement(flat)
        out: Points = cv2.perspectiveTransform(flat[None], self.homography)[0]
        return out


def simulate_photo(page: Image, rng: np.random.Generator, difficulty: str = "normal", *,
                   width_px: int = 3000, height_px: int | None = None) -> bytes:
    """Photograph ``page`` (grayscale or BGR uint8) and return the JPEG bytes."""
    return photograph(page, rng, difficulty, width_px=width_px, height_px=height_px).jpeg


def photograph(page: Image, rng: np.random.Generator, difficulty: str = "normal", *,
               width_px: int = 3000, height_px: int | None = None,
               paper_curl: float | None = None, light: Light | None = None) -> SimulatedPhoto:
    """Like :func:`simulate_photo`, keeping the geometry for tests that need the truth.

    ``paper_curl``: the paper's largest in-plane shift as a share of its long side, instead of the
    difficulty's (``UNEVEN_PAPER``: a plano sheet with its folds as it comes out of the box);
    the same rng draws the same photo with the fold and waves scaled. ``light``: the paper's
    grey and the grain instead of the difficulty's (``DIM_LIGHT``: an evening under one lamp).
    """
    if difficulty not in CAMERAS:
        raise ValueError(f"difficulty must be one of {sorted(CAMERAS)}, not {difficulty!r}")
    if page.ndim == 2:
        page = cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)
    cam = CAMERAS[difficulty]
    if paper_curl is not None:
        cam = replace(cam, curl=paper_curl)
    if light is not None:
        cam = replace(cam, paper=light.paper, noise=light.noise)
    width = int(width_px)
    height = int(height_px) if height_px else default_height(width)
    unit = width / 3000.0  # blur and shake lengths follow the frame size

    quarter = int(rng.integers(1, 4)) if rng.random() < cam.quarter_turn_p else 0
    rotation = float(rng.uniform(-cam.rotate_deg, cam.rotate_deg))
    tilt = float(cam.tilt_deg * np.sqrt(rng.random()))
    tilt_axis = float(rng.uniform(0, 2 * np.pi))
    fill = float(rng.uniform(*cam.fill))
    dst = _project_corners(page.shape[1], page.shape[0], quarter * 90 + rotation, tilt,
                           tilt_axis, fill, width, height, rng)
    # The page's outer pixel edges go to the projected corners (pixel centres at integers).
    src = np.array([[0, 0], [page.shape[1], 0], [page.shape[1], page.shape[0]],
                    [0, page.shape[0]]], np.float32) - 0.5
    homography = cv2.getPerspectiveTransform(src, dst).astype(np.float64)

    curl = _curl(page.shape[1], page.shape[0], cam.curl, tilt_axis, rng) if cam.curl else None
    frame = _background(width, height, rng)
    _warp_onto(page, homography, frame, curl)
    frame = _blur(frame, cam, unit, rng)
    frame = _light_and_sensor(frame, cam, rng)
    quality = int(rng.integers(cam.jpeg_quality[0], cam.jpeg_quality[1] + 1))
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return SimulatedPhoto(buf.tobytes(), homography, (width, height), quarter, rotation, tilt,
                          curl)


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The same JPEG with an EXIF orientation tag (6: turn 90 degrees clockwise to view), as
    many phones store a photo taken upright: the pixels on their side, the turn in a tag."""
    from PIL import Image as PILImage

    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    payload = exif.tobytes()
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + app1 + jpeg[2:]


def default_height(width_px: int) -> int:
    """Height of a 4:3 phone frame of this width: portrait up to 3000 px, landscape beyond."""
    return round(width_px * 4 / 3) if width_px <= 3000 else round(width_px * 3 / 4)


def _project_corners(w: int, h: int, rotation_deg: float, tilt_deg: float, tilt_axis: float,
                     fill: float, width: int, height: int,
                     rng: np.random.Generator) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Page corners after lying rotated on the table and being seen by a tilted camera."""
    long_side = max(w, h)
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]], np.float64) / (2 * long_side)
    a = np.deg2rad(rotation_deg)
    rz = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    flat = corners @ rz.T
    pts3 = np.column_stack([flat, np.zeros(4)])
    # Tilt: rotate the page plane about an in-plane axis (Rodrigues).
    axis = np.array([np.cos(tilt_axis), np.sin(tilt_axis), 0.0])
    t = np.deg2rad(tilt_deg)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * (k @ k)
    pts3 = pts3 @ rot.T
    distance = _FOCAL / fill  # the page spans about `fill` of the frame at this distance
    proj = pts3[:, :2] / (distance + pts3[:, 2:3])
    lo, hi = proj.min(axis=0), proj.max(axis=0)
    span = hi - lo
    scale = fill * min(width / span[0], height / span[1])
    proj = (proj - lo) * scale
    room = np.array([width, height]) - span * scale
    offset = room * rng.uniform(0.1, 0.9, 2)
    corners_px: np.ndarray[Any, np.dtype[np.float32]] = (proj + offset).astype(np.float32)
    return corners_px


def _background(width: int, height: int, rng: np.random.Generator) -> Image:
    """A table surface, drawn coarse and scaled up (textures are smooth at phone scale)."""
    gw, gh = max(8, width // 8), max(8, height // 8)
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    kind = rng.choice(["wood", "wood", "laminate", "cloth", "tiles"])
    mottle = cv2.resize(rng.standard_normal((6, 6)).astype(np.float32), (gw, gh),
                        interpolation=cv2.INTER_CUBIC)
    if kind == "wood":
        tone = rng.uniform(110, 200)
        base = tone * np.array([rng.uniform(0.35, 0.55), rng.uniform(0.6, 0.75), 1.0])
        angle = rng.uniform(0, np.pi)
        u = (np.cos(angle) * xx + np.sin(angle) * yy) / gw
        freq = rng.uniform(20, 60)
        grain = np.sin(2 * np.pi * freq * (u + 0.02 * mottle)) + 0.5 * np.sin(
            2 * np.pi * 3.7 * freq * (u + 0.01 * mottle.T.reshape(mottle.shape)))
        shade = 1 + 0.12 * grain + 0.06 * mottle
    elif kind == "laminate":
        base = rng.uniform(90, 230, 3)
        shade = 1 + 0.04 * mottle
    elif kind == "cloth":
        base = rng.uniform(60, 220, 3)
        period = rng.uniform(8, 30)
        shade = 1 + 0.15 * (((xx // period + yy // period) % 2) - 0.5) + 0.05 * mottle
    else:
        base = rng.uniform(150, 220) * np.array([1.0, 1.0, rng.uniform(0.95, 1.05)])
        period = rng.uniform(25, 60)
        edge = (np.minimum(xx % period, yy % period) < 0.8).astype(np.float32)
        shade = 1 - 0.3 * edge + 0.03 * mottle
    small = np.clip(shade[..., None] * base[None, None, :], 0, 255).astype(np.uint8)
    frame: Image = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    _clutter(frame, rng)
    return frame


def _clutter(frame: Image, rng: np.random.Generator) -> None:
    """Sometimes a pen or another sheet of paper lies on the table too."""
    height, width = frame.shape[:2]
    if rng.random() < 0.4:
        centre = rng.uniform(0, 1, 2) * (width, height)
        size = (float(rng.uniform(0.08, 0.15) * width), float(rng.uniform(0.006, 0.01) * width))
        box = cv2.boxPoints((tuple(centre), size, float(rng.uniform(0, 180))))
        colour = (140, 40, 20) if rng.random() < 0.5 else (30, 30, 30)
        cv2.fillPoly(frame, [box.astype(np.int32)], colour, cv2.LINE_AA)
    if rng.random() < 0.3:
        centre = rng.uniform(0, 1, 2) * (width, height)
        size = (float(rng.uniform(0.3, 0.6) * width), float(rng.uniform(0.4, 0.7) * width))
        box = cv2.boxPoints((tuple(centre), size, float(rng.uniform(-30, 30))))
        cv2.fillPoly(frame, [box.astype(np.int32)], (225, 230, 232), cv2.LINE_AA)


def _curl(w: int, h: int, amount: float, tilt_axis: float, rng: np.random.Generator) -> Curl:
    scale = float(max(w, h))
    size = amount * rng.uniform(0.3, 1.0)
    waves = tuple(
        (float(size * rng.uniform(0.1, 0.3)), float(rng.uniform(-1.5, 1.5)),
         float(rng.uniform(-1.5, 1.5)), float(rng.uniform(0, 2 * np.pi)))
        for _ in range(3)
    )
    # Folded in half across the long side, or lengthwise.
    across = rng.random() < 0.6
    nx, ny = (0.0, 1.0) if (across == (h >= w)) else (1.0, 0.0)
    centre = (nx * w + ny * h) / 2 / scale
    fold = (float(size * rng.uniform(0.2, 0.5) * rng.choice([-1, 1])), nx, ny,
            float(centre + rng.normal(0, 0.01)), float(rng.uniform(0.1, 0.3)))
    # Parallax from height points away from the tilt axis (perpendicular to it).
    angle = tilt_axis + np.pi / 2 + rng.normal(0, 0.3)
    return Curl(scale, waves, fold, (float(np.cos(angle)), float(np.sin(angle))))


def _warp_onto(page: Image, homography: Points, frame: Image, curl: Curl | None) -> None:
    """Draw the page into the frame through the camera (and the paper's curl), by remapping."""
    # Shrink with area averaging first: sampling a large page sparsely would alias thin
    # ruling lines away.
    area = abs(cv2.contourArea(cv2.perspectiveTransform(
        np.array([[[0, 0], [page.shape[1], 0], [page.shape[1], page.shape[0]],
                   [0, page.shape[0]]]], np.float32), homography)))
    scale = float(np.sqrt(area / (page.shape[0] * page.shape[1])))
    full_w, full_h = page.shape[1], page.shape[0]
    if scale < 0.75:
        page = cv2.resize(page, None, fx=scale * 1.25, fy=scale * 1.25,
                          interpolation=cv2.INTER_AREA)
    sx, sy = full_w / page.shape[1], full_h / page.shape[0]

    # Source coordinates on a coarse grid of frame pixels, interpolated up: the mapping is
    # smooth, so this is exact to well under a hundredth of a pixel and far cheaper.
    step = 8
    height, width = frame.shape[:2]
    cols, rows = width // step + 3, height // step + 3
    # Node j sits at pixel (j - 1) * step + (step - 1) / 2, which makes cv2.resize's
    # pixel-centre convention land pixel i on resized index i + step.
    gx = (np.arange(cols) - 1) * step + (step - 1) / 2
    gy = (np.arange(rows) - 1) * step + (step - 1) / 2
    grid = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    flat = cv2.perspectiveTransform(grid[None], np.linalg.inv(homography))[0]
    src = flat + curl.displacement(flat) if curl is not None else flat
    src = (src + 0.5) / np.array([sx, sy]) - 0.5
    maps = src.reshape(rows, cols, 2).astype(np.float32)
    maps = cv2.resize(maps, (cols * step, rows * step), interpolation=cv2.INTER_LINEAR)
    maps = maps[step:step + height, step:step + width]
    cv2.remap(page, np.ascontiguousarray(maps[..., 0]), np.ascontiguousarray(maps[..., 1]),
              cv2.INTER_LINEAR, dst=frame, borderMode=cv2.BORDER_TRANSPARENT)


def _blur(frame: Image, cam: Camera, unit: float, rng: np.random.Generator) -> Image:
    sigma = float(rng.uniform(*cam.defocus)) * max(unit, 0.3)
    if rng.random() < cam.motion_p:
        length = max(1.0, float(rng.uniform(1.0, cam.motion_px)) * unit)
        size = int(np.ceil(length + 6 * sigma)) | 1
        kernel = np.zeros((size, size), np.float32)
        angle = rng.uniform(0, np.pi)
        c = (size - 1) / 2
        d = np.array([np.cos(angle), np.sin(angle)]) * length / 2
        cv2.line(kernel, (round(c - d[0]), round(c - d[1])), (round(c + d[0]), round(c + d[1])),
                 1.0, 1, cv2.LINE_AA)
        soft = cv2.GaussianBlur(kernel, (size, size), sigma)
        shaken: Image = cv2.filter2D(frame, -1, soft / soft.sum())
        return shaken
    blurred: Image = cv2.GaussianBlur(frame, (0, 0), sigma)
    return blurred


def _light_and_sensor(frame: Image, cam: Camera, rng: np.random.Generator) -> Image:
    """Gain map (gradient, vignette, shadow), glare, colour cast, then sensor noise."""
    height, width = frame.shape[:2]
    gw, gh = 64, max(8, round(64 * height / width))
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    x, y = xx / (gw - 1) * 2 - 1, yy / (gh - 1) * 2 - 1
    direction = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(*cam.gradient)
    gain = 1 - strength * (0.5 + 0.25 * (np.cos(direction) * x + np.sin(direction) * y))
    gain *= 1 - rng.uniform(0.05, 0.2) * (x**2 + y**2) / 2
    # Auto-exposure puts the brightest paper at `paper` grey: white, but not clipped.
    gain *= rng.uniform(*cam.paper) / 255.0 / gain.max()
    if rng.random() < cam.shadow_p:
        gain *= 1 - rng.uniform(*cam.shadow_depth) * _shadow_mask(gw, gh, rng)
    glare = np.zeros_like(gain)
    if rng.random() < cam.glare_p:
        cx, cy = rng.uniform(-0.7, 0.7, 2)
        radius = rng.uniform(0.1, 0.3)
        glare = rng.uniform(40, 110) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / radius**2)
    cast = 1 + rng.uniform(-cam.cast, cam.cast, 3)
    cast /= cast.max()  # white balance tints by holding channels back, never by clipping
    # Light and noise in 8/16-bit fixed point: half the memory traffic of float maps.
    gain3 = np.round(gain[..., None] * cast[None, None, :] * 255).astype(np.uint8)
    gain_full = cv2.resize(gain3, (width, height), interpolation=cv2.INTER_LINEAR)

    # Phone pipelines denoise, leaving grain a couple of pixels wide: draw it at half size,
    # mostly luminance with a little chroma.
    sigma = float(rng.uniform(*cam.noise))
    half = ((width + 1) // 2, (height + 1) // 2)
    luma = rng.standard_normal((half[1], half[0], 1), dtype=np.float32)
    chroma = rng.standard_normal((half[1] // 2 + 1, half[0] // 2 + 1, 3), dtype=np.float32)
    extra = luma * sigma + cv2.resize(chroma * (0.4 * sigma), half,
                                      interpolation=cv2.INTER_LINEAR)
    extra += cv2.resize(glare.astype(np.float32), half, interpolation=cv2.INTER_LINEAR)[..., None]
    extra_full = cv2.resize(np.round(extra).astype(np.int16), (width, height),
                            interpolation=cv2.INTER_LINEAR)

    lit: Image = cv2.multiply(frame, gain_full, scale=1 / 255)
    noisy: Image = cv2.add(lit, extra_full, dtype=cv2.CV_8U)
    return noisy


def _shadow_mask(gw: int, gh: int, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    """A soft blob reaching in from one edge: the officer's hand or phone."""
    mask = np.zeros((gh, gw), np.float32)
    edge = int(rng.integers(4))
    t = rng.uniform(0.2, 0.8)
    anchor = [(t * gw, 0), (gw, t * gh), (t * gw, gh), (0, t * gh)][edge]
    reach = rng.uniform(0.2, 0.5) * min(gw, gh)
    centre = (int(anchor[0]), int(anchor[1]))
    axes = (int(reach * rng.uniform(0.6, 1.4)), int(reach))
    cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), rng.uniform(2.0, 5.0))
