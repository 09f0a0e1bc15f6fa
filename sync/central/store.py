"""Central's SQLite store: messages idempotent by (box, seq), photo chunks, refusals.

`store_batch` runs one transaction for a batch of verified messages and says, per
message, whether it may be acknowledged: stored now or already stored with the same
id and content (a duplicate, acked again) - or refused as a replay (same seq,
different id or content). The caller acks only after this commits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.envelope import Message, canonical_json

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    box_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    tps TEXT,
    page INTEGER,
    created_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    photo_sha256 TEXT,
    content_sha256 TEXT NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (box_id, seq)
);
CREATE TABLE IF NOT EXISTS photo_chunks (
    box_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (box_id, seq, idx)
);
CREATE TABLE IF NOT EXISTS photos (
    box_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    count INTEGER NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0,
    verified INTEGER,
    PRIMARY KEY (box_id, seq)
);
CREATE TABLE IF NOT EXISTS refusals (
    at REAL NOT NULL,
    reason TEXT NOT NULL,
    box_id TEXT,
    topic TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Outcome:
    ack: bool
    duplicate: bool = False
    reason: str | None = None  # why refused


class CentralStore:
    def __init__(self, path: Path, photo_dir: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.photo_dir = photo_dir
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA busy_timeout=10000")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def refuse(self, reason: str, topic: str, detail: str, box_id: str | None = None) -> None:
        self.conn.execute("INSERT INTO refusals VALUES (?, ?, ?, ?, ?)",
                          (time.time(), reason, box_id, topic, detail[:500]))

    def store_batch(self, messages: list[Message]) -> list[Outcome]:
        out: list[Outcome] = []
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            known = self._known(messages)
            fresh: list[tuple[Any, ...]] = []
            for msg in messages:
                outcome, row = self._check(msg, known)
                out.append(outcome)
                if row is not None:
                    fresh.append(row)
                    known[(row[0], row[1])] = (row[2], row[9])
            self.conn.executemany(
                "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", fresh)
            for i, msg in enumerate(messages):
                env = msg.envelope
                if out[i].ack and env.kind == "photo" and env.chunk is not None:
                    out[i] = Outcome(ack=True, duplicate=self._store_chunk(msg))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return out

    def _known(self, messages: list[Message]) -> dict[tuple[str, int], tuple[str, str]]:
        """(box, seq) -> (id, content hash) of what is already stored, one query per batch."""
        keys = json.dumps([[m.envelope.box_id, m.envelope.seq] for m in messages])
        rows = self.conn.execute(
            "SELECT box_id, seq, id, content_sha256 FROM messages WHERE (box_id, seq) IN"
            " (SELECT value ->> 0, value ->> 1 FROM json_each(?))", (keys,)).fetchall()
        return {(b, int(q)): (i, c) for b, q, i, c in rows}

    def _check(self, msg: Message, known: dict[tuple[str, int], tuple[str, str]]
               ) -> tuple[Outcome, tuple[Any, ...] | None]:
        """Outcome of one message, and its new row when it is not stored yet."""
        env = msg.envelope
        content = hashlib.sha256(env.content()).hexdigest()
        have = known.get((env.box_id, env.seq))
        if have is not None and have != (env.id, content):
            self.refuse("replayed", msg.topic, f"seq {env.seq} already stored as {have[0]}",
                        env.box_id)
            logger.warning("refused replay: %s seq %s with id %s (stored: %s)", env.box_id,
                           env.seq, env.id, have[0])
            return Outcome(ack=False, reason="replayed"), None
        if have is not None:
            return Outcome(ack=True, duplicate=True), None
        row = (env.box_id, env.seq, env.id, env.kind, env.tps, env.page, env.created_at,
               msg_payload(env.payload), env.photo_sha256, content, time.time())
        return Outcome(ack=True), row

    def _store_chunk(self, msg: Message) -> bool:
        """Store one chunk; reassemble when the last one is in. True when nothing was new."""
        env = msg.envelope
        chunk = env.chunk
        assert chunk is not None and env.photo_sha256 is not None
        photo = self.conn.execute(
            "SELECT complete, count, size FROM photos WHERE box_id = ? AND seq = ?",
            (env.box_id, env.seq),
        ).fetchone()
        if photo is None:
            self.conn.execute(
                "INSERT INTO photos (box_id, seq, sha256, size, count) VALUES (?, ?, ?, ?, ?)",
                (env.box_id, env.seq, env.photo_sha256, chunk["photo_size"], chunk["count"]),
            )
        elif photo[0]:
            return True
        new = self.conn.execute(
            "INSERT OR IGNORE INTO photo_chunks VALUES (?, ?, ?, ?)",
            (env.box_id, env.seq, chunk["index"], msg.body),
        ).rowcount
        (have,) = self.conn.execute(
            "SELECT COUNT(*) FROM photo_chunks WHERE box_id = ? AND seq = ?",
            (env.box_id, env.seq),
        ).fetchone()
        if have >= chunk["count"]:
            self._assemble(env.box_id, env.seq, env.photo_sha256)
        return not new

    def _assemble(self, box_id: str, seq: int, sha256: str) -> None:
        parts = [r[0] for r in self.conn.execute(
            "SELECT data FROM photo_chunks WHERE box_id = ? AND seq = ? ORDER BY idx",
            (box_id, seq))]
        data = b"".join(parts)
        ok = hashlib.sha256(data).hexdigest() == sha256
        if ok:
            write_atomic(self.photo_dir / sha256[:2] / sha256, data)
        else:
            logger.error("photo %s seq %s: chunks do not hash to %s; kept unverified",
                         box_id, seq, sha256)
        self.conn.execute(
            "UPDATE photos SET complete = 1, verified = ? WHERE box_id = ? AND seq = ?",
            (int(ok), box_id, seq),
        )
        self.conn.execute("DELETE FROM photo_chunks WHERE box_id = ? AND seq = ?", (box_id, seq))

    def gaps(self, box_id: str) -> list[list[int]]:
        rows = self.conn.execute(
            "SELECT prev + 1, seq - 1 FROM (SELECT seq, LAG(seq, 1, 0) OVER (ORDER BY seq)"
            " AS prev FROM messages WHERE box_id = ?) WHERE seq - prev > 1",
            (box_id,),
        ).fetchall()
        return [[int(a), int(b)] for a, b in rows]

    def status(self) -> dict[str, Any]:
        boxes = []
        for box_id, stored, last in self.conn.execute(
            "SELECT box_id, COUNT(*), MAX(seq) FROM messages GROUP BY box_id ORDER BY box_id"
        ).fetchall():
            complete, partial, bad = self.conn.execute(
                "SELECT COALESCE(SUM(complete AND verified), 0), COALESCE(SUM(1 - complete), 0),"
                " COALESCE(SUM(complete AND NOT verified), 0) FROM photos WHERE box_id = ?",
                (box_id,)).fetchone()
            boxes.append({"box_id": box_id, "stored": int(stored), "last_seq": int(last),
                          "gaps": self.gaps(box_id), "photos_complete": int(complete),
                          "photos_partial": int(partial), "photos_bad_hash": int(bad)})
        refused = {r: int(n) for r, n in self.conn.execute(
            "SELECT reason, COUNT(*) FROM refusals GROUP BY reason ORDER BY reason")}
        return {"boxes": boxes, "refused": refused}


def msg_payload(payload: Any) -> str:
    return canonical_json(payload).decode()


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
