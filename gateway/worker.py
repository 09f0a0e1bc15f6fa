"""The processing worker: takes queued uploads from the store and reads them.

One loop shape for every box service: a stop event, `stop.wait(interval)` when
idle, a clean exit on SIGTERM/SIGINT (the CLI sets the event), and sd_notify
READY=1 / WATCHDOG=1 when systemd started us (NOTIFY_SOCKET set). A job is leased,
so a worker killed mid-photo leaves it to be claimed again; finishing records the
reading exactly once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.store import Job, Store

logger = logging.getLogger(__name__)

# glibc's malloc for the process that reads photos (set before it starts: the systemd unit,
# `demo run`, `make bench`). By default each 12 MP photo's 12 MB grey image and its other big
# buffers are fresh mmap()s: about 3,300 page faults and zeroed pages per read, measured as a
# third of OpenCV's decode time (52 against 31 ms). Buffers below 32 MiB then come from the
# heap and up to 64 MiB of freed heap is kept for the next photo: 4-430 page faults per read
# instead of ~3,100.
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864"


class ReadingLike(Protocol):
    """What the worker needs of `vision.Reading`."""

    @property
    def status(self) -> str: ...

    @property
    def rectified_jpeg(self) -> bytes | None: ...

    def to_dict(self) -> dict[str, Any]: ...


class ReadForm(Protocol):
    def __call__(self, data: bytes, *, dpt: int | None = None) -> ReadingLike: ...


Notify = Callable[[str], None]


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class WorkerSettings:
    name: str = field(default_factory=default_name)
    interval_s: float = 1.0
    # Longer than the slowest photo on a Pi; a killed worker's job waits this long.
    lease_s: float = 120.0
    # A photo whose job was taken this often without finishing (worker killed each
    # time, e.g. out of memory) is handed to a person instead of crashing the box again.
    max_attempts: int = 3
    exit_when_idle: bool = False


def systemd_notifier() -> Notify | None:
    """sd_notify when systemd gave us a socket (Type=notify), else nothing."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return None
    import sdnotify

    notifier = sdnotify.SystemdNotifier()

    def notify(state: str) -> None:
        notifier.notify(state)

    return notify


class WorkerStopped(Exception):
    """The worker cannot read any photo (e.g. the digit model is missing); the job was put
    back in the queue and the process should stop with this message."""


def process_job(
    store: Store,
    job: Job,
    *,
    dpt: int | None,
    read_form: ReadForm,
    worker: str,
    fatal: tuple[type[BaseException], ...] = (),
) -> str:
    """Read one claimed job's photo and record the outcome; returns the reading status.

    An exception of a `fatal` type says the worker itself is broken, not the photo: the
    job goes back to the queue untouched instead of every photo landing in review.
    """
    try:
        data = job.photo_path.read_bytes()
    except OSError as exc:
        logger.error("upload %s: photo file unreadable: %s", job.upload_id, exc)
        store.fail_job(job.id, f"photo file unreadable: {exc}", worker=worker)
        return "failed"
    try:
        reading = read_form(data, dpt=dpt)
    except fatal as exc:
        store.release_job(job.id)
        raise WorkerStopped(str(exc)) from exc
    except Exception as exc:  # a bug or a hostile file must not stop the queue
        logger.exception("upload %s: the pipeline raised", job.upload_id)
        store.fail_job(job.id, f"{type(exc).__name__}: {exc}", worker=worker)
        return "failed"
    recorded = store.finish_job(job.id, reading.to_dict(), reading.rectified_jpeg, worker=worker)
    logger.info(
        "upload %s read: %s%s", job.upload_id, reading.status,
        "" if recorded else " (already recorded by another worker)",
    )
    return reading.status


def run(
    store: Store,
    *,
    dpt_for: Callable[[str], int | None],
    read_form: ReadForm,
    stop: threading.Event,
    settings: WorkerSettings | None = None,
    notify: Notify | None = None,
    fatal: tuple[type[BaseException], ...] = (),
) -> int:
    """Process jobs until `stop` is set (or the queue is empty with exit_when_idle)."""
    settings = settings or WorkerSettings()
    ping = notify or (lambda _state: None)
    ping("READY=1")
    logger.info("worker %s started (lease %ss)", settings.name, settings.lease_s)
    processed = 0
    while not stop.is_set():
        ping("WATCHDOG=1")
        job = store.claim_job(settings.name, settings.lease_s,
                              max_attempts=settings.max_attempts)
        if job is None:
            if settings.exit_when_idle:
                break
            stop.wait(settings.interval_s)
            continue
        logger.info("upload %s: reading (attempt %s)", job.upload_id, job.attempts)
        process_job(store, job, dpt=dpt_for(job.tps), read_form=read_form, worker=settings.name,
                    fatal=fatal)
        processed += 1
    ping("STOPPING=1")
    logger.info("worker %s stopped after %s job(s)", settings.name, processed)
    return processed
