"""The production broker configuration (firmware_config/central) really confines boxes:
TLS with client certificates, CN as user name, per-box ACL patterns. Box A's relay that
tries to publish as box B gets PUBACK 0x87 and says so in its link state."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync import outbox
from sync.central.config import CentralConfig
from sync.central.receiver import run_receiver
from sync.relay import RelayOptions, run_relay
from sync.settings import BrokerSettings, TLSSettings
from sync.signing import generate_key_pair, load_signing_key
from tests.mosquitto import MosquittoBroker, free_port
from tests.sync.conftest import TPS, wait_until

ROOT = Path(__file__).resolve().parents[2]
PROD = ROOT / "firmware_config" / "central"
OPENSSL = shutil.which("openssl")


def openssl(*args: str, cwd: Path) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d: Path, names: list[str]) -> None:
    """A throwaway CA, a broker certificate for 127.0.0.1 and one client cert per name."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=titik-test-ca", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ext in [("broker", ["-extfile", "san.ext"])] + [(n, []) for n in names]:
        cn = "localhost" if name == "broker" else name
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={cn}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", *ext, cwd=d)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[MosquittoBroker, Path]]:
    if OPENSSL is None:
        pytest.skip("openssl CLI not installed")
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki, ["box-317101-a", "box-317101-b", "titik-central"])
    shutil.copy(PROD / "titik.acl", pki / "titik.acl")
    # the whole production file, only moved: its port, certificate and state paths
    port = free_port()
    conf = (PROD / "mosquitto.conf").read_text()
    assert "require_certificate true" in conf and "use_identity_as_username true" in conf
    (tmp_path / "state").mkdir()
    conf = (conf.replace("listener 8883\n", f"listener {port} 127.0.0.1\n")
            .replace("/etc/titik/central/", f"{pki}/")
            .replace("/var/lib/mosquitto/", f"{tmp_path / 'state'}/")
            .replace("log_dest syslog", f"log_dest file {tmp_path / 'mosquitto.log'}"))
    with MosquittoBroker(tmp_path / "broker", port=port, full_conf=conf) as broker:
        yield broker, pki


def tls(pki: Path, name: str) -> TLSSettings:
    return TLSSettings(ca_file=pki / "ca.crt", cert_file=pki / f"{name}.crt",
                       key_file=pki / f"{name}.key")


def box_db(path: Path, box_id: str, n: int) -> Path:
    path.mkdir(parents=True)
    conn = outbox.connect(str(path / "titik.db"))
    outbox.create_tables(conn)
    conn.execute("BEGIN")
    for page in range(1, n + 1):
        outbox.enqueue(conn, box_id=box_id, kind="reading", tps=TPS, page=page, payload={})
    conn.execute("COMMIT")
    conn.close()
    return path / "titik.db"


@pytest.mark.slow
def test_box_cannot_publish_as_another_box(
    tls_broker: tuple[MosquittoBroker, Path], tmp_path: Path
) -> None:
    broker, pki = tls_broker
    keys = tmp_path / "keys"
    for b in ("box-317101-a", "box-317101-b"):
        generate_key_pair(keys, b)
    central_keys = tmp_path / "central-keys"
    central_keys.mkdir()
    for b in ("box-317101-a", "box-317101-b"):
        shutil.copy(keys / f"{b}.pub", central_keys)
    stop = threading.Event()
    threads = []
    central_cfg = CentralConfig(
        broker=BrokerSettings(host="127.0.0.1", port=broker.port, tls=tls(pki, "titik-central")),
        database=tmp_path / "central.db", photo_dir=tmp_path / "photos",
        keys_dir=central_keys, backoff_min_s=0.1, backoff_max_s=0.5)
    receiver, t = run_receiver(central_cfg, stop)
    threads.append(t)

    def relay(data_name: str, box_id: str, cert: str) -> Path:
        db = box_db(tmp_path / data_name, box_id, 3)
        opts = RelayOptions(
            box_id=box_id, kabkota_code="3171", kecamatan_code="317101", db_path=db,
            photo_dir=db.parent / "photos", signing_key=load_signing_key(keys / f"{box_id}.key"),
            broker=BrokerSettings(host="127.0.0.1", port=broker.port, tls=tls(pki, cert)),
            backoff_min_s=0.1, backoff_max_s=0.5)
        threads.append(run_relay(opts, stop))
        return db

    try:
        assert receiver.ready.wait(15), "central could not subscribe through TLS + ACL"
        honest = relay("a", "box-317101-a", "box-317101-a")
        # box A's certificate, box B's id and topics: the broker must refuse every publish
        impostor = relay("a-as-b", "box-317101-b", "box-317101-a")

        def link(db: Path) -> dict[str, Any]:
            conn = outbox.connect(str(db))
            try:
                return outbox.status(conn)
            finally:
                conn.close()

        wait_until(lambda: link(honest)["delivered"] == 3, 30, "box A's own messages delivered")
        wait_until(lambda: int(link(impostor)["link"]["puback_failures"]) >= 3, 30,
                   "the impostor's refused PUBACKs counted")
        st = link(impostor)
        assert "0x87" in str(st["link"]["last_error"])
        assert st["delivered"] == 0 and st["published"] == 0 and st["pending"] == 3
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)


@pytest.mark.slow
def test_tls_helper_without_client_certificates(tmp_path: Path) -> None:
    if OPENSSL is None:
        pytest.skip("openssl CLI not installed")
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki, [])
    listener = MosquittoBroker.tls_listener(pki / "ca.crt", pki / "broker.crt",
                                            pki / "broker.key", require_certificate=False)
    with MosquittoBroker(tmp_path / "broker", listener_conf=listener) as broker:
        keys = tmp_path / "keys"
        generate_key_pair(keys, "box-317101-a")
        db = box_db(tmp_path / "a", "box-317101-a", 2)
        stop = threading.Event()
        opts = RelayOptions(
            box_id="box-317101-a", kabkota_code="3171", kecamatan_code="317101", db_path=db,
            photo_dir=db.parent / "photos",
            signing_key=load_signing_key(keys / "box-317101-a.key"),
            broker=BrokerSettings(host="127.0.0.1", port=broker.port,
                                  tls=TLSSettings(ca_file=pki / "ca.crt")),
            backoff_min_s=0.1, backoff_max_s=0.5)
        thread = run_relay(opts, stop)

        def published() -> int:
            conn = outbox.connect(str(db))
            try:
                return int(outbox.status(conn)["published"])
            finally:
                conn.close()

        try:
            # no central subscribed: PUBACK arrives over TLS, rows become published
            wait_until(lambda: published() == 2, 30, "PUBACKs over TLS")
        finally:
            stop.set()
            thread.join(15)
