"""The hash-chained audit log.

Each row's hash is sha256(previous row's hash + canonical JSON of the row), so an
edited, deleted or reordered row breaks the chain from that row on and
`verify_chain` names the first row that no longer matches.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from gateway.store.db import dumps, loads, now_iso
from sync import outbox

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64


@dataclass
class AuditVerification:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    problem: str | None = None


def row_hash(prev_hash: str, row: dict[str, Any]) -> str:
    body = {key: row[key] for key in ("id", "at", "actor", "action", "subject", "before", "after")}
    return hashlib.sha256((prev_hash + dumps(body)).encode("utf-8")).hexdigest()


def append(
    conn: sqlite3.Connection,
    *,
    box_id: str,
    actor: str,
    action: str,
    subject: str,
    before: Any = None,
    after: Any = None,
    tps: str | None = None,
    page: int | None = None,
) -> int:
    """Add one entry inside the caller's write transaction and queue it for central."""
    last = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    prev_hash = last["hash"] if last else GENESIS_HASH
    entry: dict[str, Any] = {
        "id": (last["id"] + 1) if last else 1,
        "at": now_iso(),
        "actor": actor,
        "action": action,
        "subject": subject,
        "before": dumps(before) if before is not None else None,
        "after": dumps(after) if after is not None else None,
    }
    entry_hash = row_hash(prev_hash, entry)
    conn.execute(
        "INSERT INTO audit (id, at, actor, action, subject, before, after, prev_hash, hash)"
        " VALUES (:id, :at, :actor, :action, :subject, :before, :after, :prev_hash, :hash)",
        {**entry, "prev_hash": prev_hash, "hash": entry_hash},
    )
    payload = {
        "audit_id": entry["id"],
        "at": entry["at"],
        "actor": actor,
        "action": action,
        "subject": subject,
        "before": before,
        "after": after,
        "prev_hash": prev_hash,
        "hash": entry_hash,
    }
    outbox.enqueue(conn, box_id=box_id, kind="audit", tps=tps, page=page, payload=payload)
    return int(entry["id"])


def verify_chain(conn: sqlite3.Connection) -> AuditVerification:
    """Recompute every hash in id order; stop at the first row that does not match."""
    prev_hash = GENESIS_HASH
    checked = 0
    expected_id = 1
    for row in conn.execute("SELECT * FROM audit ORDER BY id"):
        entry = dict(row)
        if entry["id"] != expected_id:
            return AuditVerification(
                False, checked, entry["id"], f"baris {expected_id} hilang / row missing"
            )
        if entry["prev_hash"] != prev_hash:
            return AuditVerification(
                False, checked, entry["id"], "rantai terputus / prev_hash does not match"
            )
        if row_hash(prev_hash, entry) != entry["hash"]:
            return AuditVerification(
                False, checked, entry["id"], "isi baris diubah / row content was edited"
            )
        checked += 1
        expected_id += 1
        prev_hash = entry["hash"]
    return AuditVerification(True, checked)


def entries(conn: sqlite3.Connection, *, limit: int = 200, subject: str | None = None) -> list[
    dict[str, Any]
]:
    """Newest first, with before/after decoded, for the PPK's audit page."""
    sql = "SELECT * FROM audit"
    params: list[Any] = []
    if subject is not None:
        sql += " WHERE subject = ?"
        params.append(subject)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    out = []
    for row in conn.execute(sql, params):
        entry = dict(row)
        entry["before"] = loads(entry["before"])
        entry["after"] = loads(entry["after"])
        out.append(entry)
    return out
