"""`vision.classify_cells` on boxes cut by someone else's cutter, not by `read_form`.

`classify_cells` is what an outside check runs on real boxes cut from tally scans, and cutters
differ: some cut the white interior, some at the printed border, some with the frame and paper
around it, some a millimetre off. Each written box of the benchmark's first photos
(`TITIK_BENCH_CUT_PHOTOS`, default 60; seeds 10000 and up, 12 MP, MNIST test digits when
../shared has them) is cut straight from the photo where the page really puts it (the
simulation's exact mapping, so the cut and not registration is what varies), each of the
ways below, at 5 px/mm. Reported per way: box accuracy (the first label), how many empty
boxes read as a mark (an empty box must never turn into a `0` or `8`), and how many boxes
read wrong with confidence SURE or more (the safety number: a wrong reading must be unsure).
The same with the officers writing small (`synthetic.SMALL_WRITING`).
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

DEFAULT_PHOTOS = 60
PX_PER_MM = 5.0
SURE = 0.9
# name: (inset from the box's printed inner edge in mm, negative is outwards; shift x, y mm).
# The frame line is ~1 mm wide: -1.0 cuts at its outside, -2.0 keeps 1 mm of paper beyond it.
CUTS: dict[str, tuple[float, float, float]] = {
    "interior, 0.8 mm in (cells.INSET_MM)": (0.8, 0.0, 0.0),
    "at the inner edge of the frame": (0.0, 0.0, 0.0),
    "through the frame": (-0.6, 0.0, 0.0),
    "with the frame and 1 mm of paper": (-2.0, 0.0, 0.0),
    "with the frame and 2 mm of paper": (-3.0, 0.0, 0.0),
    "1 mm to the right": (0.8, 1.0, 0.0),
    "1.5 mm up": (0.5, 0.0, -1.5),
}


def _photo(i: int,
           sizes: tuple[float, float] | None) -> dict[str, list[tuple[str, str, float]]]:
    """(truth, read, confidence) per written box of benchmark photo `i`, for each cut."""
    import cv2
    import numpy as np

    from vision import classify_cells
    from vision.synthetic import synthetic_photo
    from vision.template import load_templates

    cv2.setNumThreads(1)
    page = 1 + i % 3
    options: dict[str, Any] = {} if sizes is None else {"sizes": sizes}
    photo = synthetic_photo(page, seed=10_000 + i, width_px=4000, **options)
    template = next(t for t in load_templates().values() if t.page == page)
    gray = np.asarray(cv2.imdecode(np.frombuffer(photo.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE))
    out: dict[str, list[tuple[str, str, float]]] = {}
    for name, (inset, dx, dy) in CUTS.items():
        crops, truth = [], []
        for spec in template.fields:
            written = photo.boxes.get(spec.name)
            if written is None:
                continue
            for (x, y, w, h), label in zip(spec.boxes_mm, written, strict=True):
                x0, y0 = x + inset + dx, y + inset + dy
                x1, y1 = x + w - inset + dx, y + h - inset + dy
                size = (round((x1 - x0) * PX_PER_MM), round((y1 - y0) * PX_PER_MM))
                corners = photo.mm_to_photo([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
                target = np.array([[0, 0], [size[0], 0], [size[0], size[1]], [0, size[1]]],
                                  np.float32)
                to_crop = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
                crops.append(cv2.warpPerspective(gray, to_crop, size, flags=cv2.INTER_AREA))
                truth.append("" if label == "_" else label)
        out[name] = [(t, read, p) for t, (read, p) in zip(truth, classify_cells(crops),
                                                           strict=True)]
    return out


def _cuts(n: int, workers: int, sizes: tuple[float, float] | None = None) -> dict[str, Any]:
    from concurrent.futures import ProcessPoolExecutor

    from vision.digits import evaluate

    pairs: dict[str, list[tuple[str, str, float]]] = {name: [] for name in CUTS}
    with ProcessPoolExecutor(workers) as pool:
        for photo in pool.map(partial(_photo, sizes=sizes), range(n)):
            for name, boxes in photo.items():
                pairs[name] += boxes
    report = {}
    for name, cut in pairs.items():
        truth, read = [t for t, _, _ in cut], [r for _, r, _ in cut]
        result = evaluate(read, truth)
        report[name] = {
            "box_accuracy": round(result.accuracy, 4),
            "boxes": result.n,
            "empty_boxes": truth.count(""),
            "empty_read_as_mark": sum(t == "" and r != "" for t, r, _ in cut),
            "wrong_but_sure": sum(t != r and p >= SURE for t, r, p in cut),
            "top_confusions": dict(sorted(result.confusions.items(), key=lambda kv: -kv[1])[:5]),
        }
    return report


def run() -> dict[str, Any]:
    from vision.synthetic import SMALL_WRITING

    n = int(os.environ.get("TITIK_BENCH_CUT_PHOTOS", DEFAULT_PHOTOS))
    workers = int(os.environ.get("TITIK_BENCH_WORKERS", 2))
    return {"photos": n, "px_per_mm": PX_PER_MM, "cuts": _cuts(n, workers),
            "cuts_small_writing": _cuts(n, workers, SMALL_WRITING)}
