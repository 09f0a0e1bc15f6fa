"""The relay: drains the box outbox to central over MQTT and records what arrived.

One named worker thread drives everything (paho's network loop, the database,
reconnects), so paho callbacks run on that thread and only queue events; the
loop applies them to the database in one transaction per turn.

Order of work: results (reading/confirmation/correction/review) before audit
before photos. At most `inflight_window` messages wait for a PUBACK and at most
`ack_window` for central's ack; photo chunks get `photo_inflight` slots and an
optional token bucket, so a result never queues behind megabytes of photo.

Test-only fault hook: `TITIK_FAULT="after_puback:0.3,before_publish:0.1"` makes the
process `os._exit(137)` at that point with that probability (points: `before_publish`
- after the row was committed and read, before paho sees it; `after_puback` - PUBACK
received, before the DB update; `after_ack` - central's ack received, before the DB
update). Never set it on a box.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from nacl.signing import SigningKey

from sync import outbox, progress
from sync.backoff import Backoff
from sync.envelope import VERSION, Envelope, ack_topic, encode, encode_stored, topic_for
from sync.mqtt import due_to_connect, make_client, start_connect
from sync.photos import TokenBucket, chunk_count, photo_path, read_chunk
from sync.settings import BrokerSettings
from sync.window import Key, Window

logger = logging.getLogger(__name__)

CONNACK_TIMEOUT_S = 15.0
LINK_WRITE_EVERY_S = 1.0
WATCHDOG_EVERY_S = 5.0
READ_BURST = 512
NO_SUBSCRIBERS = 0x10
NO_SUBSCRIBERS_RETRY_S = 2.0


@dataclass
class RelayOptions:
    box_id: str
    kabkota_code: str
    kecamatan_code: str
    db_path: Path
    photo_dir: Path
    signing_key: SigningKey
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    host: str | None = None  # overrides broker.host (`--broker`)
    port: int | None = None
    inflight_window: int = 32
    ack_window: int = 256
    photo_inflight: int = 2
    ack_timeout_s: float = 30.0
    photo_chunk_bytes: int = 256 * 1024
    photo_bandwidth_bps: float | None = None
    backoff_min_s: float = 1.0
    backoff_max_s: float = 120.0
    puback_retry_s: float = 30.0  # wait after a refused PUBACK before trying that message again


def parse_faults(spec: str | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in (spec or "").split(","):
        if part.strip():
            name, _, p = part.partition(":")
            out[name.strip()] = float(p or "1")
    return out


class Relay:
    def __init__(self, options: RelayOptions, stop: threading.Event) -> None:
        self.o = options
        self.stop = stop
        self.faults = parse_faults(os.environ.get("TITIK_FAULT"))
        self.backoff = Backoff(options.backoff_min_s, options.backoff_max_s)
        self.bucket = (
            TokenBucket(options.photo_bandwidth_bps, max(options.photo_bandwidth_bps,
                                                         options.photo_chunk_bytes))
            if options.photo_bandwidth_bps else None
        )
        self.client: mqtt.Client | None = None
        self.connected = False
        self.ever_connected = False
        self.expired_at = 0.0
        self.connect_started = 0.0
        self.next_attempt = 0.0
        self.window = Window(options.inflight_window, options.ack_window)
        self.events: list[tuple[str, Any]] = []
        self.link: dict[str, Any] = {"up": 0, "since": time.time(), "last_error": None,
                                     "last_ack_at": None, "puback_failures": 0, "reconnects": 0}
        self.link_dirty = True
        self.link_written = 0.0
        self.photo_missing: dict[int, str] = {}  # seq -> path of a photo file not on disk
        self.counters = {"published": 0, "pubacks": 0, "delivered": 0, "refused": 0}
        self.conn: sqlite3.Connection | None = None
        self.to_publish: list[int] = []
        self.to_deliver: list[int] = []
        # (priority, seq) of the last result/audit row handed to paho: the next read starts
        # after it, so a backlog of thousands is read once, not rescanned with the window
        # every turn. None: read from the start, leaving out what is in the window (after
        # a reconnect, an expiry, a hold ending, a resend, or new rows).
        self.scan_after: tuple[int, int] | None = None
        self.last_seq_seen = 0
        # Signed wire bytes of results/audit out and not yet delivered: Ed25519 is
        # deterministic and rows never change, so a republish needs no new signature.
        self.wire: dict[int, bytes] = {}

    # --- fault injection (tests only) -------------------------------------------------
    def _fault(self, point: str) -> None:
        p = self.faults.get(point)
        if p and random.random() < p:
            logger.warning("TITIK_FAULT %s: exiting now", point)
            os._exit(137)

    # --- thread body -------------------------------------------------------------------
    def run(self) -> None:
        self.conn = outbox.connect(str(self.o.db_path))
        outbox.create_tables(self.conn)
        # The relay only records progress (published/delivered). Losing the last of that to a
        # power cut makes it send again, and central keeps the first copy, so it may skip the
        # fsync per commit that the messages themselves (written by the gateway) must have.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        logger.info("relay for %s: %s", self.o.box_id, self.o.db_path)
        notifier = _notifier()
        if notifier is not None:
            notifier.notify("READY=1")
        watchdog_at = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            if self.client is None:
                if due_to_connect(self.stop, now=now, next_attempt=self.next_attempt):
                    self._connect()
            else:
                self._turn(now)
            self._write_link()
            if notifier is not None and now - watchdog_at > WATCHDOG_EVERY_S:
                notifier.notify("WATCHDOG=1")
                watchdog_at = now
        if self.client is not None:
            self.client.disconnect()
        self.link.update(up=0, since=time.time(), last_error="relay stopped")
        self.link_dirty = True
        self._write_link(force=True)
        self.conn.close()
        logger.info("relay stopped: %s", self.counters)

    def _turn(self, now: float) -> None:
        assert self.client is not None
        busy = bool(self.window.mids)
        rc = self.client.loop(timeout=0.005 if busy else 0.1)
        if rc == mqtt.MQTT_ERR_SUCCESS and self.events:
            rc = self.client.loop_read(max_packets=READ_BURST)  # the rest of a burst of acks
        if rc != mqtt.MQTT_ERR_SUCCESS and not self.events:
            self._lost(f"network: {mqtt.error_string(rc)}")
            return
        if not self.connected and now - self.connect_started > CONNACK_TIMEOUT_S:
            self._lost("no CONNACK from the broker")
            return
        self._apply_events()
        if self.connected:
            self._expire(now)
            self._fill()

    # --- connection --------------------------------------------------------------------
    def _connect(self) -> None:
        host = self.o.host or self.o.broker.host
        port = self.o.port or self.o.broker.port
        client = make_client(self.o.broker, self.o.box_id, inflight=self.o.inflight_window)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self.connect_started = time.monotonic()
        try:
            start_connect(client, self.o.broker, host, port)
        except OSError as exc:
            self._lost(f"connect {host}:{port}: {exc}", client=client)
            return
        self.client = client

    def _lost(self, why: str, client: mqtt.Client | None = None) -> None:
        delay = self.backoff.next_delay()
        was_up = self.connected
        logger.warning("link down (%s); next attempt in %.1f s", why, delay)
        for c in (client, self.client):
            if c is not None:
                c.disconnect()
                c.loop(timeout=0)  # flush DISCONNECT and close the socket
        self.client = None
        self.connected = False
        self.window.clear()  # republish all of it on the next connection
        self.scan_after = None
        self.events.clear()
        self.next_attempt = time.monotonic() + delay
        self.link["last_error"] = why
        if was_up:
            self.link.update(up=0, since=time.time())
        self.link_dirty = True

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any,
                    props: Any) -> None:
        if rc.is_failure:
            self.events.append(("connect_failed", str(rc)))
            return
        client.subscribe(ack_topic(self.o.box_id), qos=1)
        self.events.append(("connected", None))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any,
                       props: Any) -> None:
        self.events.append(("disconnected", str(rc)))

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, codes: list[Any],
                      props: Any) -> None:
        refused = [c for c in codes if c.is_failure]
        if refused:
            # without the ack topic nothing is ever marked delivered: say so loudly
            why = f"broker refused the ack topic {ack_topic(self.o.box_id)}: {refused[0]}"
            logger.error("%s", why)
            self.link["last_error"] = why
            self.link_dirty = True

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, rc: Any,
                    props: Any) -> None:
        self.events.append(("puback", (mid, rc)))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except (ValueError, RecursionError):
            logger.warning("unreadable message on %s ignored", msg.topic)
            return
        if isinstance(body, dict):
            self.events.append(("central", body))

    # --- applying events ---------------------------------------------------------------
    def _apply_events(self) -> None:
        if not self.events:
            return
        events, self.events = self.events, []
        conn = self.conn
        assert conn is not None
        now = time.time()
        self.to_publish = []
        self.to_deliver = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for name, value in events:
                if name == "puback":
                    self._apply_puback(conn, *value, now=now)
                elif name == "central":
                    self._apply_central(conn, value, now=now)
                elif name == "connected":
                    self.connected = True
                    self.backoff.reset()
                    if self.ever_connected:
                        self.link["reconnects"] += 1
                    self.ever_connected = True
                    self.link.update(up=1, since=now, last_error=self._missing_error())
                    self.link_dirty = True
                    logger.info("link up")
            # one statement per kind of change: a turn may carry hundreds of acks
            progress.mark_published(conn, self.o.box_id, self.to_publish, now)
            self.counters["delivered"] += progress.mark_delivered(
                conn, self.o.box_id, self.to_deliver, now)
            for seq in self.to_deliver:
                self.wire.pop(seq, None)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        for name, value in events:
            if name in ("connect_failed", "disconnected"):
                self._lost(f"{name}: {value}")
                break

    def _apply_puback(self, conn: sqlite3.Connection, mid: int, rc: Any, *, now: float) -> None:
        key = self.window.puback(mid)
        if key is None:
            return
        if rc.is_failure:
            self.window.refused(key, time.monotonic() + self.o.puback_retry_s)
            self.counters["refused"] += 1
            self.link["puback_failures"] += 1
            self.link["last_error"] = f"broker refused seq {key[0]}: {rc} (0x{rc.value:02x})"
            self.link_dirty = True
            logger.error("broker refused seq %s chunk %s: %s (0x%02x)", key[0], key[1], rc,
                         rc.value)
            return
        self._fault("after_puback")
        self.counters["pubacks"] += 1
        if rc.value == NO_SUBSCRIBERS:
            # Nobody (central) subscribed yet, e.g. right after a broker restart without
            # persistence: the broker dropped it, so try again soon instead of after the
            # full ack timeout.
            self.window.retry_after(key, time.monotonic(), self.o.ack_timeout_s,
                                    min(self.o.ack_timeout_s, NO_SUBSCRIBERS_RETRY_S))
        self.to_publish.append(key[0])

    def _apply_central(self, conn: sqlite3.Connection, body: dict[str, Any], *,
                       now: float) -> None:
        for item in body.get("acks") or []:
            if not (isinstance(item, list) and len(item) >= 2 and isinstance(item[0], int)):
                continue
            self._fault("after_ack")
            seq, idx = item[0], item[1]
            self.link["last_ack_at"] = now
            self.link_dirty = True
            if idx is None:
                self.window.acked((seq, -1))
                self.to_deliver.append(seq)
            elif isinstance(idx, int):
                self.window.acked((seq, idx))
                if progress.record_chunk_ack(conn, self.o.box_id, seq, idx, self.o.photo_dir,
                                             self.o.photo_chunk_bytes):
                    self.to_deliver.append(seq)
        for rng in body.get("resend") or []:
            if isinstance(rng, list) and len(rng) == 2 and all(isinstance(x, int) for x in rng):
                n = progress.reopen_delivered(conn, self.o.box_id, rng[0], rng[1])
                if n:
                    self.scan_after = None
                    logger.warning("central asks again for seq %s..%s: %d message(s)",
                                   rng[0], rng[1], n)

    # --- sending -----------------------------------------------------------------------
    def _expire(self, now: float) -> None:
        if now - self.expired_at < 0.5:
            return
        self.expired_at = now
        held = len(self.window.held)
        late = self.window.expire(now, self.o.ack_timeout_s)
        if late or len(self.window.held) != held:
            self.scan_after = None
        if late:
            logger.info("%d message(s) without central ack after %.0f s: sending again",
                        late, self.o.ack_timeout_s)

    def _fill(self) -> None:
        free = self.window.free()
        if free <= 0:
            return
        conn = self.conn
        assert conn is not None
        newest = conn.execute("SELECT last_seq FROM sync_seq WHERE box_id = ?",
                              (self.o.box_id,)).fetchone()
        if newest is not None and newest[0] > self.last_seq_seen:
            self.last_seq_seen = newest[0]
            self.scan_after = None  # a new result may rank before the scan position
        busy, busy_photos = self.window.busy_seqs()
        limit = free + len(busy_photos)  # photos stay in: their other chunks may be due
        if self.scan_after is None:
            # Messages already out are left out in SQL (a Python-side skip would re-read the
            # whole window)
            rows = conn.execute(
                f"SELECT {outbox.ENVELOPE_COLUMNS}, priority FROM sync_outbox"
                " INDEXED BY sync_outbox_todo WHERE state != 'delivered' AND box_id = ?"
                " AND seq NOT IN (SELECT value FROM json_each(?)) ORDER BY priority, seq LIMIT ?",
                (self.o.box_id, json.dumps(busy), limit),
            ).fetchall()
        else:
            rows = conn.execute(
                f"SELECT {outbox.ENVELOPE_COLUMNS}, priority FROM sync_outbox"
                " INDEXED BY sync_outbox_todo WHERE state != 'delivered' AND box_id = ?"
                " AND (priority, seq) > (?, ?) ORDER BY priority, seq LIMIT ?",
                (self.o.box_id, *self.scan_after, limit),
            ).fetchall()
        photo_slots = self.o.photo_inflight - self.window.photo_chunks_waiting_puback()
        for row in rows:
            if self.window.free() <= 0:
                break
            seq, kind = row[1], row[3]  # ENVELOPE_COLUMNS order; parse only what is sent
            if kind != "photo":
                key = (seq, -1)
                if not self.window.is_out(key) and not self._publish_row(row, key):
                    break
                self.scan_after = (row[9], seq)
                continue
            if photo_slots <= 0:
                break  # photos come last in the order, so nothing further fits either
            # the scan position stays before the photos: each is read again until all its
            # chunks are out
            photo_slots -= self._send_photo(conn, outbox.row_envelope(row), photo_slots)

    def _send_photo(self, conn: sqlite3.Connection, env: Envelope, slots: int) -> int:
        assert env.photo_sha256 is not None
        path = photo_path(self.o.photo_dir, env.photo_sha256)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            # The row stays pending and is tried again every turn (the file may come back
            # from a backup); it is never marked delivered, and the rest of the outbox
            # goes on around it.
            if env.seq not in self.photo_missing:
                self.photo_missing[env.seq] = str(path)
                self.link["last_error"] = self._missing_error()
                self.link_dirty = True
                logger.error("photo file missing for seq %s: %s", env.seq, path)
            return 0
        if self.photo_missing.pop(env.seq, None) is not None:
            logger.info("photo file for seq %s is back: sending it", env.seq)
            self.link["last_error"] = self._missing_error()
            self.link_dirty = True
        count = chunk_count(size, self.o.photo_chunk_bytes)
        acked = progress.chunk_acks(conn, self.o.box_id, env.seq)
        sent = 0
        for idx in range(count):
            key = (env.seq, idx)
            if idx in acked or self.window.is_out(key):
                continue
            if sent >= slots or self.window.free() <= 0:
                break
            if self.bucket is not None and not self.bucket.ready():
                break
            data = read_chunk(path, idx, self.o.photo_chunk_bytes)
            chunk = {"index": idx, "count": count, "offset": idx * self.o.photo_chunk_bytes,
                     "photo_size": size}
            self._publish(replace(env, chunk=chunk), key, data)
            if self.bucket is not None:
                self.bucket.take(len(data))
            sent += 1
        return sent

    def _publish_row(self, row: tuple[Any, ...], key: Key) -> bool:
        """Publish a result/audit row straight from its stored canonical JSON."""
        box_id, seq, id_, kind, tps, page, created_at, payload, photo_sha256 = row[:9]
        topic = topic_for(self.o.kabkota_code, self.o.kecamatan_code, box_id, kind)
        data = self.wire.get(seq)
        if data is None:
            fields = {"v": VERSION, "id": id_, "box_id": box_id, "seq": seq, "kind": kind,
                      "tps": tps, "page": page, "created_at": created_at,
                      "photo_sha256": photo_sha256}
            data = encode_stored(topic, fields, payload, self.o.signing_key)
            if len(self.wire) >= 4 * self.o.ack_window:
                self.wire.clear()  # only a cache: bounded even if central never acks
            self.wire[seq] = data
        return self._send(topic, data, key)

    def _publish(self, env: Envelope, key: Key, body: bytes = b"") -> bool:
        topic = topic_for(self.o.kabkota_code, self.o.kecamatan_code, self.o.box_id, env.kind)
        return self._send(topic, encode(topic, env, self.o.signing_key, body), key)

    def _send(self, topic: str, data: bytes, key: Key) -> bool:
        assert self.client is not None
        self._fault("before_publish")
        info = self.client.publish(topic, data, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False  # the link is going down; the loop notices and reconnects
        self.window.sent(info.mid, key, time.monotonic())
        self.counters["published"] += 1
        return True

    # --- link state for the dashboard --------------------------------------------------
    def _missing_error(self) -> str | None:
        if not self.photo_missing:
            return None
        seq = min(self.photo_missing)
        return (f"file foto hilang / photo file missing: {len(self.photo_missing)} foto, "
                f"seq {seq}: {self.photo_missing[seq]}")

    def _write_link(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and not self.link_dirty and now - self.link_written < LINK_WRITE_EVERY_S:
            return
        if not force and now - self.link_written < 0.2:
            return
        assert self.conn is not None
        outbox.write_link(self.conn, backlog=outbox.backlog(self.conn), **self.link)
        self.link_written = now
        self.link_dirty = False


def _notifier() -> Any:
    if not os.environ.get("NOTIFY_SOCKET"):
        return None
    import sdnotify

    return sdnotify.SystemdNotifier()


def run_relay(options: RelayOptions, stop: threading.Event) -> threading.Thread:
    """Start the relay worker thread; set `stop` to end it."""
    relay = Relay(options, stop)
    thread = threading.Thread(target=relay.run, name="titik-relay", daemon=False)
    thread.start()
    return thread
