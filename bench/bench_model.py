"""Digit model: accuracy on MNIST test and the real 2019 boxes, file size, page latency.

MNIST and 2019 figures need ../shared (or $TITIK_SHARED); without it they are skipped and
the result says why. Synthetic held-out boxes and latency always run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run() -> dict[str, Any]:
    from vision.train import measure

    shared = Path(os.environ.get("TITIK_SHARED", ROOT.parent / "shared")).resolve()
    result = measure(shared)  # skips MNIST and 2019 with the reason when they are absent
    # The bench JSON stays short: overall figures; the model card has the per-class detail.
    for key in ("mnist_test", "c1_2019_dev", "c1_2019_dev_full_height",
                "synthetic_font_boxes", "synthetic_hand_boxes"):
        if key in result:
            short = {"accuracy": result[key]["accuracy"], "n": result[key]["n"]}
            if key.startswith("c1"):
                short["confusions"] = result[key]["confusions"]
            result[key] = short
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
