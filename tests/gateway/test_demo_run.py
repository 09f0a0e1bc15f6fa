"""`titik demo run` (what `make run` starts): a photo goes from upload to central's ack.

Runs the real thing: mosquitto, central, relay, worker and web app as child
processes on a copy of the demo configuration in a temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "firmware_config" / "example"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    """The example configuration, its state redirected into tmp_path."""
    example = tmp_path / "example"
    shutil.copytree(EXAMPLE, example)
    box = example / "box.toml"
    box.write_text(re.sub(r'data_dir = ".*"', f'data_dir = "{tmp_path / "box"}"',
                          box.read_text()))
    central = example / "central.toml"
    text = re.sub(r'database = ".*"', f'database = "{tmp_path / "central" / "central.db"}"',
                  central.read_text())
    text = re.sub(r'photo_dir = ".*"', f'photo_dir = "{tmp_path / "central" / "photos"}"', text)
    central.write_text(text)
    return tmp_path


@pytest.fixture
def demo(demo_dir: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    log = (demo_dir / "demo.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "demo", "run", "--config",
         str(demo_dir / "example" / "box.toml"), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, TITIK_LOG_LEVEL="INFO"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def _up(url: str) -> bool:
    try:
        return requests.get(url + "/masuk", timeout=2).status_code == 200
    except (requests.ConnectionError, requests.Timeout):
        # Not listening yet, or listening but still importing on a loaded machine.
        return False


def _central_kinds(db: Path, tps: str) -> set[str]:
    if not db.exists():
        return set()
    conn = sqlite3.connect(db, timeout=10)
    try:
        rows = conn.execute("SELECT kind FROM messages WHERE tps = ?", (tps,)).fetchall()
    except sqlite3.OperationalError:
        return set()
    finally:
        conn.close()
    return {r[0] for r in rows}


def test_a_photo_goes_from_upload_to_centrals_acknowledgement(
    demo_dir: Path, demo: tuple[subprocess.Popen[bytes], str]
) -> None:
    from vision.synthetic import synthetic_photo

    proc, url = demo
    _wait(lambda: _up(url) or proc.poll() is not None, 90, "the web app")
    assert proc.poll() is None, (demo_dir / "demo.log").read_text()

    account = next(a for a in json.loads((EXAMPLE / "demo-accounts.json").read_text())
                   if a["role"] == "kpps")
    s = requests.Session()
    s.headers["X-CSRFToken"] = s.get(url + "/api/csrf", timeout=30).json()["csrf_token"]
    r = s.post(url + "/api/session", json={"login": account["login"], "pin": account["pin"]},
               timeout=30)
    assert r.status_code == 200, r.text
    s.headers["X-CSRFToken"] = r.json()["csrf_token"]
    photo = synthetic_photo(3, seed=11, width_px=2400)
    r = s.post(url + "/api/uploads", files={"photo": ("hal3.jpg", photo.jpeg, "image/jpeg")},
               timeout=60)
    assert r.status_code == 201, r.text
    upload_id = r.json()["uploads"][0]["upload_id"]

    def read_state() -> str | None:
        state = s.get(f"{url}/api/uploads/{upload_id}", timeout=10).json().get("state")
        return None if state in ("queued", "processing") else str(state)

    state = _wait(read_state, 120, "the worker's reading")
    assert state in ("read", "needs_review")
    if state == "read":
        r = s.post(f"{url}/api/uploads/{upload_id}/confirm", json={"corrections": {}}, timeout=30)
        assert r.status_code == 200, r.text

    central_db = demo_dir / "central" / "central.db"
    want = {"reading", "photo"} | ({"confirmation"} if state == "read" else set())
    _wait(lambda: want <= _central_kinds(central_db, account["tps"]), 120,
          f"central to hold {sorted(want)}")

    def delivered() -> bool:
        pages = s.get(f"{url}/api/tps/{account['tps']}", timeout=10).json()["pages"]
        page3 = next(p for p in pages if p["page"] == 3)
        return bool(page3["relay"] == "delivered")

    _wait(delivered, 120, "the box to see central's acknowledgement")

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0
    leftovers = subprocess.run(["pgrep", "-f", str(demo_dir / "example")], capture_output=True,
                               text=True).stdout.split()
    assert leftovers == [], "Ctrl-C left children running"


def _children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_killing_the_supervisor_takes_every_child_with_it(
    demo: tuple[subprocess.Popen[bytes], str]
) -> None:
    proc, url = demo
    _wait(lambda: _up(url) or proc.poll() is not None, 90, "the web app")
    children = _children_of(proc.pid)
    assert len(children) == 5, "broker, central, relay, worker and web"
    proc.kill()
    proc.wait()
    _wait(lambda: not any(_alive(pid) for pid in children), 60, "every child to exit")
