"""`titik demo run`: the whole path on one machine, for a first look.

Starts a local mosquitto on a free port, the central receiver, the relay, the
processing worker and the web app as child processes, prints the demo accounts,
and stops every child cleanly on Ctrl-C (or when one of them dies).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import getpass
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from gateway.worker import MALLOC_TUNABLES

logger = logging.getLogger(__name__)

STOP_GRACE_S = 10.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class DemoError(Exception):
    """The demo cannot start; the message says what is missing."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)  # added to the demo's environment


@dataclass
class DemoPlan:
    """What `demo run` starts, in start order (stopped in reverse)."""

    children: list[Child] = field(default_factory=list)
    broker_port: int = 0
    web_url: str = ""


def mosquitto_conf(port: int, directory: Path) -> Path:
    """A loopback-only broker without persistence: the outbox carries durability."""
    conf = directory / "mosquitto.conf"
    # Stay the invoking user: a broker that drops to user `mosquitto` loses the
    # parent-death signal, and would outlive a killed `demo run`.
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        f"user {getpass.getuser()}\nlog_dest stdout\nlog_type error\nlog_type warning\n",
        encoding="utf-8",
    )
    return conf


def plan(
    box_config: Path,
    central_config: Path | None,
    available: set[str],
    workdir: Path,
    web_port: int,
) -> DemoPlan:
    """Decide which children to start from the commands this build has."""
    titik = [sys.executable, "-m", "gateway.cli"]
    result = DemoPlan(broker_port=free_port())
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(mosquitto).exists():
        raise DemoError("mosquitto is not installed: run `make setup` (apt-get install mosquitto)")
    conf = mosquitto_conf(result.broker_port, workdir)
    result.children.append(Child("broker", [mosquitto, "-c", str(conf)]))
    broker = f"127.0.0.1:{result.broker_port}"
    if "central" in available and central_config is not None and central_config.exists():
        central = [*titik, "central", "--config", str(central_config), "--broker", broker]
        result.children.append(Child("central", central))
    if "relay" in available:
        result.children.append(
            Child("relay", [*titik, "relay", "--config", str(box_config), "--broker", broker])
        )
    if "worker" in available:
        # As its systemd unit runs it.
        result.children.append(Child("worker", [*titik, "worker", "--config", str(box_config)],
                                     env={"GLIBC_TUNABLES": MALLOC_TUNABLES}))
    if "serve" in available:
        result.children.append(
            Child(
                "web",
                [*titik, "serve", "--config", str(box_config), "--demo", "--port", str(web_port)],
            )
        )
        result.web_url = f"http://localhost:{web_port}"
    return result


def print_accounts(accounts_file: Path, url: str) -> None:
    accounts = json.loads(accounts_file.read_text(encoding="utf-8"))
    print("\n=== Titik demo ===", flush=True)
    if url:
        print(f"Buka / open: {url}", flush=True)
    print("Akun demo / demo accounts (DEMO ONLY):", flush=True)
    for account in accounts:
        tps = f"  TPS {account['tps']}" if account.get("tps") else ""
        print(f"  {account['role']:<9} login={account['login']:<15} PIN={account['pin']}{tps}")
    print("Ctrl-C menghentikan semua layanan / stops every service.\n", flush=True)


def stop_all(children: list[Child]) -> None:
    for child in reversed(children):
        if child.process is not None and child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    for child in reversed(children):
        if child.process is None:
            continue
        try:
            child.process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %ss; killing it", child.name, STOP_GRACE_S)
            child.process.kill()
            child.process.wait()
        logger.info("%s stopped (exit %s)", child.name, child.process.returncode)


def _child_setup() -> None:
    """Run in each child before exec: its own session (the terminal's Ctrl-C reaches only
    the supervisor, which stops children in order) and SIGTERM if the supervisor dies, so a
    killed `demo run` never leaves a broker or relay running."""
    os.setsid()
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _exited(child: Child) -> bool:
    return child.process is not None and child.process.poll() is not None


def run(demo: DemoPlan, accounts_file: Path) -> int:
    """Start every child, wait until Ctrl-C/SIGTERM or until one dies, stop them all."""
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        logger.info("signal %s: stopping the demo", signum)
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    failed: Child | None = None
    try:
        for child in demo.children:
            logger.info("starting %s: %s", child.name, " ".join(child.argv))
            child.process = subprocess.Popen(child.argv, env={**env, **child.env},
                                             preexec_fn=_child_setup)
        print_accounts(accounts_file, demo.web_url)
        while not stop.wait(0.5):
            failed = next((c for c in demo.children if _exited(c)), None)
            if failed is not None:
                logger.error("%s exited unexpectedly; stopping the demo", failed.name)
                break
    finally:
        stop_all(demo.children)
    return 1 if failed is not None else 0


def run_demo(box_config: Path, central_config: Path | None, available: set[str],
             web_port: int) -> int:
    accounts_file = box_config.parent / "demo-accounts.json"
    with tempfile.TemporaryDirectory(prefix="titik-demo-") as tmp:
        demo = plan(box_config, central_config, available, Path(tmp), web_port)
        return run(demo, accounts_file)
