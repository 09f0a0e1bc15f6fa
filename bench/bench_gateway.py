"""Web app under a burst: 50 concurrent ~4 MB photo uploads against a real `titik serve`.

Reports failures, latency percentiles and the web process's peak memory (VmHWM from
/proc, since psutil is not installed). The photos are distinct (a JPEG comment carries
the index) so none is answered as a duplicate.
"""

from __future__ import annotations

import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "firmware_config" / "example" / "box.toml"
UPLOADS = 50
TARGET_BYTES = 4 * 1024 * 1024
PPK_LOGIN, PPK_PIN = "ppk", "ppk-gambir-2024"  # the public demo account (serve --demo)


def base_photo(target: int = TARGET_BYTES) -> bytes:
    """A camera-sized JPEG of about `target` bytes (noise keeps it from compressing)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    height, width = 3000, 4000
    pixels = rng.integers(120, 255, size=(height // 4, width // 4, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR)
    noise = rng.integers(0, 24, size=(height, width, 3), dtype=np.uint8)
    image = Image.fromarray(np.asarray(image) // 2 + noise)
    for quality in (70, 80, 88, 93, 96):
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=quality)
        if buf.tell() >= target * 0.9:
            break
    return buf.getvalue()


def variant(jpeg: bytes, index: int) -> bytes:
    """The same picture with a COM segment after SOI, so each upload has its own SHA-256."""
    text = f"titik-bench-{index}".encode()
    segment = b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text
    return jpeg[:2] + segment + jpeg[2:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vm_hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (from /proc/<pid>/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    import requests

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"titik serve exited with {proc.returncode}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.3)
    raise RuntimeError("titik serve did not start")


def sign_in(base: str) -> tuple[dict[str, str], str]:
    import requests

    session = requests.Session()
    token = session.get(f"{base}/api/csrf", timeout=30).json()["csrf_token"]
    response = session.post(f"{base}/api/session", json={"login": PPK_LOGIN, "pin": PPK_PIN},
                            headers={"X-CSRFToken": token}, timeout=30)
    response.raise_for_status()
    return session.cookies.get_dict(), str(response.json()["csrf_token"])


def burst(base: str, photos: list[bytes], tps_codes: list[str]) -> list[dict[str, Any]]:
    import requests

    cookies, token = sign_in(base)
    results: list[dict[str, Any]] = [{} for _ in photos]
    start = threading.Barrier(len(photos))

    def one(i: int) -> None:
        session = requests.Session()
        session.cookies.update(cookies)
        start.wait()
        began = time.perf_counter()
        try:
            response = session.post(
                f"{base}/api/uploads",
                files={"photo": (f"IMG_{i:04d}.jpg", photos[i], "image/jpeg")},
                data={"tps": tps_codes[i % len(tps_codes)]},
                headers={"X-CSRFToken": token},
                timeout=300,
            )
            results[i] = {"status": response.status_code, "s": time.perf_counter() - began}
        except requests.RequestException as exc:
            results[i] = {"status": None, "error": type(exc).__name__,
                          "s": time.perf_counter() - began}

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(photos))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run() -> dict[str, Any]:
    import tomllib

    base_jpeg = base_photo()
    photos = [variant(base_jpeg, i) for i in range(UPLOADS)]
    tps_codes = [t["code"] for t in tomllib.loads(DEMO_CONFIG.read_text())["tps"]]
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="titik-bench-") as data:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(DEMO_CONFIG),
             "--data", data, "--host", "127.0.0.1", "--port", str(port), "--demo", "--no-mdns"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "TITIK_LOG_LEVEL": "WARNING"},
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(f"{base}/masuk", proc)
            idle_kb = vm_hwm_kb(proc.pid)
            cpu_before = cpu_seconds(proc.pid)
            began = time.perf_counter()
            results = burst(base, photos, tps_codes)
            wall = time.perf_counter() - began
            peak_kb = vm_hwm_kb(proc.pid)
            cpu = cpu_seconds(proc.pid) - cpu_before
            load = os.getloadavg()[0]
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    ok = [r["s"] for r in results if r.get("status") == 201]
    return {
        "uploads": UPLOADS,
        "photo_mb": round(len(base_jpeg) / 1024 / 1024, 2),
        "failures": UPLOADS - len(ok),
        "statuses": sorted({str(r.get("status")) for r in results}),
        "latency_p50_s": round(statistics.median(ok), 3) if ok else None,
        "latency_p95_s": round(percentile(ok, 0.95), 3) if ok else None,
        "latency_max_s": round(max(ok), 3) if ok else None,
        "wall_s": round(wall, 2),
        "throughput_mb_s": round(len(ok) * len(base_jpeg) / 1024 / 1024 / wall, 1),
        "web_cpu_s_per_upload": round(cpu / UPLOADS, 3),
        "load_avg_1m": round(load, 1),
        "web_rss_idle_mb": round(idle_kb / 1024, 1),
        "web_rss_peak_mb": round(peak_kb / 1024, 1),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
