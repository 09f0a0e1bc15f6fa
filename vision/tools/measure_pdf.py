"""Measure the official C.Hasil PDF and write the page templates (run by hand).

    python -m vision.tools.measure_pdf ../shared/forms/C.HASIL-PPWP-2024-plano.pdf

Renders each page with pdfium at MEASURE_DPI and finds, on the raster (what a camera sees):
the AprilTag corners (aruco, sub-pixel), the four double-square corner fiducials, every
writable digit box (the white interior inside the printed border) and page 2's OMR bubbles.
Boxes are assigned to fields by row (y) and column group (x) using the known layout order
below; rules and labels come from `vision/tools/form_layout.py`. Units: mm, origin top-left,
y down. A pixel i covers [i, i + 1) * 25.4 / dpi mm, so pixel-centre coordinates get + 0.5.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from vision.tools.form_layout import PAGE_LAYOUTS, TAG_IDS, TEMPLATE_ID

logger = logging.getLogger(__name__)

MEASURE_DPI = 300.0
TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"


def _mm(px: float) -> float:
    return round(float(px) * 25.4 / MEASURE_DPI, 2)


def page_sizes_mm(pdf_path: Path) -> list[list[float]]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(pdf_path))
    return [[round(v * 25.4 / 72.0, 2) for v in pdf[i].get_size()] for i in range(len(pdf))]


def render_pages(pdf_path: Path) -> list[np.ndarray]:
    from vision.render import rasterise_pdf_page

    return [rasterise_pdf_page(pdf_path, index, MEASURE_DPI)
            for index in range(len(page_sizes_mm(pdf_path)))]


def measure_tag(gray: np.ndarray) -> tuple[int, list[list[float]]]:
    import cv2

    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    detector = cv2.aruco.ArucoDetector(
        cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_APRILTAG_36h10), params
    )
    corners, ids, _ = detector.detectMarkers(gray)
    found = [] if ids is None else np.asarray(ids).ravel().tolist()
    if len(found) != 1:
        raise RuntimeError(f"expected one 36h10 tag, found {found}")
    pts = np.asarray(corners[0]).reshape(4, 2)
    return int(found[0]), [[_mm(x + 0.5), _mm(y + 0.5)] for x, y in pts]


def measure_fiducials(gray: np.ndarray) -> list[dict[str, Any]]:
    """Double squares touching at one corner; the touching point is the fiducial centre."""
    import cv2

    h, w = gray.shape
    dark = (gray < 128).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(dark)
    found: list[dict[str, Any]] = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        side_mm = bw * 25.4 / MEASURE_DPI
        if not (10 < side_mm < 20 and abs(bw - bh) <= 2 and 0.4 < area / (bw * bh) < 0.6):
            continue
        half = bw // 2
        tl = dark[y : y + half, x : x + half].mean()
        tr = dark[y : y + half, x + bw - half : x + bw].mean()
        pattern = "tl-br" if tl > tr else "tr-bl"
        name = ("t" if y < h / 2 else "b") + ("l" if x < w / 2 else "r")
        found.append(
            {
                "name": name,
                "center_mm": [_mm(x + bw / 2), _mm(y + bh / 2)],
                "square_mm": _mm(bw / 2),
                "pattern": pattern,
            }
        )
    order = {"tl": 0, "tr": 1, "br": 2, "bl": 3}
    found.sort(key=lambda f: order[f["name"]])
    if [f["name"] for f in found] != ["tl", "tr", "br", "bl"]:
        raise RuntimeError(f"expected four corner fiducials, found {found}")
    return found


def measure_boxes(gray: np.ndarray) -> list[tuple[float, float, float, float, float]]:
    """Square white interiors of printed digit boxes: (x, y, w, h, line) in mm."""
    import cv2

    _, bw = cv2.threshold(gray, 128, 255, cv2.THRESH_BINARY_INV)
    contours, hierarchy = cv2.findContours(bw, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    boxes = []
    for contour, link in zip(contours, hierarchy[0], strict=True):
        if link[3] < 0:
            continue
        x, y, w, h = cv2.boundingRect(contour)
        side = w * 25.4 / MEASURE_DPI
        fill = cv2.contourArea(contour) / (w * h)
        if not (12 < side < 25 and abs(w - h) <= 0.05 * w and fill > 0.95):
            continue
        # A hole's contour runs on the dark pixels around it: the interior is 1 px inside.
        row = bw[y + h // 2, : x + 1][::-1]
        line_px = int(np.argmax(row == 0)) if (row == 0).any() else 0
        boxes.append((_mm(x + 1), _mm(y + 1), _mm(w - 2), _mm(h - 2), _mm(line_px)))
    return boxes


def measure_bubbles(gray: np.ndarray) -> list[tuple[float, float, float]]:
    """Outlined circles of 3-6 mm radius: (cx, cy, r) in mm."""
    import cv2

    _, bw = cv2.threshold(gray, 160, 255, cv2.THRESH_BINARY_INV)
    contours, hierarchy = cv2.findContours(bw, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    circles = []
    for contour, link in zip(contours, hierarchy[0], strict=True):
        if link[3] >= 0:
            continue
        (cx, cy), r = cv2.minEnclosingCircle(contour)
        r_mm = r * 25.4 / MEASURE_DPI
        if 3 < r_mm < 6 and cv2.contourArea(contour) / (np.pi * r * r) > 0.9:
            circles.append((_mm(cx + 0.5), _mm(cy + 0.5), _mm(r)))
    return circles


def _group(values: list[float], tol: float) -> list[list[int]]:
    """Indices of `values` grouped where consecutive sorted values differ by < tol."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and values[i] - values[groups[-1][-1]] < tol:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def assign_fields(
    page: int, boxes: list[tuple[float, float, float, float, float]]
) -> list[dict[str, Any]]:
    """Rows top to bottom, then runs of adjacent boxes left to right -> the layout's field names."""
    layout = PAGE_LAYOUTS[page]
    rows = _group([b[1] for b in boxes], tol=3.0)
    runs: list[list[tuple[float, float, float, float, float]]] = []
    for row in rows:
        row_boxes = sorted((boxes[i] for i in row), key=lambda b: b[0])
        run = [row_boxes[0]]
        for b in row_boxes[1:]:
            gap = b[0] - (run[-1][0] + run[-1][2])
            if gap < 8.0:
                run.append(b)
            else:
                runs.append(run)
                run = [b]
        runs.append(run)
    names = [f for f in layout["fields"]]
    if len(runs) != len(names):
        raise RuntimeError(f"page {page}: {len(runs)} box runs for {len(names)} fields")
    fields = []
    for spec, run in zip(names, runs, strict=True):
        if len(run) != spec["n_boxes"]:
            raise RuntimeError(f"page {page} {spec['name']}: {len(run)} boxes")
        fields.append(
            {
                "name": spec["name"],
                "label": spec["label"],
                "boxes_mm": [[b[0], b[1], b[2], b[3]] for b in run],
                "line_mm": round(float(np.median([b[4] for b in run])), 2),
            }
        )
    return fields


def assign_bubbles(
    fields: list[dict[str, Any]], circles: list[tuple[float, float, float]]
) -> None:
    """Each box column of a bubble field gets the 10 circles below it, digits 0-9 top down."""
    for field in fields:
        if not field["name"].startswith("suara_paslon_"):
            continue
        columns = []
        for box_index, (x, y, w, h) in enumerate(field["boxes_mm"]):
            cx = x + w / 2
            below = [c for c in circles if abs(c[0] - cx) < w / 2 and y + h < c[1] < y + h + 130]
            below.sort(key=lambda c: c[1])
            if len(below) != 10:
                raise RuntimeError(f"{field['name']} box {box_index}: {len(below)} bubbles")
            columns.append(
                {
                    "box": box_index,
                    "centers_mm": [[c[0], c[1]] for c in below],
                    "radius_mm": round(float(np.median([c[2] for c in below])), 2),
                }
            )
        field["bubbles"] = columns


# Free paper above and below a field's boxes is looked for this far (mm), over the boxes'
# width and ROOM_SIDE_MM either side (`cells.room_above_below_mm` crops no wider).
ROOM_LIMIT_MM = 20.0
ROOM_SIDE_MM = 1.5


def measure_room(gray: np.ndarray, fields: list[dict[str, Any]]) -> None:
    """Each field's `room_mm`, in place: [above, below], the clear paper (mm) between its
    boxes' printed lines and the nearest other print (a table's rule, a caption, another
    box) over or under any of its boxes; at most ROOM_LIMIT_MM."""
    k = MEASURE_DPI / 25.4
    dark = np.asarray(gray < 128, bool)
    rows, cols = dark.shape
    for field in fields:
        line = float(field.get("line_mm", 1.0))
        above = below = ROOM_LIMIT_MM
        for x, y, w, h in field["boxes_mm"]:
            c0 = max(0, int((x - line - ROOM_SIDE_MM) * k))
            c1 = min(cols, int(np.ceil((x + w + line + ROOM_SIDE_MM) * k)))
            # From just outside the box's line, a pixel of its anti-aliased edge left out.
            top = int(np.floor((y - line) * k)) - 2
            bottom = int(np.ceil((y + h + line) * k)) + 2
            reach = int(ROOM_LIMIT_MM * k)
            up = np.asarray(dark[max(0, top - reach) : top + 1, c0:c1].any(axis=1))[::-1]
            down = np.asarray(dark[bottom : min(rows, bottom + reach), c0:c1].any(axis=1))
            if up.any():
                above = min(above, (int(np.argmax(up)) + 2) / k)
            if down.any():
                below = min(below, (int(np.argmax(down)) + 2) / k)
        field["room_mm"] = [round(above, 2), round(below, 2)]


def add_room(pdf_path: Path, template_dir: Path) -> None:
    """Measure `room_mm` for the templates already in `template_dir` and write them back,
    every other value as it was."""
    for index, gray in enumerate(render_pages(pdf_path)):
        path = template_dir / f"ppwp_p{index + 1}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        measure_room(gray, data["fields"])
        path.write_text(dump_json(data), encoding="utf-8")
        logger.info("room measured: %s", path)


def measure(pdf_path: Path) -> dict[int, dict[str, Any]]:
    templates = {}
    sizes = page_sizes_mm(pdf_path)
    for index, gray in enumerate(render_pages(pdf_path)):
        page = index + 1
        tag_id, corners = measure_tag(gray)
        if tag_id != TAG_IDS[page]:
            raise RuntimeError(f"page {page}: tag {tag_id}, expected {TAG_IDS[page]}")
        fields = assign_fields(page, measure_boxes(gray))
        if page == 2:
            assign_bubbles(fields, measure_bubbles(gray))
        measure_room(gray, fields)
        layout = PAGE_LAYOUTS[page]
        sides = [np.hypot(*np.subtract(corners[i], corners[i - 1])) for i in range(4)]
        side = float(np.mean(sides))
        templates[page] = {
            "template": TEMPLATE_ID,
            "page": page,
            "title": layout["title"],
            "source": {
                "pdf": pdf_path.name,
                "page_index": index,
                "measured_dpi": MEASURE_DPI,
                "tool": "vision/tools/measure_pdf.py",
            },
            "page_size_mm": sizes[index],
            "tag": {"family": "36h10", "id": tag_id, "size_mm": round(side, 2),
                    "corners_mm": corners},
            "fiducials": measure_fiducials(gray),
            "fields": fields,
            "rules": layout["rules"],
        }
        logger.info("page %s: tag %s, %s fields", page, tag_id, len(fields))
    return templates


def dump_json(data: dict[str, Any]) -> str:
    """Indented JSON with numeric pairs/quads kept on one line, so boxes read as rows."""
    text = json.dumps(data, indent=1, ensure_ascii=False)
    flat = re.sub(
        r"\[\s*(-?[\d.]+(?:,\s*-?[\d.]+)*)\s*\]",
        lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]",
        text,
    )
    return flat + "\n"


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("pdf", type=Path)
    parser.add_argument("--out", type=Path, default=TEMPLATE_DIR)
    parser.add_argument("--room-only", action="store_true",
                        help="only measure each field's room_mm into the templates in --out")
    args = parser.parse_args()
    if args.room_only:
        add_room(args.pdf, args.out)
        return
    for page, data in measure(args.pdf).items():
        path = args.out / f"ppwp_p{page}.json"
        path.write_text(dump_json(data), encoding="utf-8")
        logger.info("wrote %s", path)


if __name__ == "__main__":
    main()
