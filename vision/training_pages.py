"""Box crops cut by the real pipeline from synthetic phone photos, labelled from the page's
ground truth: the training pages (seeds from PAGE_SEED_BASE, some written small, some with a
marker, some written bigger than the boxes) and the benchmark's held-out photos, cached on
disk by the preparation's source.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vision import cellprep
from vision.training_boxes import BLANK_INDEX, X_INDEX

logger = logging.getLogger(__name__)


# Box crops cut exactly as `read_form` cuts them: synthetic filled page -> simulated phone
# photo -> registration -> `local_fit` -> `cells.crop_framed` -> `framedprep.prepare_framed` (one
# page per call, as the pipeline batches it), labelled from the page's ground truth.
PAGE_SEED_BASE = 500_000  # benchmarks and tests use small seeds and 100-20000
SMALL_SEED_BASE = 600_000  # training pages written small
MARKER_SEED_BASE = 700_000  # training pages filled with a marker
BIG_SEED_BASE = 800_000  # training pages written bigger than the boxes
# How a page is filled: the default hand, written small (`synthetic.SMALL_WRITING`, as in the
# 2019 scans), with a felt-tip marker (`synthetic.MARKER_MM`) or bigger than the boxes
# (`synthetic.BIG_WRITING`); the training pages of each kind after the default's, from its seed.
KINDS = ("default", "small", "marker", "big")
SEED_BASES = {"default": PAGE_SEED_BASE, "small": SMALL_SEED_BASE, "marker": MARKER_SEED_BASE,
              "big": BIG_SEED_BASE}
HELD_OUT_PAGES = 60
BOX_LABEL = {"_": BLANK_INDEX, "X": X_INDEX} | {str(d): d for d in range(10)}


def _train_split_glyph(*args: Any, **kwargs: Any) -> Any:
    from vision import handwriting

    kwargs["split"] = "train"
    return handwriting.glyph(*args, **kwargs)


def page_crops(
    page: int, seed: int, *, width_px: int, difficulty: str, source: str, train_split: bool,
    readable_only: bool = False, kind: str = "default",
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """One synthetic photo's boxes as the pipeline prepares them: (N, 28, 28) and labels.

    `readable_only`: none from a photo `vision.quality` refuses (page cut off, too blurred),
    which `read_form` never sends to the model; such a page's boxes may lie outside the photo.

    `train_split`: the page's MNIST digits come from MNIST train. `vision.synthetic` draws
    MNIST test digits (held out for the benchmarks), so its glyph source is pointed at the
    train split while this page is drawn; the procedural hand is the same either way.

    `kind`: how the page is filled (`KINDS`).
    """
    import cv2

    from vision import cells, framedprep, handwriting, local_fit, quality, register, synthetic, tags

    original = getattr(synthetic, "glyph")  # noqa: B009 (not re-exported by synthetic)
    if train_split:
        setattr(synthetic, "glyph", _train_split_glyph)  # noqa: B010
    try:
        photo = synthetic.synthetic_photo(
            page, seed=seed, width_px=width_px, difficulty=difficulty,
            source=source,  # type: ignore[arg-type]
            sizes={"small": synthetic.SMALL_WRITING,
                   "big": synthetic.BIG_WRITING}.get(kind, handwriting.SIZES),
            pen_mm=synthetic.MARKER_MM if kind == "marker" else None,
        )
    finally:
        setattr(synthetic, "glyph", original)  # noqa: B010
    gray = np.asarray(cv2.imdecode(np.frombuffer(photo.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE))
    registration = register.register(gray)
    if isinstance(registration, register.RegistrationFailure):
        logger.info("page %s seed %s not registered: %s", page, seed, registration.reason)
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
    if readable_only and quality.assess(gray, registration).refuse:
        logger.info("page %s seed %s refused by the quality check", page, seed)
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
    crops, frames, labels = [], [], []
    # Each field cut where its boxes are, as `read_form` cuts them (`local_fit`).
    shifts = local_fit.field_shifts(tags.pyramid(gray), registration.homography,
                                    registration.template.fields)
    for name, boxes in cells.crop_framed(gray, registration, shifts=shifts).items():
        text = photo.boxes.get(name, "_" * len(boxes))
        for (crop, frame), char in zip(boxes, text, strict=True):
            crops.append(crop)
            frames.append(frame)
            labels.append(BOX_LABEL[char])
    prepared = framedprep.prepare_framed(crops, frames)[..., 0]
    return prepared, np.asarray(labels, np.int64)


# page, seed, width px, difficulty, glyph source, MNIST train split, readable only, kind
PageJob = tuple[int, int, int, str, str, bool, bool, str]


def _page_job(job: PageJob) -> tuple[Any, Any]:
    page, seed, width, difficulty, source, train_split, readable_only, kind = job
    import cv2

    cv2.setNumThreads(1)  # one page per worker process
    return page_crops(page, seed, width_px=width, difficulty=difficulty, source=source,
                      train_split=train_split, readable_only=readable_only, kind=kind)


def cache_path(kind: str, directory: Path | None = None) -> Path:
    """Where `pipeline_set` keeps `kind`'s crops: named by the box preparation's source,
    because a change there changes every prepared box."""
    from vision import (
        cells,
        faint,
        framedprep,
        frametrim,
        inkmask,
        local_fit,
        mnist_style,
        printed_lines,
        tiles,
    )

    sources = (cellprep.__file__, framedprep.__file__, tiles.__file__, cells.__file__,
               local_fit.__file__, inkmask.__file__, mnist_style.__file__,
               printed_lines.__file__, frametrim.__file__, faint.__file__)
    digest = hashlib.sha256(b"".join(Path(f).read_bytes() for f in sources)).hexdigest()[:10]
    where = directory or Path(tempfile.gettempdir())
    return where / f"titik_pipeline_crops_{kind}_{digest}.npz"


def pipeline_set(
    jobs: list[PageJob], cache: Path | None, workers: int = 2
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Pipeline crops of many pages, cached as an .npz (regenerated when the jobs differ)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    sources = ("auto", "mnist", "procedural")
    key = np.asarray([[p, s, w, d == "hard", sources.index(src), t, r, KINDS.index(kind)]
                      for p, s, w, d, src, t, r, kind in jobs])
    if cache is not None and cache.is_file():
        with np.load(cache) as data:
            if np.array_equal(data["jobs"], key):
                logger.info("pipeline crops from cache %s", cache)
                return np.asarray(data["x"]), np.asarray(data["y"])
    started = time.monotonic()
    xs, ys = [], []
    # Spawned, not forked: a fork taken after LiteRT or OpenCV started their threads (as in
    # a test process) can leave a worker waiting forever on a lock copied mid-use.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for i, (x, y) in enumerate(pool.map(_page_job, jobs, chunksize=4)):
            xs.append(x)
            ys.append(y)
            if i % 50 == 49:
                logger.info("%s/%s pages, %.0f s", i + 1, len(jobs), time.monotonic() - started)
    x_all, y_all = np.concatenate(xs), np.concatenate(ys)
    if cache is not None:
        np.savez_compressed(cache, x=x_all, y=y_all, jobs=key)
    return x_all, y_all


def training_page_jobs(n: int, small: int = 0, marker: int = 0, big: int = 0) -> list[PageJob]:
    """Training pages: all three pages, normal and hard, 9 and 12 MP, half of the officers
    writing MNIST train digits and half the procedural hand; seeds from PAGE_SEED_BASE.
    Then `small` more pages made alike but written small, `marker` more filled with a marker
    and `big` more written bigger than the boxes, each kind from its own seed base."""
    counts = {"default": n, "small": small, "marker": marker, "big": big}
    kinds = [(kind, SEED_BASES[kind] + j) for kind in KINDS for j in range(counts[kind])]
    return [(1 + i % 3, seed, 4000 if i % 4 < 2 else 3000, "hard" if i % 3 == 2 else "normal",
             "mnist" if (i // 3) % 2 == 0 else "procedural", True, False, kind)
            for i, (kind, seed) in enumerate(kinds)]


def held_out_page_jobs(n: int, readable_only: bool = True,
                       kind: str = "default") -> list[PageJob]:
    """The benchmark's photos (`bench_vision`: seeds 10000+, MNIST test digits), 12 MP; by
    default not those the quality check refuses (their boxes never reach the model).
    `kind`: the same photos filled another way (the benchmark's other sets)."""
    return [(1 + i % 3, 10_000 + i, 4000, "normal", "auto", False, readable_only, kind)
            for i in range(n)]
