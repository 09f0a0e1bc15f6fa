"""`titik serve`: refuses demo PINs, runs on waitress, tells systemd, exits cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.security import generate_password_hash

from gateway.cli import build_cli

TITIK = [sys.executable, "-m", "gateway.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _real_config(demo_config_path: Path, tmp_path: Path) -> Path:
    """The demo configuration with every PIN changed (what a real box must have)."""
    text = demo_config_path.read_text()
    data = tomllib.loads(text)
    for account in data["accounts"]:
        text = text.replace(account["pin_hash"], generate_password_hash(f"real-{account['login']}"))
    shutil.copytree(demo_config_path.parent, tmp_path / "cfg", dirs_exist_ok=True)
    path = tmp_path / "cfg" / "box.toml"
    path.write_text(text)
    return path


def test_serve_refuses_the_demo_pins(demo_config_path: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build_cli(), ["serve", "--config", str(demo_config_path), "--data", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "PIN demo" in result.output and "--demo" in result.output
    assert not (tmp_path / "titik.db").exists()  # refused before touching anything


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status)
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


def assert_oversize_refused_in_bahasa(base: str) -> None:
    """Through waitress, a body over web.max_upload_mb (20 MB) gets the 413 page."""
    import requests

    session = requests.Session()
    token = session.get(f"{base}/api/csrf", timeout=30).json()["csrf_token"]
    body = b"\xff\xd8\xff" + bytes(21 * 1024 * 1024)
    response = session.post(f"{base}/api/uploads", files={"photo": ("a.jpg", body)},
                            headers={"X-CSRFToken": token}, timeout=120)
    assert response.status_code == 413
    assert response.json()["message"].startswith("File terlalu besar")


@pytest.mark.slow
def test_serve_notifies_systemd_and_stops_on_sigterm(
    demo_config_path: Path, tmp_path: Path
) -> None:
    config = _real_config(demo_config_path, tmp_path)
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(60)
    port = free_port()
    env = {**os.environ, "NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "1000000"}
    proc = subprocess.Popen(
        [*TITIK, "serve", "--config", str(config), "--data", str(tmp_path / "data"),
         "--host", "127.0.0.1", "--port", str(port), "--no-mdns"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        assert notify.recv(256) == b"READY=1"
        assert notify.recv(256) == b"WATCHDOG=1"  # every WATCHDOG_USEC / 2
        assert wait_http(f"http://127.0.0.1:{port}/masuk", proc) == 200
        assert (tmp_path / "data" / "web-secret.key").stat().st_mode & 0o777 == 0o600
        assert_oversize_refused_in_bahasa(f"http://127.0.0.1:{port}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert proc.stdout is not None
        log = proc.stdout.read().decode()
        assert "stopping" in log and "stopped" in log
        for account in tomllib.loads(config.read_text())["accounts"]:
            assert f"real-{account['login']}" not in log
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()


def test_serve_unusable_data_dir_is_a_clear_error(demo_config_path: Path, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = CliRunner().invoke(
        build_cli(),
        ["serve", "--config", str(demo_config_path), "--data", str(not_a_dir / "data"), "--demo"],
    )
    assert result.exit_code == 1
    assert "cannot use the data directory" in result.output
    assert "Traceback" not in result.output
