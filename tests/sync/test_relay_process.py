"""`titik relay` as systemd runs it: READY and WATCHDOG over NOTIFY_SOCKET, clean exit
on SIGTERM with the link state saying so."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from tests.mosquitto import MosquittoBroker
from tests.sync.conftest import Box, titik_exe, wait_until, write_box_config


def test_notifies_systemd_and_stops_cleanly_on_sigterm(
    tmp_path: Path, box: Box, broker: MosquittoBroker
) -> None:
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(20)
    config = write_box_config(tmp_path / "box.toml", box, broker)
    box.add_result()
    proc = subprocess.Popen(
        [titik_exe(), "relay", "--config", str(config), "--data", str(box.data_dir)],
        env={**os.environ, "NOTIFY_SOCKET": str(sock_path)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        got = {sock.recv(256), sock.recv(256)}
        assert got == {b"READY=1", b"WATCHDOG=1"}
        wait_until(lambda: box.status()["link"]["up"] is True, 20, "link up")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        sock.close()
    assert proc.returncode == 0, out.decode()
    link = box.status()["link"]
    assert link["up"] is False and link["last_error"] == "relay stopped"
