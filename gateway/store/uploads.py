"""Uploads: saving a photo with its processing job, and reading an upload back whole."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gateway.store.context import Tx
from gateway.store.db import dumps, loads, now_iso
from gateway.store.errors import Conflict, InvalidInput
from gateway.store.photos import photo_path, rectified_path

Source = Literal["kpps", "ppk", "api"]
SOURCES = ("kpps", "ppk", "api")

# Upload states and what they mean for the people using the box.
QUEUED = "queued"  # stored, waiting for the worker
PROCESSING = "processing"  # a worker holds the job
READ = "read"  # read with confidence, waiting for the officer's confirmation
NEEDS_REVIEW = "needs_review"  # a person (PPK) must look
REJECTED = "rejected"  # not a readable C.Hasil page
CONFIRMED = "confirmed"  # the officer confirmed the values
REVIEWED = "reviewed"  # the PPK approved (or entered) the values
DISCARDED = "discarded"  # set aside, kept for the record
SUPERSEDED = "superseded"  # replaced by a later confirmed/reviewed upload, kept
FINAL_STATES = (CONFIRMED, REVIEWED)
MANUAL = "manual"


@dataclass
class UploadResult:
    upload_id: int
    sha256: str
    duplicate: bool
    state: str


def save(
    tx: Tx,
    *,
    sha256: str,
    size: int,
    tps: str,
    actor: str,
    source: str,
    replace: bool,
    content_type: str | None,
) -> UploadResult:
    """Record an upload whose photo file is already durable, queue its job, audit it."""
    if source not in SOURCES:
        raise InvalidInput(f"Sumber unggahan tidak dikenal / unknown upload source: {source!r}")
    existing = tx.conn.execute(
        "SELECT id, state, tps FROM uploads WHERE sha256 = ?", (sha256,)
    ).fetchone()
    if existing is not None:
        if existing["tps"] != tps:
            # One photo is one TPS's paper; saying whose would leak another TPS's upload.
            raise Conflict(
                "Foto yang sama persis sudah diunggah untuk TPS lain / this exact photo was "
                "already uploaded for another TPS"
            )
        return UploadResult(existing["id"], sha256, True, existing["state"])
    at = now_iso()
    cur = tx.conn.execute(
        "INSERT INTO uploads (sha256, tps, source, actor, content_type, size, replace,"
        " received_at, updated_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (sha256, tps, source, actor, content_type, size, int(replace), at, at, QUEUED),
    )
    upload_id = int(cur.lastrowid or 0)
    tx.conn.execute(
        "INSERT INTO jobs (upload_id, state, created_at, updated_at) VALUES (?, 'queued', ?, ?)",
        (upload_id, at, at),
    )
    subject = f"upload:{upload_id}"
    after = {"sha256": sha256, "tps": tps, "source": source, "size": size, "replace": replace}
    tx.audit(actor, "upload", subject, None, after, tps=tps)
    payload = {
        "upload_id": upload_id,
        "tps": tps,
        "sha256": sha256,
        "size": size,
        "content_type": content_type,
        "source": source,
        "actor": actor,
        "received_at": at,
    }
    tx.emit("photo", tps=tps, page=None, payload=payload, photo_sha256=sha256)
    return UploadResult(upload_id, sha256, False, QUEUED)


def row(conn: sqlite3.Connection, upload_id: int) -> sqlite3.Row | None:
    result: sqlite3.Row | None = conn.execute(
        "SELECT * FROM uploads WHERE id = ?", (upload_id,)
    ).fetchone()
    return result


def reading_of(conn: sqlite3.Connection, upload_id: int) -> dict[str, Any] | None:
    """The page's reading as it stands: the machine's, with what the cross-page rules
    vouched for (`gateway.store.cross_page`) over it and named in `cross_page`."""
    reading = machine_reading_of(conn, upload_id)
    vouch = cross_page_of(conn, upload_id)
    if reading is None or vouch is None:
        return reading
    fields = dict(reading.get("fields") or {})
    fields.update(vouch["fields"])
    return {**reading, "fields": fields, "status": "accepted", "reasons": [],
            "cross_page": {k: vouch[k] for k in ("vouched", "checks", "partners", "at")}}


def machine_reading_of(conn: sqlite3.Connection, upload_id: int) -> dict[str, Any] | None:
    """The page's reading as the machine gave it, read alone."""
    found = conn.execute(
        "SELECT reading FROM readings WHERE upload_id = ?", (upload_id,)
    ).fetchone()
    return None if found is None else dict(loads(found["reading"]))


def cross_page_of(conn: sqlite3.Connection, upload_id: int) -> dict[str, Any] | None:
    """The cross-page vouching in force on an upload, if any."""
    found = conn.execute(
        "SELECT * FROM cross_page WHERE upload_id = ? AND withdrawn_at IS NULL"
        " ORDER BY id DESC LIMIT 1", (upload_id,)
    ).fetchone()
    if found is None:
        return None
    out = dict(found)
    for key in ("vouched", "fields", "checks", "partners"):
        out[key] = loads(out[key])
    return out


def corrections_of(conn: sqlite3.Connection, upload_id: int) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in conn.execute(
            "SELECT field, old_value, new_value, source, actor, reason, at FROM corrections"
            " WHERE upload_id = ? ORDER BY id",
            (upload_id,),
        )
    ]


def values_with_provenance(
    reading: dict[str, Any] | None, corrections: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Each field's current value, the machine's value beside it, and who set it last."""
    values: dict[str, dict[str, Any]] = {}
    for name, field in ((reading or {}).get("fields") or {}).items():
        values[name] = {
            "value": field.get("value"),
            "machine": field.get("value"),
            "text": field.get("text"),
            "confidence": field.get("confidence"),
            "flagged": bool(field.get("flagged")),
            "reason": field.get("reason"),
            "source": "machine",
            "actor": None,
            "at": None,
            "note": None,
        }
    for c in corrections:
        entry = values.setdefault(
            c["field"],
            {"machine": None, "text": None, "confidence": None, "flagged": False, "reason": None},
        )
        entry.update(
            value=c["new_value"], source=c["source"], actor=c["actor"], at=c["at"], note=c["reason"]
        )
    return values


def current_values(conn: sqlite3.Connection, upload_id: int) -> dict[str, int | None]:
    values = values_with_provenance(reading_of(conn, upload_id), corrections_of(conn, upload_id))
    return {name: v["value"] for name, v in values.items()}


def describe(conn: sqlite3.Connection, data_dir: Path, upload: sqlite3.Row) -> dict[str, Any]:
    """The whole upload as the web app shows it."""
    out = dict(upload)
    upload_id = out["id"]
    out["replace"] = bool(out["replace"])
    out["reasons"] = loads(out["reasons"]) or []
    reading = reading_of(conn, upload_id)
    corrections = corrections_of(conn, upload_id)
    out["reading"] = reading
    out["checks"] = (reading or {}).get("checks", [])
    out["corrections"] = corrections
    out["values"] = values_with_provenance(reading, corrections)
    rect = rectified_path(data_dir, upload_id)
    out["rectified_path"] = str(rect) if reading is not None and rect.exists() else None
    out["photo_path"] = str(photo_path(data_dir, out["sha256"])) if out["sha256"] else None
    job = conn.execute(
        "SELECT state, attempts, error FROM jobs WHERE upload_id = ?", (upload_id,)
    ).fetchone()
    out["job"] = dict(job) if job is not None else None
    return out


def set_state(
    conn: sqlite3.Connection, upload_id: int, state: str, **columns: Any
) -> None:
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    sql = "UPDATE uploads SET state = :state, updated_at = :updated_at"
    if assignments:
        sql += ", " + assignments
    params = {**columns, "state": state, "updated_at": now_iso(), "id": upload_id}
    for key, value in params.items():
        if isinstance(value, list | dict):
            params[key] = dumps(value)
    conn.execute(sql + " WHERE id = :id", params)
