"""What the relay records in the box DB as messages move: published, delivered, photo
chunks central holds, and rows central asks for again. Plain functions on a connection,
run inside the relay's one transaction per loop turn."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sync.photos import chunk_count, photo_path


def mark_published(conn: sqlite3.Connection, box_id: str, seqs: list[int], now: float) -> int:
    """pending -> published (broker PUBACK); one statement for a whole turn."""
    if not seqs:
        return 0
    return conn.execute(
        "UPDATE sync_outbox SET state = 'published', published_at = ?, attempts = attempts + 1"
        " WHERE box_id = ? AND state = 'pending' AND seq IN (SELECT value FROM json_each(?))",
        (now, box_id, json.dumps(seqs)),
    ).rowcount


def mark_delivered(conn: sqlite3.Connection, box_id: str, seqs: list[int], now: float) -> int:
    """-> delivered (central's ack); chunk bookkeeping of those photos is no longer needed."""
    if not seqs:
        return 0
    todo = json.dumps(seqs)
    conn.execute(
        "DELETE FROM sync_chunk_acks WHERE box_id = ? AND seq IN (SELECT value FROM json_each(?))",
        (box_id, todo),
    )
    return conn.execute(
        "UPDATE sync_outbox SET state = 'delivered', delivered_at = ?"
        " WHERE box_id = ? AND state != 'delivered' AND seq IN (SELECT value FROM json_each(?))",
        (now, box_id, todo),
    ).rowcount


def chunk_acks(conn: sqlite3.Connection, box_id: str, seq: int) -> set[int]:
    return {int(r[0]) for r in conn.execute(
        "SELECT idx FROM sync_chunk_acks WHERE box_id = ? AND seq = ?", (box_id, seq))}


def record_chunk_ack(conn: sqlite3.Connection, box_id: str, seq: int, idx: int,
                     photo_dir: Path, chunk_bytes: int) -> bool:
    """Remember that central holds chunk idx of photo seq; True once it holds them all."""
    conn.execute("INSERT OR IGNORE INTO sync_chunk_acks VALUES (?, ?, ?)", (box_id, seq, idx))
    row = conn.execute("SELECT photo_sha256 FROM sync_outbox WHERE box_id = ? AND seq = ?",
                       (box_id, seq)).fetchone()
    if row is None or row[0] is None:
        return False
    path = photo_path(photo_dir, row[0])
    if not path.exists():
        return False
    count = chunk_count(path.stat().st_size, chunk_bytes)
    return len(chunk_acks(conn, box_id, seq)) >= count


def reopen_delivered(conn: sqlite3.Connection, box_id: str, first: int, last: int) -> int:
    """Central lacks these seqs (e.g. restored from a backup): send them again."""
    return conn.execute(
        "UPDATE sync_outbox SET state = 'pending' WHERE box_id = ? AND seq BETWEEN ? AND ?"
        " AND state = 'delivered'", (box_id, first, last),
    ).rowcount
