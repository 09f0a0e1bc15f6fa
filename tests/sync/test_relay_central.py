"""End to end through a real mosquitto: box outbox -> relay -> broker -> central -> ack."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from sync import outbox
from sync.central.receiver import Receiver
from sync.central.store import CentralStore
from tests.sync.conftest import TPS, Box, central_rows, wait_until


def page_state(box: Box, page: int) -> str | None:
    conn = box.connect()
    try:
        return outbox.page_states(conn).get((TPS, page))
    finally:
        conn.close()


def test_results_and_photos_arrive_once_and_byte_identical(
    box: Box, central: Receiver, start_relay: Callable[..., Any]
) -> None:
    for page in (1, 2, 3):
        box.add_result(page=page)
    photos = {box.add_photo(os.urandom(200_000 + i), page=i % 3 + 1)[1] for i in range(3)}
    box.add_result(kind="audit", page=None)
    start_relay()

    wait_until(box.all_delivered, 60, "every outbox row delivered")
    assert central_rows(central) == box.rows()
    for sha in photos:
        path = central.c.photo_dir / sha[:2] / sha
        assert path.read_bytes() == (box.photo_dir / sha[:2] / sha).read_bytes()
    store = CentralStore(central.c.database, central.c.photo_dir)
    status = store.status()
    store.close()
    (st,) = status["boxes"]
    assert st["gaps"] == [] and st["last_seq"] == 7 and st["stored"] == 7
    assert st["photos_complete"] == 3 and st["photos_partial"] == 0


@pytest.mark.slow
def test_results_overtake_a_photo_backlog(
    box: Box, central: Receiver, start_relay: Callable[..., Any]
) -> None:
    for i in range(4):
        box.add_photo(os.urandom(300_000 + i))
    late_result = box.add_result(page=2)
    # 100 KiB/s for photos: the 1.2 MB of photo takes ~12 s, the result must not wait for it.
    start_relay(photo_bandwidth_bps=100 * 1024)
    wait_until(lambda: late_result in dict(central_rows(central)), 30, "the result")
    wait_until(lambda: page_state(box, 2) == "delivered", 10, "the result's ack")
    st = box.status()
    assert st["delivered"] >= 1 and st["pending"] + st["published"] >= 1, st
    wait_until(box.all_delivered, 60, "photos too")


def test_link_state_is_written_for_the_dashboard(
    box: Box, central: Receiver, start_relay: Callable[..., Any]
) -> None:
    box.add_result()
    start_relay()
    wait_until(box.all_delivered, 30)
    wait_until(lambda: box.status()["link"]["up"] is True, 10, "link up")
    link = box.status()["link"]
    assert link["last_ack"] is not None and link["backlog"] == 0


def test_a_photo_resumes_from_the_first_unacknowledged_chunk(
    box: Box, central: Receiver, start_relay: Callable[..., Any]
) -> None:
    data = os.urandom(16 * 64 * 1024)  # 16 chunks of 64 KiB
    seq, sha = box.add_photo(data)

    def chunks_acked() -> int:
        conn = box.connect()
        try:
            return int(conn.execute("SELECT COUNT(*) FROM sync_chunk_acks WHERE seq = ?",
                                    (seq,)).fetchone()[0])
        finally:
            conn.close()

    # 256 KiB/s: about four chunks a second, so we can stop it half-way
    stop = start_relay(photo_bandwidth_bps=256 * 1024)
    wait_until(lambda: chunks_acked() >= 4, 30, "a few chunks acked")
    stop.set()
    wait_until(lambda: box.status()["link"]["last_error"] == "relay stopped", 15)
    acked_before = chunks_acked()
    assert 4 <= acked_before < 16
    start_relay()
    wait_until(box.all_delivered, 60, "the photo delivered")
    assert (central.c.photo_dir / sha[:2] / sha).read_bytes() == data
    # only the chunks in flight at the stop (at most photo_inflight = 2) may come twice
    assert central.counters["duplicates"] <= 2
    assert central.counters["stored"] + central.counters["duplicates"] <= 16 + 2
