"""`titik serve`: the web app on waitress, with mDNS, sd_notify and a clean SIGTERM exit."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from gateway.cli.common import config_option, data_option, load_config

logger = logging.getLogger(__name__)

DEMO_ACCOUNTS = (
    Path(__file__).resolve().parents[2] / "firmware_config" / "example" / "demo-accounts.json"
)
WATCHDOG_S = 10.0
THREADS = 8
OVERSIZE_FACTOR = 4
# Waitress reads request bodies in the one I/O thread, recv_bytes at a time (default 8 KB:
# ~600 Python-level reads per 5 MB photo). Larger reads cut that per-upload CPU; the body
# still spools to a temporary file past inbuf_overflow, so memory stays bounded.
RECV_BYTES = 256 * 1024
# A phone on weak Wi-Fi may stall mid-upload for a while; don't drop it too soon.
CHANNEL_TIMEOUT_S = 300


def demo_pin_logins(accounts: Any) -> list[str]:
    """Logins whose effective PIN is still the public demo PIN for the same login."""
    from werkzeug.security import check_password_hash

    if not DEMO_ACCOUNTS.exists():
        logger.warning("%s is missing: cannot check for the public demo PINs", DEMO_ACCOUNTS)
        return []
    demo = {str(a["login"]): str(a["pin"]) for a in json.loads(DEMO_ACCOUNTS.read_text())}
    return [
        a.login
        for a in accounts.all()
        if a.login in demo and check_password_hash(a.pin_hash, demo[a.login])
    ]


class Notifier:
    """sd_notify READY/WATCHDOG/STOPPING when systemd gave us NOTIFY_SOCKET; else nothing."""

    def __init__(self) -> None:
        self._notifier: Any = None
        if os.environ.get("NOTIFY_SOCKET"):
            import sdnotify

            self._notifier = sdnotify.SystemdNotifier()

    def send(self, message: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(message)

    def watchdog_loop(self, stop: threading.Event) -> None:
        # Ping at half the WatchdogSec= systemd gave us (WATCHDOG_USEC), else every WATCHDOG_S.
        usec = os.environ.get("WATCHDOG_USEC", "")
        interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else WATCHDOG_S
        while not stop.wait(interval):
            self.send("WATCHDOG=1")


@click.command("serve")
@config_option
@data_option
@click.option("--host", default=None, help="Listen address (default web.host).")
@click.option("--port", type=int, default=None, help="Listen port (default web.port).")
@click.option("--demo", is_flag=True, help="Allow the public demo PINs (never on a real box).")
@click.option("--no-mdns", is_flag=True, help="Do not advertise titik-<kecamatan>.local.")
def serve(
    config_path: Path,
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    demo: bool,
    no_mdns: bool,
) -> None:
    """Serve the KPPS upload pages, the PPK dashboard and the JSON API."""
    from waitress.server import create_server

    from gateway.store import Store, StoreError
    from gateway.web import create_app
    from gateway.web.accounts import Accounts
    from gateway.web.mdns import Advertiser, local_addresses, service_info

    config = load_config(config_path, data_dir)
    data = config.paths.data_dir
    try:
        data.mkdir(parents=True, exist_ok=True)
        weak = demo_pin_logins(Accounts(config, data))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{data}: cannot use the data directory: {exc}") from None
    if weak and not demo:
        raise click.ClickException(
            f"{config_path}: akun {', '.join(weak)} masih memakai PIN demo yang diketahui umum; "
            "ganti pin_hash (`titik config hash-pin`) atau jalankan dengan --demo untuk demo. / "
            "these accounts still use the public demo PINs; change them or pass --demo."
        )
    if weak:
        logger.warning("demo mode: %d account(s) use the public demo PINs", len(weak))
    try:
        store = Store(data, box_id=config.box.id, tps_codes=[t.code for t in config.tps],
                      dpts={t.code: t.dpt for t in config.tps})
    except (OSError, sqlite3.Error, StoreError) as exc:
        raise click.ClickException(f"{data}: cannot open the box database: {exc}") from None
    try:
        app = create_app(config, store, data_dir=data)
    except (OSError, ValueError) as exc:
        store.close()
        raise click.ClickException(str(exc)) from None
    host = host or config.web.host
    port = port if port is not None else config.web.port
    server: Any = create_server(
        app,
        host=host,
        port=port,
        threads=THREADS,
        recv_bytes=RECV_BYTES,
        channel_timeout=CHANNEL_TIMEOUT_S,
        # Waitress reads a whole body before the app sees it and refuses larger ones with
        # its own English page; give the app room to answer "too large" in Bahasa Indonesia
        # up to OVERSIZE_FACTOR times the limit, without spooling unbounded bodies to disk.
        max_request_body_size=config.web.max_upload_mb * 1024 * 1024 * OVERSIZE_FACTOR,
        ident="titik",
    )
    advertiser = None
    if not no_mdns:
        info = service_info(
            kecamatan_name=config.kecamatan.name,
            box_id=config.box.id,
            port=int(server.effective_port),
            addresses=local_addresses(config.wifi.host_address),
        )
        advertiser = Advertiser(info)
        try:
            advertiser.start()
        except OSError as exc:  # no multicast-capable interface: the app still works by IP
            logger.warning("mDNS advertisement failed: %s", exc)
            advertiser = None

    notifier = Notifier()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %s: stopping", signum)
        notifier.send("STOPPING=1")
        stop.set()
        server.close()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    logger.info("serving on http://%s:%s/ (data %s)", host, server.effective_port, data)
    notifier.send("READY=1")
    threading.Thread(target=notifier.watchdog_loop, args=(stop,), daemon=True).start()
    try:
        server.run()
    except (OSError, ValueError):
        if not stop.is_set():  # closing the sockets on SIGTERM ends run() with one of these
            raise
    finally:
        stop.set()
        if advertiser is not None:
            advertiser.stop()
        store.close()
        logger.info("stopped")


def register(group: click.Group) -> None:
    group.add_command(serve)
