"""Draw a page template as a printable page: tag, corner fiducials, digit boxes, bubbles, labels.

Only the parts the reader relies on are drawn, at their measured positions, so a printed
render registers exactly like the official form. Coordinates: a page point (x, y) mm lands at
pixel (x * k - 0.5, y * k - 0.5) with k = dpi / 25.4, i.e. pixel i covers [i, i + 1) / k mm.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from vision.template import Box, FieldSpec, Template, template_for_page

logger = logging.getLogger(__name__)

Gray = np.ndarray[Any, np.dtype[np.uint8]]
Matrix = np.ndarray[Any, np.dtype[np.float64]]

INK = 20  # printed black, as on the official PDF (not pure 0)
SHIFT = 4  # fixed-point bits for sub-pixel drawing with cv2
BUBBLE_LINE_MM = 0.3


def px_per_mm(dpi: float) -> float:
    return dpi / 25.4


def mm_to_px(dpi: float) -> Matrix:
    """3x3 matrix taking page mm to pixel coordinates of a page rendered at `dpi`."""
    k = px_per_mm(dpi)
    return np.array([[k, 0.0, -0.5], [0.0, k, -0.5], [0.0, 0.0, 1.0]])


def rasterise_pdf_page(path: Path, index: int, dpi: float) -> Gray:
    """Page `index` (0-based) of a PDF as a grayscale image at `dpi`, via pdfium."""
    import pypdfium2 as pdfium

    bitmap = pdfium.PdfDocument(str(path))[index].render(scale=dpi / 72.0, grayscale=True)
    raster = bitmap.to_numpy()
    return np.ascontiguousarray(raster[..., 0] if raster.ndim == 3 else raster)


def page_shape_px(template: Template, dpi: float) -> tuple[int, int]:
    """(height, width) in pixels of the page rendered at `dpi`."""
    k = px_per_mm(dpi)
    width, height = template.page_size_mm
    return (round(height * k), round(width * k))


def box_px(box: Box, dpi: float) -> tuple[int, int, int, int]:
    """Pixel slice bounds (x0, y0, x1, y1) of a box at `dpi` (rounded to whole pixels)."""
    k = px_per_mm(dpi)
    x, y, w, h = box
    return (round(x * k), round(y * k), round((x + w) * k), round((y + h) * k))


def _fixed(points_mm: list[tuple[float, float]], k: float) -> np.ndarray[Any, Any]:
    pts = [((x * k - 0.5) * (1 << SHIFT), (y * k - 0.5) * (1 << SHIFT)) for x, y in points_mm]
    return np.round(np.array(pts)).astype(np.int32)


def _fill_rect(img: Gray, x: float, y: float, w: float, h: float, k: float, value: int) -> None:
    import cv2

    # Edges at pixel boundaries: the polygon runs through the outer pixel centres' half-way.
    corners = [(x + 0.5 / k, y + 0.5 / k), (x + w - 0.5 / k, y + 0.5 / k),
               (x + w - 0.5 / k, y + h - 0.5 / k), (x + 0.5 / k, y + h - 0.5 / k)]
    cv2.fillPoly(img, [_fixed(corners, k)], int(value), cv2.LINE_AA, SHIFT)


def _draw_tag(img: Gray, template: Template, k: float) -> None:
    import cv2

    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_APRILTAG_36h10)
    cells = 8  # 6x6 data bits inside a one-cell black border
    side = cells * 32
    marker = cv2.aruco.generateImageMarker(dictionary, template.tag_id, side, borderBits=1)
    marker = np.where(marker > 127, 255, INK).astype(np.uint8)
    src = np.array([[0, 0], [side, 0], [side, side], [0, side]], dtype=np.float32) - 0.5
    dst = np.array([(x * k - 0.5, y * k - 0.5) for x, y in template.tag_corners_mm],
                   dtype=np.float32)
    warp = cv2.getPerspectiveTransform(src, dst)
    h, w = img.shape
    warped = cv2.warpPerspective(marker, warp, (w, h), flags=cv2.INTER_AREA,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    mask = cv2.warpPerspective(np.full_like(marker, 255), warp, (w, h), flags=cv2.INTER_LINEAR)
    alpha = mask.astype(np.float32) / 255.0
    img[:] = np.round(img * (1 - alpha) + warped * alpha).astype(np.uint8)


def _draw_fiducials(img: Gray, template: Template, k: float) -> None:
    for fid in template.fiducials:
        cx, cy = fid.center_mm
        s = fid.square_mm
        if fid.pattern == "tl-br":
            origins = [(cx - s, cy - s), (cx, cy)]
        else:
            origins = [(cx, cy - s), (cx - s, cy)]
        for x, y in origins:
            _fill_rect(img, x, y, s, s, k, INK)


def _text(img: Gray, text: str, x_mm: float, y_mm: float, height_mm: float, k: float,
          thickness_mm: float = 0.35) -> None:
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = cv2.getFontScaleFromHeight(font, max(1, round(height_mm * k)), 1)
    thickness = max(1, round(thickness_mm * k))
    cv2.putText(img, text, (round(x_mm * k), round(y_mm * k)), font, scale, INK, thickness,
                cv2.LINE_AA)


def _draw_fields(img: Gray, template: Template, k: float) -> None:
    import cv2

    captions: set[str] = set()
    for field in template.fields:
        line = field.line_mm
        for x, y, w, h in field.boxes_mm:
            _fill_rect(img, x - line, y - line, w + 2 * line, h + 2 * line, k, INK)
        for x, y, w, h in field.boxes_mm:
            _fill_rect(img, x, y, w, h, k, 255)
        x0, y0, _, h0 = field.bbox_mm
        caption, _, part = field.label.partition(" (")
        if caption not in captions:
            captions.add(caption)
            _text(img, caption, 70.0, y0 + h0 / 2 + 1.5, 3.5, k)
        if part and not _row_above(template, field):
            # A column's heading, as KPU's page has over its first row only, clear of the
            # paper the form leaves above the boxes (`room_mm`): the reader's taller crops
            # take that paper in.
            above = max(1.2, field.room_mm[0]) if field.room_mm else 1.2
            _text(img, part.rstrip(")"), x0, y0 - line - above, 2.5, k)
        for column in field.bubbles:
            for digit, (cx, cy) in enumerate(column.centers_mm):
                r = column.radius_mm - BUBBLE_LINE_MM / 2
                center = _fixed([(cx, cy)], k)[0]
                cv2.circle(img, (int(center[0]), int(center[1])), round(r * k * (1 << SHIFT)),
                           INK, max(1, round(BUBBLE_LINE_MM * k)), cv2.LINE_AA, SHIFT)
                _text(img, str(digit), cx - 1.1, cy + 1.4, 2.8, k, 0.3)


def _row_above(template: Template, field: FieldSpec, within_mm: float = 15.0) -> bool:
    """Does another field's row lie over `field`'s boxes, less than `within_mm` above?"""
    x, y, w, _ = field.bbox_mm
    for other in template.fields:
        ox, oy, ow, oh = other.bbox_mm
        if other is not field and ox < x + w and x < ox + ow and 0 <= y - (oy + oh) < within_mm:
            return True
    return False


def render_page(page: int, dpi: float = 100.0) -> Gray:
    """The page as a grayscale image (white paper, black print) at `dpi`."""
    template = template_for_page(page)
    return render_template(template, dpi)


def render_template(template: Template, dpi: float) -> Gray:
    k = px_per_mm(dpi)
    img: Gray = np.full(page_shape_px(template, dpi), 255, dtype=np.uint8)
    _draw_fields(img, template, k)
    _draw_fiducials(img, template, k)
    _draw_tag(img, template, k)
    _text(img, "MODEL C.HASIL-PPWP", 470.0, 90.0, 4.0, k)
    _text(img, f"Halaman {template.page} dari 3", 470.0, 100.0, 4.0, k)
    _text(img, template.title, 70.0, 160.0, 6.0, k, 0.6)
    _text(img, f"{template.template_id} hal. {template.page} - cetakan uji Titik (bukan resmi)",
          70.0, 885.0, 3.0, k)
    logger.debug("rendered page %s at %s dpi: %s", template.page, dpi, img.shape)
    return img


def write_png(page: int, path: Path, dpi: float = 150.0) -> Path:
    from PIL import Image

    Image.fromarray(render_page(page, dpi)).save(path, format="PNG", dpi=(dpi, dpi))
    return path


def write_pdf(page: int, path: Path, dpi: float = 150.0) -> Path:
    """A one-page PDF at the form's real size (600 x 900 mm) for printing."""
    from PIL import Image

    Image.fromarray(render_page(page, dpi)).save(path, format="PDF", resolution=dpi)
    return path
