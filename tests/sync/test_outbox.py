"""The outbox contract: gap-free seqs in the writer's transaction, states, status."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from sync import outbox
from sync.backoff import Backoff
from sync.photos import TokenBucket, chunk_count

BOX = "box-317101-test"


def open_db(tmp_path: Path) -> sqlite3.Connection:
    db = sqlite_utils.Database(tmp_path / "titik.db")
    outbox.create_tables(db)
    outbox.create_tables(db)  # idempotent
    db.conn.close()
    return outbox.connect(str(tmp_path / "titik.db"))


def test_create_tables_joins_the_callers_transaction(tmp_path: Path) -> None:
    conn = outbox.connect(str(tmp_path / "titik.db"))
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE results (x INTEGER)")
    outbox.create_tables(conn)
    assert conn.in_transaction  # nothing committed behind the caller's back
    conn.execute("ROLLBACK")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == set()


def test_seq_is_gap_free_across_rollbacks(tmp_path: Path) -> None:
    conn = open_db(tmp_path)
    seqs = []
    for i in range(6):
        conn.execute("BEGIN IMMEDIATE")
        seq = outbox.enqueue(conn, box_id=BOX, kind="reading", tps="3171011001001", page=1,
                             payload={"i": i})
        conn.execute("COMMIT" if i % 2 == 0 else "ROLLBACK")
        if i % 2 == 0:
            seqs.append(seq)
    assert seqs == [1, 2, 3]
    assert [r[0] for r in conn.execute("SELECT seq FROM sync_outbox ORDER BY seq")] == [1, 2, 3]


def test_enqueue_in_implicit_transaction_of_a_default_connection(tmp_path: Path) -> None:
    open_db(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "titik.db")  # Python's default: implicit BEGIN
    conn.execute("CREATE TABLE results (x INTEGER)")
    conn.execute("INSERT INTO results VALUES (1)")
    seq = outbox.enqueue(conn, box_id=BOX, kind="audit", tps=None, page=None, payload={})
    conn.rollback()
    assert conn.execute("SELECT COUNT(*) FROM sync_outbox").fetchone()[0] == 0
    assert seq == 1


def test_enqueue_refuses_autocommit_and_bad_kinds(tmp_path: Path) -> None:
    conn = open_db(tmp_path)
    with pytest.raises(ValueError, match="transaction"):
        outbox.enqueue(conn, box_id=BOX, kind="reading", tps=None, page=None, payload={})
    conn.execute("BEGIN")
    with pytest.raises(ValueError, match="kind"):
        outbox.enqueue(conn, box_id=BOX, kind="gossip", tps=None, page=None, payload={})
    with pytest.raises(ValueError, match="photo_sha256"):
        outbox.enqueue(conn, box_id=BOX, kind="photo", tps=None, page=None, payload={})
    conn.execute("ROLLBACK")


def test_page_states_follow_the_latest_result_and_status_counts(tmp_path: Path) -> None:
    conn = open_db(tmp_path)
    conn.execute("BEGIN")
    for kind in ("reading", "confirmation", "audit"):
        outbox.enqueue(conn, box_id=BOX, kind=kind, tps="3171011001001", page=1, payload={})
    outbox.enqueue(conn, box_id=BOX, kind="reading", tps="3171011001001", page=2, payload={})
    conn.execute("COMMIT")
    conn.execute("UPDATE sync_outbox SET state = 'delivered' WHERE seq IN (1, 4)")
    assert outbox.page_states(conn) == {("3171011001001", 1): "pending",
                                        ("3171011001001", 2): "delivered"}
    st = outbox.status(conn)
    assert (st["pending"], st["published"], st["delivered"], st["last_seq"]) == (2, 0, 2, 4)
    assert st["link"]["up"] is False and st["link"]["backlog"] == 2


def test_backoff_is_full_jitter_under_a_growing_ceiling() -> None:
    b = Backoff(min_s=1.0, max_s=8.0)
    delays = [b.next_delay() for _ in range(200)]
    ceilings = [min(8.0, 2.0**i) for i in range(200)]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len({round(d, 6) for d in delays[10:]}) > 150  # jittered, not a fixed schedule
    b.reset()
    assert b.next_delay() <= 1.0


def test_token_bucket_caps_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=1000.0, capacity=1000.0, clock=lambda: now[0])
    assert bucket.ready()
    bucket.take(1500)
    assert not bucket.ready()
    now[0] = 0.4
    assert not bucket.ready()
    now[0] = 0.6
    assert bucket.ready()
    assert chunk_count(0, 10) == 1 and chunk_count(10, 10) == 1 and chunk_count(11, 10) == 2
