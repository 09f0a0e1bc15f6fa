"""`read_form`: one photo in, one `Reading` out; the stages composed, each one timed.

decode -> registration -> cells (each box cut with its frame and prepared for the model) ->
model (every box of the page in one batched call) -> the boxes written past their crops cut
again taller (`wider`) -> quality -> fields + rules (alternative readings) -> OMR (page 2) ->
status; a page that would go to a person first has its doubtful
boxes cut again closer and read from that look (`closer`), the rules then run again.
Full-resolution pixels are touched only where they matter (tag corners, fiducials, the boxes
themselves); the page shown to the officer is straightened from a downscaled copy when one is
sharp enough. The photo's hash, the quality check, the straightened page and page 2's bubbles
run on a second thread beside the decode and the boxes (same work, same results, sooner).
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, replace
from functools import partial
from typing import Any, TypeVar

import numpy as np

from vision.reading import (
    STATUS_NEEDS_REVIEW,
    STATUS_REJECTED,
    Reading,
)

logger = logging.getLogger(__name__)

TEMPLATE_ID = "C.HASIL-PPWP-2024"
NOT_AN_IMAGE = "Berkas ini bukan foto yang bisa dibuka (bukan JPEG/PNG) / not a readable image"
CORNERS_MISSING = (
    "Keempat tanda sudut halaman harus terlihat di foto / all four corner marks must show"
)
BLURRED_NO_TAG = (
    "Foto buram: kode halaman tidak terbaca. Ulangi dengan tangan stabil dan tunggu kamera "
    "fokus (Photo blurred: the page code cannot be read; hold steady and retake)"
)
MIN_FIELDS_MATCHED_SHARE = 0.8
# Stages `read_form` runs on its second thread, beside `cells` and `model` (page 2's bubble
# fields the second thread has not reached by then, on the first once the model is done).
SECOND_THREAD_STAGES = ("rectify", "quality", "omr")

Gray = np.ndarray[Any, np.dtype[np.uint8]]
T = TypeVar("T")


class _Timer:
    """Milliseconds per stage, summed; stages may run on either of the read's threads."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - start) * 1000
            with self._lock:
                self.ms[name] = self.ms.get(name, 0.0) + elapsed

    def run(self, name: str, fn: Callable[[], T]) -> T:
        with self.stage(name):
            return fn()


def decode(data: bytes) -> Gray | None:
    """JPEG/PNG bytes -> grayscale image, or None when the bytes are not an image.

    A JPEG goes through simplejpeg (libjpeg-turbo's TurboJPEG API) with the fast integer
    DCT: 89% of OpenCV's grayscale decode time on this machine's 12 MP photos (the accurate
    DCT, bit for bit OpenCV's pixels, 95%), pixels within 4 grey levels of OpenCV's (mean
    0.5), far under the JPEG's own noise. Whatever simplejpeg refuses (a damaged or
    truncated file, CMYK) and every other format goes to OpenCV, which decodes what it can.
    """
    import cv2
    import simplejpeg

    if not data:
        return None
    if simplejpeg.is_jpeg(data):
        try:
            decoded = simplejpeg.decode_jpeg(data, colorspace="GRAY", fastdct=True)
        except ValueError:
            logger.debug("simplejpeg refused the photo; OpenCV tries it")
        else:
            # Like OpenCV with IMREAD_IGNORE_ORIENTATION: the pixels as stored (see below).
            return None if decoded.size == 0 else np.asarray(decoded[:, :, 0])
    buffer = np.frombuffer(data, dtype=np.uint8)
    # The photo as the sensor stored it: a phone held upright often stores it on its side
    # with an EXIF orientation, and turning 12 MP upright costs most of a second decode
    # (measured: 57 against 32 ms). Registration finds the page at any quarter turn anyway.
    image = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
    return None if image is None or image.size == 0 else np.asarray(image, dtype=np.uint8)


def read_form(data: bytes, *, dpt: int | None = None) -> Reading:
    """Read one photo (JPEG/PNG bytes) of a C.Hasil page.

    Two threads: the photo's hash beside the decode, the page outline beside the tag search,
    and, once the page is placed, the straightened page for the officer's screen, the quality
    check and page 2's bubbles beside the boxes (`cells`: cut and prepared) and the model
    (OpenCV, hashlib and LiteRT release the GIL), so a box with a spare core answers sooner;
    the work done is the same. Those stages' timings overlap `cells` and `model`; `total` is
    the wall clock.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="titik-read") as beside:
        return _read(data, dpt, beside)


def _read(data: bytes, dpt: int | None, beside: ThreadPoolExecutor) -> Reading:
    from vision import cells, display, local_fit, omr, page_boxes, verdict
    from vision import register as reg_mod
    from vision.quality import paper_flatness
    from vision.tags import pyramid

    timer = _Timer()
    started = time.perf_counter()
    digest = beside.submit(lambda: hashlib.sha256(data).hexdigest())
    decoded = timer.run("decode", lambda: decode(data))
    sha = digest.result()
    if decoded is None:
        return _finish(_rejected(NOT_AN_IMAGE, sha), timer, started)
    gray: Gray = decoded

    levels = timer.run("pyramid", lambda: pyramid(gray))
    registration = timer.run(
        "registration", lambda: reg_mod.register(gray, levels=levels, beside=beside)
    )
    mirrored = False
    if (isinstance(registration, reg_mod.RegistrationFailure) and registration.tag_id is None
            and timer.run("registration", lambda: _mirrored(levels))):
        # A front camera, or a phone set to save photos as previewed, stores the page reversed
        # left to right: its tag reads as no tag at all. The pixels turned back, it reads.
        mirrored = True
        gray = np.ascontiguousarray(gray[:, ::-1])
        levels = timer.run("pyramid", lambda: pyramid(gray))
        registration = timer.run(
            "registration", lambda: reg_mod.register(gray, levels=levels, beside=beside)
        )
    if isinstance(registration, reg_mod.RegistrationFailure):
        reason = registration.reason
        if registration.tag_id is None and timer.run("quality", lambda: _blurred(levels)):
            # No tag, but a page-like sheet too blurred to read: the officer should retake
            # it, not be told it is some other paper.
            reason = BLURRED_NO_TAG
        reading = _rejected(reason, sha)
        reading.quality = {"tag_id": registration.tag_id}
        return _finish(reading, timer, started)
    template = registration.template
    # The paper is not flat: each field's boxes are found near where the homography puts them.
    shifts = timer.run("local_fit", lambda: local_fit.field_shifts(
        levels, registration.homography, template.fields, beside=beside))

    shown = beside.submit(
        timer.run,
        "rectify",
        lambda: display.straightened_jpeg(levels, registration),
    )
    judged = beside.submit(timer.run, "quality", lambda: _assess_quality(gray, registration))
    # Page 2's bubbles, a field at a time: those the second thread (busy first with the
    # straightened page and the quality check) has not started when the model is done, this
    # thread reads itself, from the last field back (page 2 has few boxes).
    bubbles = {name: (beside.submit(timer.run, "omr", work), work)
               for name, work in omr.bubble_work(gray, registration, shifts).items()}
    candidates = boxes = None
    if _pinned(registration):
        # Read while the quality is judged: a refused photo (a few in a hundred) wastes it.
        # (The check beside the model's call instead of the preparation measured no faster:
        # LiteRT's two threads then share the cores with it. The last fifth of the boxes
        # prepared on the second thread once it is done with the check saved ~0.5 ms: the
        # preparation's numpy indexing holds the GIL, so the two threads mostly take turns.)
        boxes = timer.run("cells", lambda: page_boxes.prepare_boxes(gray, registration, shifts))
        candidates = timer.run("model", lambda: page_boxes.classify(boxes))
    read = {name: _here_unless_started(job, partial(timer.run, "omr", work))
            for name, (job, work) in reversed(bubbles.items())}
    columns = {name: read[name] for name in bubbles}
    quality = judged.result()
    reading = Reading(
        template=template.template_id,
        page=template.page,
        status=STATUS_NEEDS_REVIEW,
        quality=quality.measures,
        photo_sha256=sha,
        px_per_mm=display.PX_PER_MM,
    )
    reading.rectified_jpeg = shown.result()
    located = [s for s in shifts.values() if s.found]
    # How far the paper's fold and waves moved the boxes from a flat sheet's places (mm).
    flat = paper_flatness(max((s.size_mm for s in located), default=0.0))
    reading.quality[flat.name] = asdict(flat)
    reading.quality["fields_located"] = len(located)
    if mirrored:
        reading.quality["mirrored"] = True
    if quality.refuse or candidates is None or boxes is None:
        reading.status = STATUS_REJECTED
        reading.reasons = list(quality.messages) or [CORNERS_MISSING]
        return _finish(reading, timer, started)

    margins: dict[str, float] = {}
    widened: dict[str, list[int]] = {}
    cut = boxes.cut_fields()
    if cut:
        # Writing past a box's crop (a digit taller than its box): those boxes cut taller.
        with timer.stage("wider"):
            wider = page_boxes.look_wider(gray, registration, shifts, boxes, candidates)
        candidates, margins, cut, widened = (wider.candidates, wider.margins, wider.cut,
                                             wider.boxes)
    _conclude(reading, template, candidates, cut, columns, dpt, timer)
    doubtful = verdict.doubtful_boxes(reading, candidates, template)
    if doubtful:
        # Before a person is asked: the boxes in doubt cut again at a closer scale and read
        # from that look; the arithmetic then runs again over the whole page.
        with timer.stage("closer"):
            closer = page_boxes.prepare_boxes(gray, registration, shifts, only=doubtful,
                                              px_per_mm=cells.CLOSER_PX_PER_MM,
                                              margin_y_mm=margins)
            again = page_boxes.classify(closer)
        candidates = {name: list(boxes_read) for name, boxes_read in candidates.items()}
        for name, places in doubtful.items():
            for place, read_again in zip(places, again[name], strict=True):
                candidates[name][place] = (
                    page_boxes.read_wider(read_again) if place in widened.get(name, ())
                    else page_boxes.read_closer(candidates[name][place], read_again))
        reading = replace(reading, reasons=[], fields={}, checks=[], omr=None)
        _conclude(reading, template, candidates, cut | closer.cut_fields(), columns, dpt,
                  timer)
    return _finish(reading, timer, started)


def _conclude(reading: Reading, template: Any,
              candidates: dict[str, list[list[tuple[str, float]]]], cut: set[str],
              columns: dict[str, list[Any]], dpt: int | None, timer: _Timer) -> None:
    """The boxes' readings -> the fields' values, the rules' checks and the page's status,
    in place. `cut`: the fields with a box written past its crop."""
    from vision import omr_fusion, page_boxes, verdict

    with timer.stage("rules"):
        verdict.read_fields(reading, template, candidates, dpt)
    if columns:
        with timer.stage("fuse"):
            omr_fusion.fuse_bubbles(reading, columns, candidates)
    reading.fields = page_boxes.past_the_box(reading.fields, cut)
    verdict.set_status(reading)


def _pinned(registration: Any) -> bool:
    """Is the page placed well enough to cut its boxes?

    All four corner marks: yes. Three (one under a thumb or cut off): tag + 3 marks leave the
    far corner to extrapolation (measured 1-40 mm off on simulated tilted photos, with small
    residuals), so registration then matched each field's printed boxes; trust it only when
    nearly all fields were found where the refined fit puts them (measured: <= 0.5 mm).
    """
    fields = len(registration.template.fields)
    found = registration.fiducials_found
    if found == len(registration.template.fiducials):
        return True
    matched = registration.fields_matched or 0
    return found >= 3 and matched >= max(3, math.ceil(MIN_FIELDS_MATCHED_SHARE * fields))


def _mirrored(levels: list[tuple[Gray, float]]) -> bool:
    """Does the photo's smallest copy, turned left to right, show a C.Hasil page's tag?"""
    from vision.tags import find_tags
    from vision.template import load_templates

    small, scale = levels[-1]
    return bool(find_tags([(np.ascontiguousarray(small[:, ::-1]), scale)],
                          tuple(load_templates()))[1])


def _blurred(levels: list[tuple[Gray, float]]) -> bool:
    from vision import quality

    return quality.blurred_page(levels[-1][0])


def _rejected(reason: str, sha: str) -> Reading:
    return Reading(
        template=None, page=None, status=STATUS_REJECTED, reasons=[reason], photo_sha256=sha
    )


def _finish(reading: Reading, timer: _Timer, started: float) -> Reading:
    reading.timings_ms = dict(timer.ms)
    reading.timings_ms["total"] = (time.perf_counter() - started) * 1000
    logger.info(
        "read page %s: %s in %.0f ms (%s)",
        reading.page,
        reading.status,
        reading.timings_ms["total"],
        ", ".join(f"{k} {v:.0f}" for k, v in timer.ms.items()),
    )
    return reading


class _Quality:
    def __init__(self, refuse: bool, messages: list[str], measures: dict[str, Any]) -> None:
        self.refuse, self.messages, self.measures = refuse, messages, measures


def _assess_quality(gray: Gray, registration: Any) -> _Quality:
    """Refusals stop the reading; lesser warnings stay in `quality` for the reviewer."""
    from vision import quality

    report = quality.assess(gray, registration)
    return _Quality(bool(report.refuse), list(report.messages), dict(report.to_dict()))


def _here_unless_started(job: Future[T], work: Callable[[], T]) -> T:
    """`job`'s result from the second thread, or, when it has not started there yet, `work`
    done on this one (the job is then cancelled)."""
    return work() if job.cancel() else job.result()


