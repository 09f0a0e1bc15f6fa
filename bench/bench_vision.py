"""Vision benchmark: stage times on a 12 MP photo, speed against JPEG decoding, accuracy.

Accuracy runs over synthetic photos (`TITIK_BENCH_PHOTOS`, default 100) cycling the three
pages: box and field accuracy, fields that are wrong yet not flagged (the safety number,
target 0) and the share of pages that need a person (target <= 10%).
"""

from __future__ import annotations

import logging
import os
import resource
import statistics
import time
from collections import Counter
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_PHOTOS = 100  # ~2 s per photo (generation included) on the shared 2-core machine
WIDTH_12MP = 4000  # 4000 x 3000 px
SPEED_RUNS = 21


def _decode_ms(jpeg: bytes, runs: int = 5) -> float:
    import cv2
    import numpy as np

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _speed() -> dict[str, Any]:
    import cv2

    from vision.pipeline import read_form
    from vision.synthetic import synthetic_photo

    cv2.setNumThreads(1)  # pages/s on one core
    photo = synthetic_photo(1, seed=12, width_px=WIDTH_12MP)
    read_form(photo.jpeg)  # load the model, warm caches
    runs = []
    # Interleaved, many times: the machine is shared, so only ratios within one run mean much.
    ratios, ratios_vision, decodes = [], [], []
    for _ in range(SPEED_RUNS):
        decode = _decode_ms(photo.jpeg, runs=1)
        runs.append(read_form(photo.jpeg).timings_ms)
        decodes.append(decode)
        ratios.append(runs[-1]["total"] / decode)
        # Everything but the digit model (cellprep + LiteRT), which has its own benchmark.
        ratios_vision.append((runs[-1]["total"] - runs[-1].get("model", 0.0)) / decode)
    stages = {k: round(statistics.median(r.get(k, 0.0) for r in runs), 1) for k in runs[0]}
    return {
        "photo_bytes": len(photo.jpeg),
        "runs": SPEED_RUNS,
        "stages_ms": stages,
        "imdecode_ms": round(statistics.median(decodes), 1),
        "ratio_total_to_imdecode_median": round(statistics.median(ratios), 2),
        "ratio_without_model_to_imdecode_median": round(statistics.median(ratios_vision), 2),
        "pages_per_s_one_core": round(1000.0 / stages["total"], 2),
    }


def _accuracy(n: int) -> dict[str, Any]:
    from vision.pipeline import read_form
    from vision.synthetic import synthetic_photo

    fields_total = fields_right = wrong_unflagged = flagged = corrected = 0
    boxes_total = boxes_right = 0
    pages_review = pages_rejected = 0
    wrong_examples: list[dict[str, Any]] = []
    # Why fields go to a person, by the reason's first clause: where needless flags come from.
    flag_reasons: Counter[str] = Counter()
    for i in range(n):
        page = 1 + i % 3
        photo = synthetic_photo(page, seed=10_000 + i)
        reading = read_form(photo.jpeg)
        if reading.status == "rejected":
            pages_rejected += 1
            pages_review += 1
            continue
        if reading.status != "accepted":
            pages_review += 1
        for name, truth in photo.values.items():
            field = reading.fields.get(name)
            if field is None:
                continue
            fields_total += 1
            right = field.value == truth
            fields_right += right
            flagged += field.flagged
            if field.flagged:
                flag_reasons[(field.reason or "").split(" (")[0].split(";")[0]] += 1
            corrected += field.corrected
            if not right and not field.flagged:
                wrong_unflagged += 1
                if len(wrong_examples) < 10:
                    wrong_examples.append(
                        {"seed": 10_000 + i, "field": name, "truth": truth, "read": field.text}
                    )
            # Box accuracy against what is really written (the model's first reading).
            want = photo.boxes.get(name)
            got = field.read_text or field.text
            if want is not None and len(want) == len(got):
                boxes_total += len(want)
                boxes_right += sum(a == b for a, b in zip(want, got, strict=True))
    pages = max(n, 1)
    return {
        "photos": n,
        "box_accuracy": round(boxes_right / max(boxes_total, 1), 4),
        "field_accuracy": round(fields_right / max(fields_total, 1), 4),
        "fields": fields_total,
        "fields_flagged": flagged,
        "fields_corrected_by_arithmetic": corrected,
        "fields_wrong_not_flagged": wrong_unflagged,
        "wrong_not_flagged_examples": wrong_examples,
        "flag_reasons": dict(flag_reasons.most_common(8)),
        "pages_needing_review_share": round(pages_review / pages, 4),
        "pages_rejected": pages_rejected,
    }


def run() -> dict[str, Any]:
    n = int(os.environ.get("TITIK_BENCH_PHOTOS", DEFAULT_PHOTOS))
    out: dict[str, Any] = {"speed_12mp": _speed()}
    started = time.perf_counter()
    out["accuracy"] = _accuracy(n)
    out["accuracy"]["photos_env"] = f"TITIK_BENCH_PHOTOS (default {DEFAULT_PHOTOS})"
    out["accuracy"]["seconds"] = round(time.perf_counter() - started, 1)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out
