"""The outbox in the box database: every message to central, written in the same
transaction as the change it reports, and the relay's link state.

States: `pending` -> `published` (broker PUBACK) -> `delivered` (central's ack).
Nothing is deleted before it is delivered; the outbox, not paho, is the source of truth.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sync.envelope import KINDS, RESULT_KINDS, Envelope, canonical_json

PRIORITY = {**{k: 0 for k in RESULT_KINDS}, "audit": 1, "photo": 2}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sync_seq (
    box_id TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sync_outbox (
    box_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    tps TEXT,
    page INTEGER,
    created_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    photo_sha256 TEXT,
    priority INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'published', 'delivered')),
    attempts INTEGER NOT NULL DEFAULT 0,
    published_at REAL,
    delivered_at REAL,
    PRIMARY KEY (box_id, seq)
);
CREATE INDEX IF NOT EXISTS sync_outbox_todo
    ON sync_outbox (priority, seq) WHERE state != 'delivered';
CREATE INDEX IF NOT EXISTS sync_outbox_page ON sync_outbox (tps, page, seq);
CREATE TABLE IF NOT EXISTS sync_chunk_acks (
    box_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (box_id, seq, idx)
);
CREATE TABLE IF NOT EXISTS sync_link (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    up INTEGER NOT NULL DEFAULT 0,
    since REAL,
    backlog INTEGER NOT NULL DEFAULT 0,
    last_ack_at REAL,
    last_error TEXT,
    puback_failures INTEGER NOT NULL DEFAULT 0,
    reconnects INTEGER NOT NULL DEFAULT 0,
    updated_at REAL
);
"""


def _conn(db: Any) -> sqlite3.Connection:
    """Accept a sqlite_utils.Database or a plain sqlite3.Connection."""
    conn = getattr(db, "conn", db)
    if not isinstance(conn, sqlite3.Connection):
        raise TypeError(f"expected a sqlite_utils.Database or sqlite3.Connection, got {db!r}")
    return conn


def create_tables(db: Any) -> None:
    """Create the outbox tables; idempotent (the gateway's migrations call it).

    Inside the caller's open transaction it joins it (no implicit COMMIT, unlike
    `executescript`); otherwise it runs in its own `BEGIN IMMEDIATE`.
    """
    conn = _conn(db)
    statements = [s.strip() for s in _SCHEMA.split(";") if s.strip()]
    if conn.in_transaction:
        for statement in statements:
            conn.execute(statement)
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in statements:
            conn.execute(statement)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def connect(path: str, *, timeout_s: float = 10.0) -> sqlite3.Connection:
    """Open the box DB the way the contract says: WAL, synchronous=FULL, busy timeout."""
    conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
    return conn


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def enqueue(
    conn: sqlite3.Connection,
    *,
    box_id: str,
    kind: str,
    tps: str | None,
    page: int | None,
    payload: Any,
    photo_sha256: str | None = None,
) -> int:
    """Add a message inside the caller's open transaction; return its seq.

    The seq counter lives in the same transaction, so a rolled-back change leaves no gap
    and a committed one always has its message.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}; one of {', '.join(KINDS)}")
    if kind == "photo" and not photo_sha256:
        raise ValueError("a photo message needs photo_sha256")
    if conn.isolation_level is None and not conn.in_transaction:
        raise ValueError("enqueue must run inside the caller's transaction (BEGIN first)")
    row = conn.execute(
        "INSERT INTO sync_seq (box_id, last_seq) VALUES (?, 1) "
        "ON CONFLICT (box_id) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
        (box_id,),
    ).fetchall()  # drain the RETURNING cursor so nothing keeps the statement open at COMMIT
    seq = int(row[0][0])
    conn.execute(
        "INSERT INTO sync_outbox (box_id, seq, id, kind, tps, page, created_at, payload, "
        "photo_sha256, priority) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            box_id,
            seq,
            str(uuid.uuid4()),
            kind,
            tps,
            page,
            utc_now_iso(),
            canonical_json(payload).decode(),
            photo_sha256,
            PRIORITY[kind],
        ),
    )
    return seq


def row_envelope(row: sqlite3.Row | tuple[Any, ...]) -> Envelope:
    """Envelope of an outbox row selected with ENVELOPE_COLUMNS."""
    box_id, seq, id_, kind, tps, page, created_at, payload, photo_sha256 = tuple(row)[:9]
    return Envelope(
        id=id_,
        box_id=box_id,
        seq=seq,
        kind=kind,
        tps=tps,
        page=page,
        created_at=created_at,
        payload=json.loads(payload),
        photo_sha256=photo_sha256,
    )


ENVELOPE_COLUMNS = "box_id, seq, id, kind, tps, page, created_at, payload, photo_sha256"


def page_states(db: Any) -> dict[tuple[str, int], str]:
    """Per (tps, page), the relay state of its latest result message."""
    kinds = ",".join("?" * len(RESULT_KINDS))
    rows = _conn(db).execute(
        f"SELECT o.tps, o.page, o.state FROM sync_outbox o JOIN ("
        f"  SELECT tps, page, MAX(seq) AS seq FROM sync_outbox"
        f"  WHERE kind IN ({kinds}) AND tps IS NOT NULL AND page IS NOT NULL"
        f"  GROUP BY tps, page) m ON o.tps = m.tps AND o.page = m.page AND o.seq = m.seq",
        RESULT_KINDS,
    ).fetchall()
    return {(tps, int(page)): state for tps, page, state in rows}


def backlog(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM sync_outbox WHERE state != 'delivered'")
               .fetchone()[0])


def write_link(conn: sqlite3.Connection, **fields: Any) -> None:
    """Upsert the single link-state row (own short transaction)."""
    fields["updated_at"] = time.time()
    cols = ", ".join(fields)
    marks = ", ".join("?" * len(fields))
    updates = ", ".join(f"{k} = excluded.{k}" for k in fields)
    conn.execute(
        f"INSERT INTO sync_link (id, {cols}) VALUES (1, {marks}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates}",
        tuple(fields.values()),
    )


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def status(db: Any) -> dict[str, Any]:
    """Counts per state, last seq and link state, for the dashboard and `titik relay status`."""
    conn = _conn(db)
    counts = dict.fromkeys(("pending", "published", "delivered"), 0)
    for state, n in conn.execute("SELECT state, COUNT(*) FROM sync_outbox GROUP BY state"):
        counts[state] = int(n)
    last = conn.execute("SELECT MAX(last_seq) FROM sync_seq").fetchone()[0]
    row = conn.execute(
        "SELECT up, since, backlog, last_ack_at, last_error, puback_failures, reconnects, "
        "updated_at FROM sync_link WHERE id = 1"
    ).fetchone()
    if row is None:
        link: dict[str, Any] = {"up": False, "since": None, "backlog": counts["pending"]
                                + counts["published"], "last_ack": None, "last_error": None,
                                "puback_failures": 0, "reconnects": 0, "updated_at": None}
    else:
        up, since, blog, last_ack, last_error, failures, reconnects, updated = row
        link = {"up": bool(up), "since": _iso(since), "backlog": int(blog),
                "last_ack": _iso(last_ack), "last_error": last_error,
                "puback_failures": int(failures), "reconnects": int(reconnects),
                "updated_at": _iso(updated)}
    return {**counts, "last_seq": int(last) if last is not None else 0, "link": link}
