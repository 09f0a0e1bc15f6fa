"""Digit model: accuracy on the boxes the pipeline cuts from the benchmark's synthetic photos
(generated once, cached under /tmp), on MNIST test and the real 2019 boxes, file size, latency.

MNIST and 2019 figures need ../shared (or $TITIK_SHARED); without it they are skipped and
the result says why. Synthetic held-out boxes and latency always run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def page_prepare_ms(runs: int = 30) -> dict[str, Any]:
    """`cellprep.prepare_batch` on the box crops of a real synthetic page 1 photo (12 MP), as
    `read_form` cuts them, against OpenCV's decode of the same photo (median of `runs`)."""
    import time

    import cv2
    import numpy as np

    from vision import cellprep, cells, register, synthetic

    jpeg = np.frombuffer(synthetic.synthetic_photo(1, seed=3, width_px=4000).jpeg, np.uint8)
    gray = np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE))
    registration = register.register(gray)
    if isinstance(registration, register.RegistrationFailure):
        return {"skipped": f"registration failed: {registration.reason}"}
    crops = [c for row in cells.crop_cells(gray, registration).values() for c in row]
    prepare, decode = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        cellprep.prepare_batch(crops)
        t1 = time.perf_counter()
        cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)
        t2 = time.perf_counter()
        prepare.append((t1 - t0) * 1000)
        decode.append((t2 - t1) * 1000)
    return {
        "boxes": len(crops),
        "prepare_ms": round(float(np.median(prepare)), 2),
        "decode_ms": round(float(np.median(decode)), 2),
    }


def run() -> dict[str, Any]:
    from vision.model_card import measure

    shared = Path(os.environ.get("TITIK_SHARED", ROOT.parent / "shared")).resolve()
    result = measure(shared)  # skips MNIST and 2019 with the reason when they are absent
    # The bench JSON stays short: overall figures; the model card has the per-class detail.
    for key in ("pipeline_boxes", "pipeline_boxes_all_photos", "mnist_test", "c1_2019_dev",
                "c1_2019_dev_full_height",
                "synthetic_font_boxes", "synthetic_hand_boxes"):
        if key in result:
            short = {"accuracy": result[key]["accuracy"], "n": result[key]["n"]}
            if key.startswith(("c1", "pipeline")):
                short["confusions"] = result[key]["confusions"]
            result[key] = short
    result["page_prepare"] = page_prepare_ms()
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
