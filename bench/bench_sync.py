"""Store-and-forward benchmark: relay throughput vs raw paho, a kecamatan's day through
a 1 MB/s link, recovery after a broker restart. All on loopback with a real mosquitto.

Default run is scaled down (see `scale` in the output); `TITIK_BENCH_SYNC_FULL=1` runs
the full day: 150 TPS x 3 pages, every page with a 3 MB photo (about 25 minutes at 1 MB/s).
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sync import outbox
from sync.central.config import CentralConfig
from sync.photos import TokenBucket
from sync.relay import RelayOptions, run_relay
from sync.settings import BrokerSettings
from sync.signing import generate_key_pair, load_signing_key
from tests.mosquitto import MosquittoBroker, free_port

BOX = "box-317101-bench"
FULL = os.environ.get("TITIK_BENCH_SYNC_FULL") == "1"


def _wait(pred: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


class _Setup:
    def __init__(self, root: Path, broker: MosquittoBroker) -> None:
        self.root = root
        self.broker = broker
        root.mkdir(parents=True, exist_ok=True)
        keys = root / "keys"
        generate_key_pair(keys, BOX)
        self.key = load_signing_key(keys / f"{BOX}.key")
        self.data = root / "box"
        self.data.mkdir(parents=True)
        self.db = self.data / "titik.db"
        conn = outbox.connect(str(self.db))
        outbox.create_tables(conn)
        conn.close()
        self.central_cfg = CentralConfig(
            broker=BrokerSettings(host=broker.host, port=broker.port),
            database=root / "central.db", photo_dir=root / "central-photos", keys_dir=keys,
            client_id="bench-central", backoff_min_s=0.2, backoff_max_s=1.0)

    def enqueue(self, items: list[tuple[str, int | None, Any, str | None]]) -> None:
        conn = outbox.connect(str(self.db))
        conn.execute("BEGIN IMMEDIATE")
        for kind, page, payload, sha in items:
            outbox.enqueue(conn, box_id=BOX, kind=kind, tps="3171011001001", page=page,
                           payload=payload, photo_sha256=sha)
        conn.execute("COMMIT")
        conn.close()

    def add_photo(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self.data / "photos" / sha[:2] / sha
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return sha

    def status(self) -> dict[str, Any]:
        conn = outbox.connect(str(self.db))
        try:
            return outbox.status(conn)
        finally:
            conn.close()

    def options(self, port: int, **over: Any) -> RelayOptions:
        opts = RelayOptions(box_id=BOX, kabkota_code="3171", kecamatan_code="317101",
                            db_path=self.db, photo_dir=self.data / "photos",
                            signing_key=self.key, broker=BrokerSettings(
                                host="127.0.0.1", port=port))
        for k, v in over.items():
            setattr(opts, k, v)
        return opts

    def central(self) -> subprocess.Popen[str]:
        """`titik central` in its own process (as in production: no GIL shared with the
        relay); returns once it has subscribed."""
        c = self.central_cfg
        conf = self.root / "central.toml"
        conf.write_text(
            f'database = "{c.database}"\nphoto_dir = "{c.photo_dir}"\n'
            f'keys_dir = "{c.keys_dir}"\nclient_id = "{c.client_id}"\n'
            f"backoff_min_s = 0.2\nbackoff_max_s = 1.0\n"
            f'[broker]\nhost = "127.0.0.1"\nport = {self.broker.port}\n')
        titik = str(Path(sys.executable).parent / "titik")
        proc = subprocess.Popen([titik, "central", "--config", str(conf)], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        for line in proc.stdout:
            if "central subscribed" in line:
                break
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
        return proc


def _result_payload(i: int) -> dict[str, Any]:
    return {"template": "C.HASIL-PPWP-2024", "status": "accepted",
            "fields": {f"suara_paslon_{k}": (i * 7 + k) % 300 for k in (1, 2, 3)},
            "checks": [{"rule": "suara_sah", "ok": True}], "confidence": 0.997}


def _raw_paho(broker: MosquittoBroker, n: int, payload: bytes, window: int) -> float:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                         client_id="bench-raw", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(window)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    t0 = time.perf_counter()
    infos = [client.publish(f"titik/v1/3171/317101/{BOX}/reading", payload, qos=1)
             for _ in range(n)]
    for info in infos:
        info.wait_for_publish(60)
    elapsed = time.perf_counter() - t0
    client.loop_stop()
    client.disconnect()
    return n / elapsed


def bench_throughput(root: Path, n: int) -> dict[str, Any]:
    with MosquittoBroker(root / "broker") as broker:
        out: dict[str, Any] = {"messages": n}
        for label, ack_window in (("publish", n), ("end_to_end", 256)):
            s = _Setup(root / label, broker)
            s.enqueue([("reading", 1, _result_payload(i), None) for i in range(n)])
            stop = threading.Event()
            central = s.central()
            t0 = time.perf_counter()
            relay = run_relay(s.options(broker.port, ack_window=ack_window), stop)
            _wait(lambda s=s: s.status()["pending"] == 0, 300)
            published = time.perf_counter() - t0
            ok = _wait(lambda s=s: s.status()["delivered"] == n, 300)
            delivered = time.perf_counter() - t0
            stop.set()
            relay.join()
            central.terminate()
            central.wait()
            out[label] = {"ack_window": ack_window, "all_delivered": ok,
                          "published_msgs_per_s": round(n / published, 1),
                          "delivered_msgs_per_s": round(n / delivered, 1)}
        # like for like with raw paho: no subscriber, the time until every row is PUBACKed;
        # alternated three times, medians, because the machine is shared and noisy
        alone: list[float] = []
        raws: list[float] = []
        for rep in range(3):
            s = _Setup(root / f"alone{rep}", broker)
            s.enqueue([("reading", 1, _result_payload(i), None) for i in range(n)])
            stop = threading.Event()
            t0 = time.perf_counter()
            relay = run_relay(s.options(broker.port, ack_window=n), stop)
            _wait(lambda s=s: s.status()["pending"] == 0, 300)
            alone.append(n / (time.perf_counter() - t0))
            stop.set()
            relay.join()
            raws.append(_raw_paho(broker, n, b"x" * 600, 32))
        out["relay_alone_published_msgs_per_s"] = round(statistics.median(alone), 1)
        raw = statistics.median(raws)
    out["raw_paho_qos1_msgs_per_s"] = round(raw, 1)
    out["ratio_relay_alone_to_raw"] = round(out["relay_alone_published_msgs_per_s"] / raw, 3)
    out["ratio_relay_publish_to_raw"] = round(out["publish"]["published_msgs_per_s"] / raw, 3)
    out["ratio_end_to_end_to_raw"] = round(out["end_to_end"]["delivered_msgs_per_s"] / raw, 3)
    out["note"] = (
        "relay_alone: no subscriber, like raw; publish: relay signs, publishes and records "
        "every PUBACK (central running, ack window not limiting); end_to_end: default window "
        "256 (8 x inflight 32), central verifies, stores, commits, acks, outbox marked "
        "delivered; raw: paho QoS 1 PUBACKs of 600-byte messages, window 32, same broker, run")
    return out


class _RateLimitedProxy:
    """TCP proxy to the broker; box->broker bytes go through a token bucket (the uplink)."""

    def __init__(self, upstream_port: int, rate_bps: float) -> None:
        self.port = free_port()
        self.upstream = upstream_port
        self.rate = rate_bps
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.stop = threading.Event()
        threading.Thread(target=self._accept, name="bench-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                down, _ = self.sock.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.upstream))
            bucket = TokenBucket(self.rate, self.rate / 20)
            threading.Thread(target=self._pump, args=(down, up, bucket), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, None), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, bucket: TokenBucket | None) -> None:
        try:
            while True:
                data = src.recv(16384)
                if not data:
                    break
                if bucket is not None:
                    while not bucket.ready():
                        time.sleep(0.002)
                    bucket.take(len(data))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            src.close()
            dst.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def bench_kecamatan_day(root: Path, tps: int, photos: int, photo_bytes: int) -> dict[str, Any]:
    link_bps = 1_000_000
    with MosquittoBroker(root / "broker") as broker:
        s = _Setup(root, broker)
        items: list[tuple[str, int | None, Any, str | None]] = []
        n_photo = 0
        for t in range(tps):
            for page in (1, 2, 3):
                if n_photo < photos:
                    sha = s.add_photo(os.urandom(photo_bytes))
                    items.append(("photo", page, {"size": photo_bytes}, sha))
                    n_photo += 1
                items.append(("reading", page, _result_payload(t), None))
                items.append(("audit", None, {"event": "upload", "tps": t, "page": page}, None))
                items.append(("confirmation", page, {"by": "kpps", "tps": t}, None))
        s.enqueue(items)
        n_results = sum(1 for k, *_ in items if k in ("reading", "confirmation"))
        proxy = _RateLimitedProxy(broker.port, link_bps)
        stop = threading.Event()
        central = s.central()
        # photos capped below the link so results and acks always have room
        opts = s.options(proxy.port, photo_bandwidth_bps=0.8 * link_bps)
        t0 = time.time()
        relay = run_relay(opts, stop)
        ok = _wait(lambda: s.status()["pending"] + s.status()["published"] == 0,
                   120 + 2 * photos * photo_bytes / link_bps)
        drained = time.time() - t0
        stop.set()
        relay.join()
        central.terminate()
        central.wait()
        proxy.close()
        conn = sqlite3.connect(s.central_cfg.database)
        last_result = conn.execute(
            "SELECT MAX(received_at) FROM messages WHERE kind IN ('reading', 'confirmation')"
        ).fetchone()[0]
        first_photo = conn.execute(
            "SELECT MIN(received_at) FROM messages WHERE kind = 'photo'").fetchone()[0]
        conn.close()
    return {"tps": tps, "pages": 3 * tps, "result_messages": n_results,
            "audit_messages": 3 * tps, "photos": photos, "photo_bytes": photo_bytes,
            "link_bytes_per_s": link_bps, "all_delivered": ok,
            "last_result_s_after_link_up": round(last_result - t0, 2),
            "first_photo_chunk_s_after_link_up": round(first_photo - t0, 2) if first_photo
            else None,
            "drain_s": round(drained, 1)}


def bench_recovery(root: Path, rounds: int) -> dict[str, Any]:
    with MosquittoBroker(root / "broker") as broker:
        s = _Setup(root, broker)
        stop = threading.Event()
        central = s.central()
        relay = run_relay(s.options(broker.port, backoff_min_s=1.0, backoff_max_s=120.0), stop)
        times = []
        for r in range(rounds):
            s.enqueue([("reading", 1, _result_payload(r), None)])
            _wait(lambda: s.status()["pending"] + s.status()["published"] == 0, 60)
            broker.kill()
            time.sleep(1.0)
            broker.start()
            t0 = time.perf_counter()
            s.enqueue([("reading", 2, _result_payload(r), None)])
            _wait(lambda: s.status()["pending"] + s.status()["published"] == 0, 120)
            times.append(time.perf_counter() - t0)
        stop.set()
        relay.join()
        central.terminate()
        central.wait()
    return {"rounds": rounds, "broker_down_s": 1.0, "backoff_min_s": 1.0,
            "recovery_s_median": round(statistics.median(times), 2),
            "recovery_s_max": round(max(times), 2),
            "note": "broker restarted -> a result enqueued after the restart is delivered "
                    "(both relay and central reconnect with full-jitter backoff)"}


def run() -> dict[str, Any]:
    out: dict[str, Any] = {"scale": "full" if FULL else "reduced (TITIK_BENCH_SYNC_FULL=1 for "
                           "all 450 photos of 3 MB)"}
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        root = Path(tmp)
        (root / "t").mkdir()
        out["throughput"] = bench_throughput(root / "t", 5000 if FULL else 2000)
        (root / "d").mkdir()
        out["kecamatan_day"] = bench_kecamatan_day(root / "d", 150, 450 if FULL else 12,
                                                   3_000_000)
        (root / "r").mkdir()
        out["broker_restart"] = bench_recovery(root / "r", 5)
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
