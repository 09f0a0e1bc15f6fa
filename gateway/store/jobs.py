"""The processing queue: leased jobs, so a killed worker's job is taken up again.

A job is claimed with a lease; a worker that dies leaves the lease to expire and
the next claim takes the job again. Finishing is exactly-once: the reading is
recorded only while the job is still running, and `readings.upload_id` is unique.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.store import uploads
from gateway.store.context import Tx
from gateway.store.db import dumps, now_iso
from gateway.store.photos import photo_path, rectified_path

logger = logging.getLogger(__name__)

# A photo that has crashed the worker this many times is handed to a person.
MAX_ATTEMPTS = 3

STATUS_TO_STATE = {
    "accepted": uploads.READ,
    "needs_review": uploads.NEEDS_REVIEW,
    "rejected": uploads.REJECTED,
}

FAILED_REASON = (
    "Foto tidak dapat diproses mesin; periksa foto dan isi nilai secara manual "
    "(the machine could not process this photo)"
)


@dataclass
class Job:
    id: int
    upload_id: int
    tps: str
    sha256: str
    photo_path: Path
    attempts: int


def claim(tx: Tx, worker: str, lease_s: float, max_attempts: int = MAX_ATTEMPTS) -> Job | None:
    """The oldest queued job, or one whose lease ran out; None when there is no work."""
    while True:
        now = time.time()
        found = tx.conn.execute(
            "SELECT j.id, j.upload_id, j.attempts, u.tps, u.sha256, u.state AS upload_state"
            " FROM jobs j JOIN uploads u ON u.id = j.upload_id"
            " WHERE j.state = 'queued' OR (j.state = 'running' AND j.lease_until < ?)"
            " ORDER BY j.id LIMIT 1",
            (now,),
        ).fetchone()
        if found is None:
            return None
        if found["upload_state"] not in (uploads.QUEUED, uploads.PROCESSING):
            # Set aside (discarded) before it was read: nothing left to do.
            _close(tx, found["id"], "done", None)
            continue
        if found["attempts"] >= max_attempts:
            logger.warning(
                "job %s (upload %s) was taken %s times without finishing; handing it to a person",
                found["id"], found["upload_id"], found["attempts"],
            )
            _give_up(tx, found["id"], found["upload_id"], found["tps"], "worker died repeatedly")
            continue
        tx.conn.execute(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = ?,"
            " lease_until = ?, updated_at = ? WHERE id = ?",
            (worker, now + lease_s, now_iso(), found["id"]),
        )
        uploads.set_state(tx.conn, found["upload_id"], uploads.PROCESSING)
        return Job(
            id=found["id"],
            upload_id=found["upload_id"],
            tps=found["tps"],
            sha256=found["sha256"],
            photo_path=photo_path(tx.data_dir, found["sha256"]),
            attempts=found["attempts"] + 1,
        )


def upload_of(tx: Tx, job_id: int) -> int | None:
    found = tx.conn.execute("SELECT upload_id FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return None if found is None else int(found["upload_id"])


def finish(tx: Tx, job_id: int, reading: dict[str, Any], has_rectified: bool, worker: str) -> bool:
    """Record the reading once; False when the job was already finished (or is unknown)."""
    job = tx.conn.execute(
        "SELECT j.state, j.upload_id, u.tps, u.state AS upload_state, u.sha256"
        " FROM jobs j JOIN uploads u ON u.id = j.upload_id WHERE j.id = ?",
        (job_id,),
    ).fetchone()
    if job is None or job["state"] != "running":
        logger.info("job %s is no longer running; its result is not recorded again", job_id)
        return False
    upload_id = job["upload_id"]
    status = str(reading.get("status"))
    state = STATUS_TO_STATE.get(status, uploads.NEEDS_REVIEW)
    page = reading.get("page")
    template = reading.get("template")
    reasons = list(reading.get("reasons") or [])
    rect = str(rectified_path(tx.data_dir, upload_id).relative_to(tx.data_dir))
    tx.conn.execute(
        "INSERT INTO readings (upload_id, created_at, worker, status, template, page, reading,"
        " rectified) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (upload_id, now_iso(), worker, status, template, page, dumps(reading),
         rect if has_rectified else None),
    )
    if job["upload_state"] == uploads.PROCESSING:
        uploads.set_state(
            tx.conn, upload_id, state, page=page, template=template, status=status, reasons=reasons
        )
    _close(tx, job_id, "done", None)
    values = {name: f.get("value") for name, f in (reading.get("fields") or {}).items()}
    subject = f"upload:{upload_id}"
    after = {"status": status, "state": state, "page": page, "values": values}
    tx.audit(worker, "reading", subject, None, after, tps=job["tps"], page=page)
    payload = {
        "upload_id": upload_id,
        "tps": job["tps"],
        "page": page,
        "template": template,
        "status": status,
        "state": state,
        "photo_sha256": job["sha256"],
        "reading": reading,
    }
    tx.emit("reading", tps=job["tps"], page=page, payload=payload, photo_sha256=job["sha256"])
    return True


def fail(tx: Tx, job_id: int, error: str, worker: str) -> bool:
    """The pipeline raised on this photo: hand it to a person instead of retrying forever."""
    job = tx.conn.execute(
        "SELECT j.state, j.upload_id, u.tps FROM jobs j JOIN uploads u ON u.id = j.upload_id"
        " WHERE j.id = ?",
        (job_id,),
    ).fetchone()
    if job is None or job["state"] != "running":
        return False
    _give_up(tx, job_id, job["upload_id"], job["tps"], error, actor=worker)
    return True


def release(tx: Tx, job_id: int) -> bool:
    """Give a running job back untouched (the worker cannot work at all, e.g. no model)."""
    job = tx.conn.execute("SELECT state, upload_id FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if job is None or job["state"] != "running":
        return False
    tx.conn.execute(
        "UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0), worker = NULL,"
        " lease_until = NULL, updated_at = ? WHERE id = ?",
        (now_iso(), job_id),
    )
    uploads.set_state(tx.conn, job["upload_id"], uploads.QUEUED)
    return True


def _give_up(
    tx: Tx, job_id: int, upload_id: int, tps: str, error: str, *, actor: str = "worker"
) -> None:
    _close(tx, job_id, "failed", error)
    uploads.set_state(tx.conn, upload_id, uploads.NEEDS_REVIEW, reasons=[FAILED_REASON])
    tx.audit(actor, "processing_failed", f"upload:{upload_id}", None, {"error": error}, tps=tps)


def _close(tx: Tx, job_id: int, state: str, error: str | None) -> None:
    tx.conn.execute(
        "UPDATE jobs SET state = ?, lease_until = NULL, error = ?, updated_at = ? WHERE id = ?",
        (state, error, now_iso(), job_id),
    )


def counts(tx_conn: Any) -> dict[str, int]:
    return {
        r["state"]: r["n"]
        for r in tx_conn.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
    }
