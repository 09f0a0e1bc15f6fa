"""Killing the worker (or an uploading web process) at any moment loses nothing: an
unfinished job is taken up again, and every upload ends read exactly once, with one
reading row and one outbox "reading" message."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pytest

import vision
from gateway.store import Store
from gateway.store.photos import photo_path

pytestmark = pytest.mark.slow

BOX = "box-317101-demo"
TPS = "3171011001001"
LEASE_S = "2"
MODEL = Path(vision.__file__).parent / "models" / "digits.tflite"


def start_worker(config: Path, data: Path) -> subprocess.Popen[bytes]:
    # max-attempts above any number of kills this test can make: every job must end read.
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker", "--config", str(config), "--data",
         str(data), "--lease", LEASE_S, "--interval", "0.1", "--max-attempts", "50"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def job_states(db: Path) -> list[tuple[int, str, int]]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute("SELECT upload_id, state, attempts FROM jobs ORDER BY id").fetchall()
    finally:
        conn.close()


def held_by(proc: subprocess.Popen[bytes], db: Path) -> int | None:
    """The upload whose job this worker process (named host:pid) holds, if any."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        found = conn.execute("SELECT upload_id FROM jobs WHERE state = 'running' AND worker = ?",
                             (f"{socket.gethostname()}:{proc.pid}",)).fetchone()
    finally:
        conn.close()
    return None if found is None else int(found[0])


def holds_a_job(proc: subprocess.Popen[bytes], db: Path) -> bool:
    assert proc.poll() is None, f"the worker exited with {proc.returncode}"
    return held_by(proc, db) is not None


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    # `timeout` only guards against a hang; the machine may be slow and shared.
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Photos:
    """Synthetic 12 MP photos of one TPS's pages, added so the queue never runs dry: a worker
    reads a page in well under a second, faster than one can start, so a fixed handful of
    jobs could all be done before a round that waits for a claimed job."""

    def __init__(self, data: Path) -> None:
        self.synthetic = pytest.importorskip("vision.synthetic")
        self.values = self.synthetic.tps_values(3, dpt=240)
        self.data = data
        self.upload_ids: list[int] = []

    def add(self) -> None:
        n = len(self.upload_ids)
        page = 1 + n % 3
        photo = self.synthetic.synthetic_photo(page, seed=30 + n, values=self.values[page],
                                               width_px=3000)
        with Store(self.data, box_id=BOX, tps_codes=[TPS]) as store:
            self.upload_ids.append(
                store.save_upload(photo.jpeg, tps=TPS, actor="kpps1", source="kpps").upload_id)

    def keep_queued(self, db: Path, at_least: int) -> None:
        while sum(1 for _, s, _ in job_states(db) if s not in ("done", "failed")) < at_least:
            self.add()


def test_killing_the_worker_at_random_points_loses_and_duplicates_nothing(
    tmp_path: Path, demo_config_path: Path
) -> None:
    if not MODEL.exists():
        pytest.skip(f"no digit model yet ({MODEL}); `make model` trains it")
    data = tmp_path / "data"
    db = data / "titik.db"
    photos = Photos(data)
    for _ in range(6):
        photos.add()
    rng = random.Random(20240214)
    interrupted: list[int] = []
    round_ = 0
    # Alternate kills at a random moment with kills while a job is certainly held, until
    # three workers died holding a job (proved from the database after the kill).
    while len(interrupted) < 3:
        assert round_ < 30, f"only {len(interrupted)} kill(s) caught a worker mid-job"
        photos.keep_queued(db, 3)
        proc = start_worker(demo_config_path, db.parent)
        if round_ % 2 == 0:
            wait_for(partial(holds_a_job, proc, db), 600, "a claimed job")
            time.sleep(rng.uniform(0.0, 0.2))
        else:
            time.sleep(rng.uniform(0.2, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        held = held_by(proc, db)
        if held is not None:
            interrupted.append(held)
        round_ += 1

    final = start_worker(demo_config_path, db.parent)
    try:
        wait_for(lambda: all(s in ("done", "failed") for _, s, _ in job_states(db)), 900,
                 "every job to finish")
        final.send_signal(signal.SIGTERM)
        assert final.wait(timeout=60) == 0
    finally:
        if final.poll() is None:
            final.kill()
            final.wait()

    conn = sqlite3.connect(db)
    readings = [u for (u,) in conn.execute("SELECT upload_id FROM readings ORDER BY upload_id")]
    messages = [json.loads(p)["upload_id"] for (p,) in conn.execute(
        "SELECT payload FROM sync_outbox WHERE kind = 'reading'")]
    jobs = {u: (s, a) for u, s, a in job_states(db)}
    assert sorted(messages) == readings and len(set(readings)) == len(readings)
    for upload_id in interrupted:
        # Taken up again after its worker died holding it.
        assert jobs[upload_id][1] >= 2
    with Store(data, box_id=BOX) as store:
        for upload_id in photos.upload_ids:
            upload = store.get_upload(upload_id)
            assert upload is not None
            assert jobs[upload_id][0] == "done" and upload_id in readings
            assert upload["state"] in ("read", "needs_review", "rejected")
            assert upload["reading"] is not None
        audit = store.verify_audit()
        assert audit.ok
        read_actions = [e for e in store.audit_entries(limit=1000) if e["action"] == "reading"]
        assert len(read_actions) == len(readings)
    assert readings == sorted(photos.upload_ids)


UPLOADER = """
import sys
from pathlib import Path
import numpy as np
from gateway.store import Store
store = Store(Path(sys.argv[1]), box_id="box-317101-demo")
i = int(sys.argv[2])
while True:
    data = np.random.default_rng(i).bytes(300_000)
    store.save_upload(data, tps="3171011001001", actor="kpps1", source="kpps")
    print(i, flush=True)
    i += 1
"""


def test_killing_an_uploading_process_leaves_no_row_without_its_photo(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Store(data, box_id=BOX).close()
    rng = random.Random(7)
    acknowledged: list[int] = []
    for round_ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", UPLOADER, str(data), str(round_ * 1000)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # at least one upload acknowledged
        acknowledged.append(int(first))
        time.sleep(rng.uniform(0.0, 0.5))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        acknowledged += [int(line) for line in out.split()]
    with Store(data, box_id=BOX) as store:
        rows = store.uploads_for_tps(TPS)
        for row in rows:
            photo = photo_path(data, row["sha256"])
            assert hashlib.sha256(photo.read_bytes()).hexdigest() == row["sha256"]
            assert row["job"]["state"] == "queued"
        kept = {row["sha256"] for row in rows}
        for i in acknowledged:
            sha = hashlib.sha256(np.random.default_rng(i).bytes(300_000)).hexdigest()
            assert sha in kept, f"acknowledged upload {i} was lost"
        assert store.verify_audit().ok
