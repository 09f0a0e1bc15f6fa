"""Fixtures for the store-and-forward tests: a real broker, box DB, keys, central."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sync import outbox
from sync.central.config import CentralConfig
from sync.central.receiver import Receiver, run_receiver
from sync.relay import RelayOptions, run_relay
from sync.settings import BrokerSettings
from sync.signing import generate_key_pair, load_signing_key
from tests.mosquitto import MosquittoBroker

BOX = "box-317101-test"
KABKOTA = "3171"
KECAMATAN = "317101"
TPS = "3171011001001"


def wait_until(pred: Callable[[], bool], timeout_s: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what or pred}")


@dataclass
class Box:
    """A box's data dir with an outbox DB, like the gateway's store makes it."""

    data_dir: Path
    key_file: Path
    box_id: str = BOX

    @property
    def db_path(self) -> Path:
        return self.data_dir / "titik.db"

    @property
    def photo_dir(self) -> Path:
        return self.data_dir / "photos"

    def connect(self) -> sqlite3.Connection:
        return outbox.connect(str(self.db_path))

    def add_result(self, page: int | None = 1, kind: str = "reading", tps: str = TPS,
                   values: dict[str, int] | None = None) -> int:
        conn = self.connect()
        conn.execute("BEGIN IMMEDIATE")
        seq = outbox.enqueue(conn, box_id=self.box_id, kind=kind, tps=tps, page=page,
                             payload={"fields": values or {"suara_paslon_1": 12}})
        conn.execute("COMMIT")
        conn.close()
        return seq

    def add_photo(self, data: bytes, page: int = 1, tps: str = TPS) -> tuple[int, str]:
        sha = hashlib.sha256(data).hexdigest()
        path = self.photo_dir / sha[:2] / sha
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        conn = self.connect()
        conn.execute("BEGIN IMMEDIATE")
        seq = outbox.enqueue(conn, box_id=self.box_id, kind="photo", tps=tps, page=page,
                             payload={"size": len(data)}, photo_sha256=sha)
        conn.execute("COMMIT")
        conn.close()
        return seq, sha

    def status(self) -> dict[str, Any]:
        conn = self.connect()
        try:
            return outbox.status(conn)
        finally:
            conn.close()

    def all_delivered(self) -> bool:
        st = self.status()
        return bool(st["pending"] == 0 and st["published"] == 0)

    def rows(self) -> list[tuple[int, str]]:
        conn = self.connect()
        try:
            return [(int(s), str(i)) for s, i in
                    conn.execute("SELECT seq, id FROM sync_outbox ORDER BY seq")]
        finally:
            conn.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "broker") as b:
        yield b


@pytest.fixture
def box(tmp_path: Path) -> Box:
    files = generate_key_pair(tmp_path / "keys", BOX)
    data = tmp_path / "box"
    data.mkdir()
    conn = outbox.connect(str(data / "titik.db"))
    outbox.create_tables(conn)
    conn.close()
    central_keys = tmp_path / "central-keys"
    central_keys.mkdir()
    shutil.copy(files.public, central_keys / f"{BOX}.pub")
    return Box(data_dir=data, key_file=files.private)


@pytest.fixture
def central_config(tmp_path: Path, broker: MosquittoBroker, box: Box) -> CentralConfig:
    return CentralConfig(
        broker=BrokerSettings(host=broker.host, port=broker.port),
        database=tmp_path / "central" / "central.db",
        photo_dir=tmp_path / "central" / "photos",
        keys_dir=tmp_path / "central-keys",
        client_id=f"central-{os.getpid()}",
        resend_interval_s=2.0,
        backoff_min_s=0.05,
        backoff_max_s=0.5,
    )


@pytest.fixture
def central(central_config: CentralConfig) -> Iterator[Receiver]:
    stop = threading.Event()
    receiver, thread = run_receiver(central_config, stop)
    assert receiver.ready.wait(15), "central did not subscribe"
    yield receiver
    stop.set()
    thread.join(timeout=15)


def relay_options(box: Box, broker: MosquittoBroker, **over: object) -> RelayOptions:
    opts = RelayOptions(
        box_id=box.box_id, kabkota_code=KABKOTA, kecamatan_code=KECAMATAN,
        db_path=box.db_path, photo_dir=box.photo_dir,
        signing_key=load_signing_key(box.key_file),
        broker=BrokerSettings(host=broker.host, port=broker.port, keepalive_s=5),
        ack_timeout_s=5.0, photo_chunk_bytes=64 * 1024, backoff_min_s=0.1, backoff_max_s=1.0,
    )
    for k, v in over.items():
        setattr(opts, k, v)
    return opts


@pytest.fixture
def start_relay(box: Box, broker: MosquittoBroker) -> Iterator[Callable[..., threading.Event]]:
    running: list[tuple[threading.Event, threading.Thread]] = []

    def start(**over: object) -> threading.Event:
        stop = threading.Event()
        running.append((stop, run_relay(relay_options(box, broker, **over), stop)))
        return stop

    yield start
    for stop, thread in running:
        stop.set()
        thread.join(timeout=15)


DEMO_BOX_TOML = Path(__file__).resolve().parents[2] / "firmware_config" / "example" / "box.toml"


def write_box_config(path: Path, box: Box, broker: MosquittoBroker, **relay: object) -> Path:
    """The demo box.toml, made into this test's box: its id, key and broker port."""
    text = DEMO_BOX_TOML.read_text()
    text = text.replace('id = "box-317101-demo"', f'id = "{box.box_id}"')
    text = text.replace('signing_key_file = "keys/box-317101-demo.key"',
                        f'signing_key_file = "{box.key_file}"')
    text = text.replace("[relay.broker]\nhost = \"127.0.0.1\"\nport = 1883",
                        f"[relay.broker]\nhost = \"127.0.0.1\"\nport = {broker.port}\n"
                        "keepalive_s = 5")
    for k, v in relay.items():
        line = f"{k} = {v!r}".replace("'", '"')
        text, n = re.subn(rf"^{k} = .*$", line, text, flags=re.M)
        if not n:
            text = text.replace("[relay]\n", f"[relay]\n{line}\n")
    path.write_text(text)
    return path


def central_rows(receiver: Receiver) -> list[tuple[int, str]]:
    """(seq, id) of every message central stored, in seq order."""
    conn = sqlite3.connect(receiver.c.database)
    try:
        return [(int(s), str(i)) for s, i in
                conn.execute("SELECT seq, id FROM messages ORDER BY seq")]
    finally:
        conn.close()


def titik_exe() -> str:
    import sys

    return str(Path(sys.executable).parent / "titik")
