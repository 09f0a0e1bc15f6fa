"""Faults against a real mosquitto and a real `titik relay` process.

The broker is killed (SIGKILL, persistence off) and restarted over and over, the relay
process is killed -9 at random moments and by its own fault hook (between commit and
publish, between PUBACK and the DB update, between central's ack and the DB update),
the link stays down for a while, and meanwhile the gateway keeps writing. In the end
central must hold every message exactly once, photos byte-identical, and the box's
outbox must be fully delivered.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from sync.central.receiver import Receiver
from tests.mosquitto import MosquittoBroker
from tests.sync.conftest import Box, central_rows, titik_exe, wait_until, write_box_config


def start_relay_process(config: Path, box: Box, broker: MosquittoBroker, log: Path,
                        faults: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TITIK_FAULT": faults, "TITIK_LOG_LEVEL": "WARNING"}
    with log.open("ab") as fh:
        return subprocess.Popen(
            [titik_exe(), "relay", "--config", str(config), "--data", str(box.data_dir),
             "--broker", broker.address],
            env=env, stdout=fh, stderr=subprocess.STDOUT,
        )


def run_soak(tmp_path: Path, box: Box, broker: MosquittoBroker, central: Receiver, *,
             broker_kills: int, relay_kills: int, faults: str, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    config = write_box_config(tmp_path / "box.toml", box, broker, ack_timeout_s=3.0,
                              inflight_window=16, photo_chunk_kb=32, backoff_min_s=0.05,
                              backoff_max_s=0.5)
    log = tmp_path / "relay.log"
    photos: list[str] = []
    for i in range(40):
        box.add_result(page=i % 3 + 1)
    photos.append(box.add_photo(os.urandom(150_000))[1])

    stop_writing = threading.Event()

    def writer() -> None:
        n = 0
        while not stop_writing.is_set():
            n += 1
            box.add_result(page=n % 3 + 1, kind=("reading", "confirmation", "audit")[n % 3])
            if n % 25 == 0:
                photos.append(box.add_photo(os.urandom(rng.randint(40_000, 200_000)))[1])
            time.sleep(0.02)

    writing = threading.Thread(target=writer, name="gateway-writer")
    writing.start()
    relay = start_relay_process(config, box, broker, log, faults)
    counts = {"broker_kills": 0, "relay_kills": 0, "relay_fault_exits": 0, "outages": 0}
    try:
        while counts["broker_kills"] < broker_kills or counts["relay_kills"] < relay_kills:
            time.sleep(rng.uniform(0.3, 1.2))
            if relay.poll() is not None:
                counts["relay_fault_exits"] += 1
                relay = start_relay_process(config, box, broker, log, faults)
            action = rng.random()
            if action < 0.5 and counts["broker_kills"] < broker_kills:
                broker.kill()
                counts["broker_kills"] += 1
                if rng.random() < 0.15:  # link down for a while
                    counts["outages"] += 1
                    time.sleep(rng.uniform(2.0, 4.0))
                else:
                    time.sleep(rng.uniform(0.0, 0.5))
                broker.start()
            elif counts["relay_kills"] < relay_kills:
                relay.send_signal(signal.SIGKILL)
                relay.wait()
                counts["relay_kills"] += 1
                relay = start_relay_process(config, box, broker, log, faults)
    finally:
        stop_writing.set()
        writing.join()
    # drain with a relay without the fault hook (the faulty one might exit at any moment)
    relay.send_signal(signal.SIGKILL)
    relay.wait()
    relay = start_relay_process(config, box, broker, log, "")
    try:
        wait_until(box.all_delivered, 120, "the whole outbox delivered")
    finally:
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=20) == 0, "relay did not exit cleanly on SIGTERM"

    wait_until(lambda: len(central_rows(central)) == len(box.rows()), 30, "central caught up")
    held = central_rows(central)
    assert held == box.rows(), "central must hold every message exactly once"
    assert len({i for _, i in held}) == len(held)
    for sha in photos:
        got = central.c.photo_dir / sha[:2] / sha
        assert got.read_bytes() == (box.photo_dir / sha[:2] / sha).read_bytes()
    assert box.status()["delivered"] == len(held)
    counts["messages"] = len(held)
    counts["photos"] = len(photos)
    return counts


@pytest.mark.slow
def test_short_fault_run(tmp_path: Path, box: Box, broker: MosquittoBroker,
                         central: Receiver) -> None:
    counts = run_soak(tmp_path, box, broker, central, broker_kills=3, relay_kills=2,
                      faults="after_puback:0.01", seed=1)
    assert counts["broker_kills"] == 3 and counts["relay_kills"] == 2


@pytest.mark.slow
def test_many_broker_and_relay_kills_lose_and_duplicate_nothing(
    tmp_path: Path, box: Box, broker: MosquittoBroker, central: Receiver
) -> None:
    counts = run_soak(tmp_path, box, broker, central, broker_kills=20, relay_kills=10,
                      faults="before_publish:0.003,after_puback:0.005,after_ack:0.003",
                      seed=20240214)
    print("soak:", counts)
    assert counts["broker_kills"] >= 20 and counts["relay_kills"] >= 10
