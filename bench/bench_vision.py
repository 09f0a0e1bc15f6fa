"""Vision benchmark: stage times on a 12 MP photo, speed against JPEG decoding, accuracy.

Speed is the total read against OpenCV decoding the same file, twice: grayscale (what the
pipeline itself decodes, the stricter reference) and OpenCV's default colour decode; for the
benchmark's page 1 photo, then per page over three photos each, and for the same frame saved at
JPEG qualities 75 to 95 (the read's work is the page's, the decode's grows with the file);
and for a page that needs review, which first reads its doubtful boxes again closer.

Accuracy runs over synthetic photos (`TITIK_BENCH_PHOTOS`, default 500, read by
`TITIK_BENCH_WORKERS` processes, default 2) cycling the three pages: box accuracy (the
model's own first reading, and the final one after the arithmetic and page 2's bubbles),
field accuracy, fields that are wrong yet not flagged (the safety number, target 0) and the
share of pages that need a person (target <= 10%), overall and per page. The same first
`TITIK_BENCH_SMALL_PHOTOS` (default 150) again with the officers writing as small as in the
2019 scans (`synthetic.SMALL_WRITING`): real handwriting is often smaller than the default's.
And the first `TITIK_BENCH_5MP_PHOTOS` (default 150) through a 5 MP camera (1944 x 2592 px):
the cheap phones of many officers, and what the page-size limit is measured against.
And the first `TITIK_BENCH_OFFICIAL_PHOTOS` (default 150) written on KPU's own PDF page
(`synthetic_photo(artwork="official")`, its tables, text and logo around the boxes) instead
of our render, which draws only what the reader uses; skipped without ../shared.
And the first `TITIK_BENCH_UNEVEN_PHOTOS` (default 150) of a sheet far from flat
(`photo_sim.UNEVEN_PAPER`: its fold and waves move the boxes by up to ~5 mm), what
`vision.local_fit` is for.
And the first `TITIK_BENCH_MARKER_PHOTOS` (default 150) filled with a felt-tip marker
(`synthetic.MARKER_MM`: a 1.5-3 mm line) instead of a ballpoint, as KPPS often fill the plano.
And the first `TITIK_BENCH_BIG_PHOTOS` (default 150) written bigger than the boxes
(`synthetic.BIG_WRITING`: the ink over a line by more than 1 mm in two boxes of three).
And the first `TITIK_BENCH_DIM_PHOTOS` (default 150) taken in dim light
(`photo_sim.DIM_LIGHT`: the paper at grey 90-140, the grain twice the daylight's), as an
evening count under one lamp is.
And the first `TITIK_BENCH_SKIPPED_PHOTOS` (default 150) page 2 photos of the set again, the
officer having filled the boxes and none of the bubbles (`synthetic.BUBBLES_SKIPPED`): the
votes stand on the boxes alone.
"""

from __future__ import annotations

import logging
import os
import resource
import statistics
import time
from collections import Counter
from dataclasses import asdict
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vision.photo_sim import Light
    from vision.synthetic import Artwork

logger = logging.getLogger(__name__)

DEFAULT_PHOTOS = 500  # ~1 s per photo per core (generation included)
DEFAULT_SMALL_PHOTOS = 150
DEFAULT_5MP_PHOTOS = 150
DEFAULT_OFFICIAL_PHOTOS = 150
DEFAULT_UNEVEN_PHOTOS = 150
DEFAULT_MARKER_PHOTOS = 150
DEFAULT_BIG_PHOTOS = 150
DEFAULT_DIM_PHOTOS = 150
DEFAULT_SKIPPED_PHOTOS = 150
WIDTH_5MP = 1944  # 1944 x 2592 px: a cheap phone's camera (the benchmark's default is 12 MP)
DEFAULT_WORKERS = 2
WIDTH_12MP = 4000  # 4000 x 3000 px
SPEED_RUNS = 21


def _decode_ms(jpeg: bytes, runs: int = 5, flags: int | None = None) -> float:
    import cv2
    import numpy as np

    flags = cv2.IMREAD_GRAYSCALE if flags is None else flags
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        cv2.imdecode(np.frombuffer(jpeg, np.uint8), flags)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _speed_as_the_worker() -> dict[str, Any]:
    """`_speed` in a fresh process with the worker's malloc settings, so that the figures do
    not depend on what ran before in this one (glibc's defaults give each photo's buffers
    fresh pages, and whether they do depends on the process's history)."""
    import json
    import subprocess
    import sys

    from gateway.worker import MALLOC_TUNABLES

    code = "import json; from bench.bench_vision import _speed; print(json.dumps(_speed()))"
    env = {**os.environ, "GLIBC_TUNABLES": MALLOC_TUNABLES}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    result["glibc_tunables"] = MALLOC_TUNABLES
    return result


def _speed() -> dict[str, Any]:
    import cv2

    from vision.digits import MODEL_THREADS
    from vision.pipeline import SECOND_THREAD_STAGES, read_form
    from vision.synthetic import synthetic_photo

    cv2.setNumThreads(1)  # OpenCV on one thread; the CPU time is reported apart
    photo = synthetic_photo(1, seed=12, width_px=WIDTH_12MP)
    read_form(photo.jpeg)  # load the model, warm caches
    runs = []
    # Interleaved, many times: the machine is shared, so only ratios within one run mean much.
    ratios, ratios_vision, decodes, ratios_colour, colour = [], [], [], [], []
    cpu = []
    for _ in range(SPEED_RUNS):
        decode = _decode_ms(photo.jpeg, runs=1)
        # OpenCV's default decode (IMREAD_COLOR), what `cv2.imread` does with a photo.
        colour.append(_decode_ms(photo.jpeg, runs=1, flags=cv2.IMREAD_COLOR))
        started = time.process_time()
        runs.append(read_form(photo.jpeg).timings_ms)
        # CPU time of every thread: LiteRT runs the model on MODEL_THREADS of the box's cores.
        cpu.append((time.process_time() - started) * 1000)
        decodes.append(decode)
        ratios.append(runs[-1]["total"] / decode)
        ratios_colour.append(runs[-1]["total"] / colour[-1])
        # Everything but the digit model (cellprep + LiteRT), which has its own benchmark.
        ratios_vision.append((runs[-1]["total"] - runs[-1].get("model", 0.0)) / decode)
    stages = {k: round(statistics.median(r.get(k, 0.0) for r in runs), 1) for k in runs[0]}
    return {
        "photo_bytes": len(photo.jpeg),
        "runs": SPEED_RUNS,
        "stages_ms": stages,
        # These run on read_form's second thread, beside `cells` and `model`: the stages
        # overlap, so they do not add up to `total` (the wall clock).
        "stages_on_second_thread": list(SECOND_THREAD_STAGES),
        "imdecode_ms": round(statistics.median(decodes), 1),
        "ratio_total_to_imdecode_median": round(statistics.median(ratios), 2),
        "imdecode_colour_ms": round(statistics.median(colour), 1),
        "ratio_total_to_imdecode_colour_median": round(statistics.median(ratios_colour), 2),
        "ratio_without_model_to_imdecode_median": round(statistics.median(ratios_vision), 2),
        # Wall clock: OpenCV on one thread, the digit model on MODEL_THREADS (as on the box).
        "model_threads": MODEL_THREADS,
        "pages_per_s_wall": round(1000.0 / stages["total"], 2),
        "cpu_ms_per_page": round(statistics.median(cpu), 1),
        "pages_per_s_per_core_cpu": round(1000.0 / statistics.median(cpu), 2),
        "stored_sideways": _sideways(photo.jpeg),
        # Above, page 1 (the most boxes); here each page, over three photos of it.
        "ratio_total_to_imdecode_by_page": {str(page): _page_ratio(page) for page in (1, 2, 3)},
        "closer_look": _closer_look(),
        "by_jpeg_quality": _by_jpeg_quality(photo.jpeg),
    }


def _by_jpeg_quality(jpeg: bytes, qualities: tuple[int, ...] = (75, 85, 95),
                     runs: int = 7) -> list[dict[str, Any]]:
    """The same frame saved at other JPEG qualities (re-encoded from its decoded pixels): the
    read's own work is the same page, OpenCV's decode grows with the file."""
    import cv2
    import numpy as np

    from vision.pipeline import read_form

    frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise ValueError("the benchmark photo does not decode")
    out = []
    for quality in qualities:
        data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
        read_form(data)
        decodes, totals, _ = _interleaved(data, runs)
        out.append({"jpeg_quality": quality, "bytes": len(data),
                    "imdecode_ms": round(statistics.median(decodes), 1),
                    "total_ms": round(statistics.median(totals), 1),
                    "ratio_total_to_imdecode_median": round(
                        statistics.median(t / d for t, d in zip(totals, decodes, strict=True)),
                        2)})
    return out


def _page_ratio(page: int, seeds: tuple[int, ...] = (12, 13, 14), runs: int = 5) -> float:
    """Median ratio of `read_form` to OpenCV's grayscale decode over photos of `page`."""
    from vision.pipeline import read_form
    from vision.synthetic import synthetic_photo

    ratios = []
    for seed in seeds:
        photo = synthetic_photo(page, seed=seed, width_px=WIDTH_12MP)
        read_form(photo.jpeg)
        decodes, totals, _ = _interleaved(photo.jpeg, runs)
        ratios += [t / d for t, d in zip(totals, decodes, strict=True)]
    return round(statistics.median(ratios), 2)


def _closer_look(page: int = 1, seed: int = 13, runs: int = 7) -> dict[str, Any]:
    """A photo whose page needs review (`_page_ratio`'s second page 1 photo): its doubtful
    boxes are read again closer before it goes to a person (`timings_ms["closer"]`)."""
    from vision.pipeline import read_form
    from vision.synthetic import synthetic_photo

    photo = synthetic_photo(page, seed=seed, width_px=WIDTH_12MP)
    reading = read_form(photo.jpeg)
    decodes, totals, timings = _interleaved(photo.jpeg, runs)
    closer = [t.get("closer", 0.0) for t in timings]
    return {
        "page": page, "seed": seed, "status": reading.status,
        "closer_ms": round(statistics.median(closer), 1),
        "total_ms": round(statistics.median(totals), 1),
        "ratio_total_to_imdecode_median": round(
            statistics.median(t / d for t, d in zip(totals, decodes, strict=True)), 2),
    }


def _interleaved(jpeg: bytes,
                 runs: int) -> tuple[list[float], list[float], list[dict[str, float]]]:
    """OpenCV's grayscale decode of `jpeg` and `read_form` of it, one after the other, `runs`
    times: the decodes' and the reads' ms, and each read's stage timings. On a shared machine
    only such neighbours compare."""
    from vision.pipeline import read_form

    decodes, timings = [], []
    for _ in range(runs):
        decodes.append(_decode_ms(jpeg, runs=1))
        timings.append(read_form(jpeg).timings_ms)
    return decodes, [t["total"] for t in timings], timings


def _sideways(jpeg: bytes) -> dict[str, Any]:
    """The same photo as a phone held upright often stores it: pixels on their side, EXIF
    orientation 6. OpenCV's default decode turns it upright; the reader does not need to."""
    from vision.photo_sim import with_exif_orientation

    decodes, totals, _ = _interleaved(with_exif_orientation(jpeg, 6), SPEED_RUNS // 3)
    return {
        "imdecode_ms": round(statistics.median(decodes), 1),
        "total_ms": round(statistics.median(totals), 1),
        "ratio_total_to_imdecode_median": round(statistics.median(totals)
                                                / statistics.median(decodes), 2),
    }


def _one_photo(i: int, sizes: tuple[float, float] | None = None,
               width_px: int | None = None, artwork: Artwork = "render",
               paper_curl: float | None = None,
               pen_mm: tuple[float, float] | None = None,
               light: Light | None = None,
               bubble_skip: float | None = None) -> dict[str, Any]:
    """Read benchmark photo `i` as a box whose TPS list gives the DPT (`known`) and as one
    without it (`unknown`); compare both with the ground truth. `sizes`, `width_px`,
    `artwork`, `paper_curl`, `pen_mm`, `light`, `bubble_skip`: the officers' writing sizes, the
    frame's width, the page under the writing, how far it is from flat, the marker's line, the
    light and the page 2 columns left unbubbled (`synthetic_photo`'s; its defaults when None)."""
    import cv2

    from vision.pipeline import read_form
    from vision.synthetic import synthetic_photo

    cv2.setNumThreads(1)
    page = 1 + i % 3
    options: dict[str, Any] = {}
    if sizes is not None:
        options["sizes"] = sizes
    if width_px is not None:
        options["width_px"] = width_px
    if bubble_skip is not None:
        options["bubble_skip"] = bubble_skip
    photo = synthetic_photo(page, seed=10_000 + i, artwork=artwork, paper_curl=paper_curl,
                            pen_mm=pen_mm, light=light, **options)
    unknown = read_form(photo.jpeg)
    # Only page 1's rules use the DPT (its own I.A J); the other pages read the same either way.
    known = read_form(photo.jpeg, dpt=photo.values["pemilih_dpt_j"]) if page == 1 else unknown
    return {"known": _score(known, photo, i), "unknown": _score(unknown, photo, i)}


def _score(reading: Any, photo: Any, i: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": reading.status, "fields": 0, "fields_right": 0, "flagged": 0,
        "corrected": 0, "wrong_unflagged": [], "flag_reasons": [], "boxes": 0,
        "boxes_right_first": 0, "boxes_right_final": 0,
    }
    if reading.status == "rejected":
        return out
    for name, truth in photo.values.items():
        field = reading.fields.get(name)
        if field is None:
            continue
        out["fields"] += 1
        right = field.value == truth
        out["fields_right"] += right
        out["flagged"] += field.flagged
        out["corrected"] += field.corrected
        if field.flagged:
            out["flag_reasons"].append((field.reason or "").split(" (")[0].split(";")[0])
        if not right and not field.flagged:
            out["wrong_unflagged"].append(
                {"seed": 10_000 + i, "field": name, "truth": truth, "read": field.text})
        # Box accuracy against what is really written: the model's own first reading, and
        # the final one (after the arithmetic's corrections and page 2's bubbles).
        want = photo.boxes.get(name)
        first = field.read_text or field.text
        if want is not None and len(want) == len(first) == len(field.text):
            out["boxes"] += len(want)
            out["boxes_right_first"] += sum(a == b for a, b in zip(want, first, strict=True))
            out["boxes_right_final"] += sum(
                a == b for a, b in zip(want, field.text, strict=True))
    return out


def _accuracy(n: int, workers: int, sizes: tuple[float, float] | None = None,
              width_px: int | None = None, artwork: Artwork = "render",
              paper_curl: float | None = None,
              pen_mm: tuple[float, float] | None = None,
              light: Light | None = None, bubble_skip: float | None = None,
              page: int | None = None) -> dict[str, Any]:
    """The first `n` benchmark photos (pages 1-3 in turn), or with `page` the first `n` of
    that page among them, read and scored."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    photos = list(range(n)) if page is None else [3 * k + page - 1 for k in range(n)]
    # Spawned workers (a fork after LiteRT/OpenCV threads can hang); OpenCV on one thread each.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        both = list(pool.map(partial(_one_photo, sizes=sizes, width_px=width_px,
                                     artwork=artwork, paper_curl=paper_curl, pen_mm=pen_mm,
                                     light=light, bubble_skip=bubble_skip),
                             photos,
                             chunksize=8))
    out = _summary([r["known"] for r in both], n, photos)
    out["dpt"] = "known: each TPS's DPT from the box's TPS list, as configured boxes read"
    without = _summary([r["unknown"] for r in both], n, photos)
    out["without_dpt"] = {k: without[k] for k in (
        "box_accuracy", "field_accuracy", "fields_wrong_not_flagged",
        "pages_needing_review_share", "pages_needing_review_share_by_page")}
    return out


def _summary(results: list[dict[str, Any]], n: int,
             photos: list[int] | None = None) -> dict[str, Any]:
    total: Counter[str] = Counter()
    wrong: list[dict[str, Any]] = []
    reasons: Counter[str] = Counter()
    by_page: dict[int, Counter[str]] = {page: Counter() for page in (1, 2, 3)}
    for i, r in zip(photos or range(len(results)), results, strict=True):
        page = 1 + i % 3
        by_page[page]["photos"] += 1
        if r["status"] == "rejected":
            total["rejected"] += 1
            by_page[page]["rejected"] += 1
        elif r["status"] != "accepted":
            total["review"] += 1
            by_page[page]["review"] += 1
        for key in ("fields", "fields_right", "flagged", "corrected", "boxes",
                    "boxes_right_first", "boxes_right_final"):
            total[key] += r[key]
        wrong += r["wrong_unflagged"]
        reasons.update(r["flag_reasons"])
    pages = max(n, 1)
    return {
        "photos": n,
        "box_accuracy": round(total["boxes_right_first"] / max(total["boxes"], 1), 4),
        "box_accuracy_after_rules_and_bubbles": round(
            total["boxes_right_final"] / max(total["boxes"], 1), 4),
        "boxes": total["boxes"],
        "field_accuracy": round(total["fields_right"] / max(total["fields"], 1), 4),
        "fields": total["fields"],
        "fields_flagged": total["flagged"],
        "fields_corrected_by_arithmetic": total["corrected"],
        "fields_wrong_not_flagged": len(wrong),
        "wrong_not_flagged_examples": wrong[:10],
        "flag_reasons": dict(reasons.most_common(8)),
        # Read pages a person must look at; photos refused at once (retake) are apart.
        "pages_needing_review_share": round(total["review"] / pages, 4),
        "pages_needing_review_share_by_page": {
            str(p): round(c["review"] / max(c["photos"], 1), 4) for p, c in by_page.items()},
        "pages_rejected": total["rejected"],
        "pages_rejected_share": round(total["rejected"] / pages, 4),
        "pages_not_accepted_share": round((total["review"] + total["rejected"]) / pages, 4),
    }


def run() -> dict[str, Any]:
    n = int(os.environ.get("TITIK_BENCH_PHOTOS", DEFAULT_PHOTOS))
    workers = int(os.environ.get("TITIK_BENCH_WORKERS", DEFAULT_WORKERS))
    out: dict[str, Any] = {"speed_12mp": _speed_as_the_worker()}
    started = time.perf_counter()
    out["accuracy"] = _accuracy(n, workers)
    out["accuracy"]["workers"] = workers
    out["accuracy"]["photos_env"] = f"TITIK_BENCH_PHOTOS (default {DEFAULT_PHOTOS})"
    out["accuracy"]["seconds"] = round(time.perf_counter() - started, 1)
    from vision.photo_sim import DIM_LIGHT, UNEVEN_PAPER, default_height
    from vision.synthetic import (
        BIG_WRITING,
        BUBBLES_SKIPPED,
        MARKER_MM,
        OFFICIAL_FORM,
        SMALL_WRITING,
        official_form_available,
    )

    small = int(os.environ.get("TITIK_BENCH_SMALL_PHOTOS", DEFAULT_SMALL_PHOTOS))
    out["accuracy_small_writing"] = _accuracy(small, workers, SMALL_WRITING)
    out["accuracy_small_writing"]["glyph_sizes"] = list(SMALL_WRITING)
    # The same hand and pages through a cheap phone's 5 MP camera: the page at ~1.4-2.4 px/mm
    # over its fields instead of ~2.5-4; under `quality.MIN_PX_PER_MM` the photo is refused.
    five = int(os.environ.get("TITIK_BENCH_5MP_PHOTOS", DEFAULT_5MP_PHOTOS))
    out["accuracy_5mp"] = _accuracy(five, workers, width_px=WIDTH_5MP)
    out["accuracy_5mp"]["frame_px"] = [WIDTH_5MP, default_height(WIDTH_5MP)]
    if official_form_available():
        official = int(os.environ.get("TITIK_BENCH_OFFICIAL_PHOTOS", DEFAULT_OFFICIAL_PHOTOS))
        out["accuracy_official_artwork"] = _accuracy(official, workers, artwork="official")
    else:
        out["accuracy_official_artwork"] = {"skipped": f"no ../shared/{OFFICIAL_FORM}"}
    uneven = int(os.environ.get("TITIK_BENCH_UNEVEN_PHOTOS", DEFAULT_UNEVEN_PHOTOS))
    out["accuracy_uneven_paper"] = _accuracy(uneven, workers, paper_curl=UNEVEN_PAPER)
    out["accuracy_uneven_paper"]["paper_curl"] = UNEVEN_PAPER
    # The plano filled with a felt-tip marker (spidol) instead of a ballpoint.
    marker = int(os.environ.get("TITIK_BENCH_MARKER_PHOTOS", DEFAULT_MARKER_PHOTOS))
    out["accuracy_marker"] = _accuracy(marker, workers, pen_mm=MARKER_MM)
    out["accuracy_marker"]["line_mm"] = list(MARKER_MM)
    # Digits written over the box's lines: what the crop sees of them is cut short (on pages 2
    # and 3 such boxes are cut again taller, `page_boxes.look_wider`).
    big = int(os.environ.get("TITIK_BENCH_BIG_PHOTOS", DEFAULT_BIG_PHOTOS))
    out["accuracy_big_writing"] = _accuracy(big, workers, BIG_WRITING)
    out["accuracy_big_writing"]["glyph_sizes"] = list(BIG_WRITING)
    # An evening count under one lamp: a dim page and the phone's grain at its gain.
    dim = int(os.environ.get("TITIK_BENCH_DIM_PHOTOS", DEFAULT_DIM_PHOTOS))
    out["accuracy_dim_light"] = _accuracy(dim, workers, light=DIM_LIGHT)
    out["accuracy_dim_light"]["light"] = asdict(DIM_LIGHT)
    # Page 2 filled in its boxes and none of its bubbles: only the model vouches for a digit.
    skipped = int(os.environ.get("TITIK_BENCH_SKIPPED_PHOTOS", DEFAULT_SKIPPED_PHOTOS))
    out["accuracy_bubbles_skipped"] = _accuracy(skipped, workers, bubble_skip=BUBBLES_SKIPPED,
                                                page=2)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out
