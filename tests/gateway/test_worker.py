"""The processing worker: every queued photo is read by the real pipeline and recorded once;
the loop stops on its stop event or SIGTERM/SIGINT and speaks systemd's notify protocol."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

import vision
from gateway import worker
from gateway.store import Store

BOX = "box-317101-demo"
TPS = "3171011001001"
DPT = 240


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "data", box_id=BOX, tps_codes=[TPS])
    yield s
    s.close()


def blank_jpeg() -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((600, 800, 3), 200, np.uint8))
    assert ok
    return buf.tobytes()


def run_until_idle(store: Store) -> int:
    return worker.run(store, dpt_for={TPS: DPT}.get, read_form=vision.read_form,
                      stop=threading.Event(),
                      settings=worker.WorkerSettings(name="test-worker", exit_when_idle=True))


MODEL = Path(vision.__file__).parent / "models" / "digits.tflite"


def test_worker_reads_every_queued_upload_and_records_it_once(store: Store) -> None:
    synthetic = pytest.importorskip("vision.synthetic")
    if not MODEL.exists():
        pytest.skip(f"no digit model yet ({MODEL}); `make model` trains it")
    values = synthetic.tps_values(7, dpt=DPT)
    # A 12 MP phone photo (3000 px wide), as the benchmark reads.
    photos = {
        page: synthetic.synthetic_photo(page, seed=70 + page, values=values[page],
                                        width_px=3000)
        for page in (1, 2, 3)
    }
    form_ids = {
        page: store.save_upload(p.jpeg, tps=TPS, actor="kpps1", source="kpps").upload_id
        for page, p in photos.items()
    }
    blank = store.save_upload(blank_jpeg(), tps=TPS, actor="kpps1", source="kpps").upload_id
    junk = store.save_upload(b"not a photo at all", tps=TPS, actor="kpps1", source="api")
    assert run_until_idle(store) == 5
    assert run_until_idle(store) == 0
    placed = 0
    for page, upload_id in form_ids.items():
        upload = store.get_upload(upload_id)
        assert upload is not None and upload["reading"] is not None
        if upload["state"] == "rejected":  # the photo's quality was refused, with reasons
            assert upload["reasons"]
            continue
        placed += 1
        assert upload["state"] in ("read", "needs_review")
        assert upload["page"] == page
        assert upload["rectified_path"] and Path(upload["rectified_path"]).stat().st_size > 0
        # Whatever was read is either what the paper says or flagged for a person.
        for name, truth in photos[page].values.items():
            value = upload["values"][name]
            assert value["value"] == truth or value["flagged"] or upload["state"] != "read"
    assert placed >= 2, "synthetic photos of normal difficulty should mostly be read"
    for upload_id in (blank, junk.upload_id):
        upload = store.get_upload(upload_id)
        assert upload is not None and upload["state"] == "rejected" and upload["reasons"]
    assert {u["id"] for u in store.rejected_uploads()} == {blank, junk.upload_id}
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == 5
    kinds = [k for (k,) in conn.execute("SELECT kind FROM sync_outbox")]
    assert kinds.count("reading") == 5
    assert store.job_counts() == {"done": 5}
    assert store.verify_audit().ok


def test_the_loop_waits_for_work_and_stops_on_its_event(store: Store) -> None:
    stop = threading.Event()
    done: list[int] = []
    thread = threading.Thread(
        name="worker-loop",
        target=lambda: done.append(worker.run(
            store, dpt_for={TPS: DPT}.get, read_form=vision.read_form, stop=stop,
            settings=worker.WorkerSettings(name="loop", interval_s=0.05))),
    )
    thread.start()
    upload_id = store.save_upload(blank_jpeg(), tps=TPS, actor="kpps1", source="kpps").upload_id
    deadline = time.monotonic() + 120
    while store.get_upload(upload_id)["state"] != "rejected":  # type: ignore[index]
        assert time.monotonic() < deadline, "the worker never read the upload"
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=60)
    assert not thread.is_alive() and done == [1]


def test_a_missing_photo_file_goes_to_a_person(store: Store) -> None:
    result = store.save_upload(blank_jpeg(), tps=TPS, actor="kpps1", source="kpps")
    Path(store.get_upload(result.upload_id)["photo_path"]).unlink()  # type: ignore[index]
    assert run_until_idle(store) == 1
    upload = store.get_upload(result.upload_id)
    assert upload is not None and upload["state"] == "needs_review"
    assert "unreadable" in upload["job"]["error"]


def _titik_worker(config: Path, data: Path, *extra: str,
                  env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker", "--config", str(config), "--data",
         str(data), *extra],
        env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def _receive_until(sock: socket.socket, wanted: str, deadline: float) -> list[str]:
    seen: list[str] = []
    while wanted not in seen:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        seen.append(sock.recv(256).decode())
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_titik_worker_notifies_systemd_and_exits_cleanly_on_signal(
    tmp_path: Path, demo_config_path: Path, signum: int
) -> None:
    data = tmp_path / "data"
    with Store(data, box_id=BOX, tps_codes=[TPS]) as store:
        upload_id = store.save_upload(blank_jpeg(), tps=TPS, actor="kpps1",
                                      source="kpps").upload_id
    sock_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        proc = _titik_worker(demo_config_path, data, "--interval", "0.1",
                             env={"NOTIFY_SOCKET": str(sock_path)})
        try:
            deadline = time.monotonic() + 120
            seen = _receive_until(sock, "READY=1", deadline)
            seen += _receive_until(sock, "WATCHDOG=1", deadline)
            with Store(data, box_id=BOX) as store:
                while store.get_upload(upload_id)["state"] != "rejected":  # type: ignore[index]
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            proc.send_signal(signum)
            assert proc.wait(timeout=60) == 0
            seen += _receive_until(sock, "STOPPING=1", time.monotonic() + 10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert seen[0] == "READY=1"


@pytest.mark.slow
def test_titik_worker_exit_when_idle_processes_the_queue(tmp_path: Path,
                                                        demo_config_path: Path) -> None:
    data = tmp_path / "data"
    with Store(data, box_id=BOX, tps_codes=[TPS]) as store:
        upload_id = store.save_upload(blank_jpeg(), tps=TPS, actor="kpps1",
                                      source="kpps").upload_id
    proc = _titik_worker(demo_config_path, data, "--exit-when-idle")
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out.decode()
    with Store(data, box_id=BOX) as store:
        assert store.get_upload(upload_id)["state"] == "rejected"  # type: ignore[index]


_FAULTS_PER_READ = """
import resource, sys
from vision.pipeline import read_form
data = open(sys.argv[1], "rb").read()
read_form(data)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    read_form(data)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 3)
"""


@pytest.mark.slow
def test_the_workers_malloc_settings_reuse_photo_buffers(tmp_path: Path) -> None:
    """With the settings its unit and `demo run` give it, reading a 12 MP photo again asks
    the kernel for almost no new pages (by default: one per 4 KiB of the grey image)."""
    from vision.synthetic import synthetic_photo

    photo = tmp_path / "page.jpg"
    photo.write_bytes(synthetic_photo(1, seed=3, width_px=4000).jpeg)
    env = {**os.environ, "GLIBC_TUNABLES": worker.MALLOC_TUNABLES}
    out = subprocess.run([sys.executable, "-c", _FAULTS_PER_READ, str(photo)], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    grey_pages = 4000 * 3000 // 4096
    assert int(out.stdout.split()[-1]) < 0.25 * grey_pages  # measured 84-428 (default ~3,100)
