"""A photo whose file is gone from the box: reported, kept, and sent once it is back."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from typing import Any

from sync.central.receiver import Receiver
from tests.sync.conftest import Box, wait_until


def states(box: Box) -> dict[int, str]:
    conn = box.connect()
    try:
        return {int(s): str(st) for s, st in conn.execute("SELECT seq, state FROM sync_outbox")}
    finally:
        conn.close()


def central_seqs(receiver: Receiver) -> set[int]:
    conn = sqlite3.connect(receiver.c.database)
    try:
        return {int(r[0]) for r in conn.execute("SELECT seq FROM messages")}
    finally:
        conn.close()


def test_missing_photo_is_reported_stays_pending_and_goes_once_the_file_is_back(
    box: Box, central: Receiver, start_relay: Callable[..., Any]
) -> None:
    first = box.add_result(page=1)
    lost_data = os.urandom(150_000)
    lost_seq, lost_sha = box.add_photo(lost_data, page=1)
    lost_path = box.photo_dir / lost_sha[:2] / lost_sha
    lost_path.unlink()  # e.g. a damaged card: the row is there, the file is not
    kept_seq, _ = box.add_photo(os.urandom(150_000), page=2)
    later = [box.add_result(page=2), box.add_result(kind="audit", page=None)]
    start_relay()

    # everything else drains around the missing photo
    others = [first, kept_seq, *later]
    wait_until(lambda: all(states(box)[s] == "delivered" for s in others), 60,
               "the rest of the outbox delivered")
    assert states(box)[lost_seq] == "pending"  # never claimed as delivered
    assert lost_seq not in central_seqs(central)
    wait_until(lambda: box.status()["link"]["backlog"] == 1, 10, "link state written")
    link = box.status()["link"]
    assert f"seq {lost_seq}" in link["last_error"] and "hilang" in link["last_error"]
    assert link["backlog"] == 1 and link["up"]

    # retried, not parked: once the file is restored it goes out and the report clears
    lost_path.write_bytes(lost_data)
    wait_until(box.all_delivered, 60, "the restored photo delivered")
    assert lost_seq in central_seqs(central)
    assert (central.c.photo_dir / lost_sha[:2] / lost_sha).read_bytes() == lost_data
    wait_until(lambda: box.status()["link"]["last_error"] is None, 10, "report cleared")
