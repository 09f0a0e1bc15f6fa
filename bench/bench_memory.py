"""Resident memory of the box's three services together (web + worker + relay).

Target: 400 MB together, so the box fits a 2 GB Raspberry Pi next to the OS,
hostapd, dnsmasq and the page cache. Measured idle, then while 50 photos are
uploaded through the JSON API and read by the worker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from gateway.worker import MALLOC_TUNABLES

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "firmware_config" / "example" / "box.toml"
ACCOUNTS = ROOT / "firmware_config" / "example" / "demo-accounts.json"
UPLOADS = 50


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


class Sampler(threading.Thread):
    """Samples the summed RSS of the given processes until stopped."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.pids = pids
        self.stop_event = threading.Event()
        self.peak_total_kb = 0

    def run(self) -> None:
        while not self.stop_event.wait(0.1):
            total = sum(_status_kb(pid, "VmRSS") for pid in self.pids.values())
            self.peak_total_kb = max(self.peak_total_kb, total)


def _photos(n: int) -> list[bytes]:
    from vision.synthetic import synthetic_photo

    # A few distinct photos, re-encoded with a marker so each upload is a new SHA-256.
    base = [synthetic_photo(page, seed=page, width_px=4000).jpeg for page in (1, 2, 3)]
    return [base[i % 3] + i.to_bytes(4, "big") for i in range(n)]


def _upload_all(url: str, photos: list[bytes]) -> int:
    accounts = [a for a in json.loads(ACCOUNTS.read_text()) if a["role"] == "kpps"]
    sessions = []
    for account in accounts:
        s = requests.Session()
        s.headers["X-CSRFToken"] = s.get(f"{url}/api/csrf", timeout=30).json()["csrf_token"]
        r = s.post(f"{url}/api/session", json={"login": account["login"], "pin": account["pin"]},
                   timeout=30)
        r.raise_for_status()
        s.headers["X-CSRFToken"] = r.json()["csrf_token"]
        sessions.append(s)

    def one(i: int) -> bool:
        s = sessions[i % len(sessions)]
        r = s.post(f"{url}/api/uploads", files={"photo": ("p.jpg", photos[i], "image/jpeg")},
                   timeout=120)
        return r.status_code in (200, 201)

    with ThreadPoolExecutor(max_workers=10) as pool:
        return sum(1 for ok in pool.map(one, range(len(photos))) if not ok)


def _queue_empty(data: Path) -> bool:
    import sqlite3

    conn = sqlite3.connect(data / "titik.db", timeout=10)
    try:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        if "jobs" not in tables:
            return True
        sql = "select count(*) from jobs where state in ('queued', 'running')"
        row = conn.execute(sql).fetchone()
        return int(row[0]) == 0
    finally:
        conn.close()


def run() -> dict[str, Any]:
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    titik = [sys.executable, "-m", "gateway.cli"]
    port, broker_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory(prefix="titik-bench-mem-") as tmp:
        data = Path(tmp) / "box"
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(f"listener {broker_port} 127.0.0.1\nallow_anonymous true\n"
                        "persistence false\n")
        env = dict(os.environ, TITIK_LOG_LEVEL="WARNING")
        broker = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        common = ["--config", str(CONFIG), "--data", str(data)]
        procs = {
            "web": subprocess.Popen([*titik, "serve", *common, "--demo", "--port", str(port),
                                     "--host", "127.0.0.1", "--no-mdns"], env=env),
            # As its systemd unit runs it (gateway.worker.MALLOC_TUNABLES).
            "worker": subprocess.Popen([*titik, "worker", *common],
                                       env={**env, "GLIBC_TUNABLES": MALLOC_TUNABLES}),
            "relay": subprocess.Popen([*titik, "relay", *common, "--broker",
                                       f"127.0.0.1:{broker_port}"], env=env),
        }
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_http(url + "/masuk")
            time.sleep(5)  # let every service settle into its idle loop
            pids = {name: p.pid for name, p in procs.items()}
            idle = {name: _status_kb(pid, "VmRSS") // 1024 for name, pid in pids.items()}
            photos = _photos(UPLOADS)
            sampler = Sampler(pids)
            sampler.start()
            started = time.monotonic()
            failures = _upload_all(url, photos)
            deadline = time.monotonic() + 600
            while not _queue_empty(data) and time.monotonic() < deadline:
                time.sleep(0.5)
            elapsed = time.monotonic() - started
            sampler.stop_event.set()
            sampler.join()
            peak = {name: _status_kb(pid, "VmHWM") // 1024 for name, pid in pids.items()}
        finally:
            for p in procs.values():
                p.terminate()
            for p in procs.values():
                p.wait(timeout=30)
            broker.terminate()
            broker.wait(timeout=10)
    return {
        "idle_rss_mb": idle,
        "idle_total_mb": sum(idle.values()),
        "uploads": UPLOADS,
        "upload_failures": failures,
        "seconds_to_read_all": round(elapsed, 1),
        "peak_rss_mb_per_process": peak,
        "peak_total_rss_mb_sampled": sampler.peak_total_kb // 1024,
        "target_total_mb": 400,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
