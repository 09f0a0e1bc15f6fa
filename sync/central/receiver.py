"""The central receiver: one worker thread with its own MQTT loop.

Each turn takes the messages paho delivered, verifies them, stores the batch in
one transaction, commits, THEN acks: MQTT-level (manual ack, so the broker
redelivers what we never committed) and application-level on `titik/v1/ack/<box>`.
Refused messages (malformed, oversized, unknown box, forged, replayed) are logged,
counted in the `refusals` table and MQTT-acked so the broker does not redeliver
them forever; they get no application ack.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from nacl.signing import VerifyKey

from sync.backoff import Backoff
from sync.central.config import CentralConfig
from sync.central.store import CentralStore
from sync.envelope import ACK_PREFIX, EnvelopeError, Message, ack_topic, decode, split
from sync.mqtt import due_to_connect, make_client, start_connect
from sync.signing import load_verify_keys

logger = logging.getLogger(__name__)

# Box messages have exactly six levels (titik/v1/<kabkota>/<kecamatan>/<box>/<kind>);
# the four-level ack topics we publish ourselves do not match, so they never echo back.
SUBSCRIPTION = "$share/titik/titik/v1/+/+/+/+"
KEY_RESCAN_S = 10.0
CONNACK_TIMEOUT_S = 15.0
READ_BURST = 512


@dataclass
class _Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int


class Receiver:
    def __init__(self, config: CentralConfig, stop: threading.Event, *,
                 host: str | None = None, port: int | None = None) -> None:
        self.c = config
        self.stop = stop
        self.host = host or config.broker.host
        self.port = port or config.broker.port
        self.backoff = Backoff(config.backoff_min_s, config.backoff_max_s)
        self.keys: dict[str, VerifyKey] = {}
        self.keys_at = 0.0
        self.client: mqtt.Client | None = None
        self.connected = False
        self.connect_started = 0.0
        self.next_attempt = 0.0
        self.inbox: list[_Incoming] = []
        self.lost: str | None = None
        self.resend_at = time.monotonic() + config.resend_interval_s
        self.counters: dict[str, int] = defaultdict(int)
        self.ready = threading.Event()  # set once subscribed (tests and benches wait on it)

    def run(self) -> None:
        store = CentralStore(self.c.database, self.c.photo_dir)
        self._load_keys()
        logger.info("central: %d box key(s), database %s", len(self.keys), self.c.database)
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                if self.client is None:
                    if due_to_connect(self.stop, now=now, next_attempt=self.next_attempt):
                        self._connect()
                    continue
                rc = self.client.loop(timeout=0.05)
                if rc == mqtt.MQTT_ERR_SUCCESS and self.inbox:
                    # loop() reads one packet per call here; take all that is waiting, so a
                    # whole burst is stored in one transaction
                    rc = self.client.loop_read(max_packets=READ_BURST)
                if self.inbox:
                    self._process(store)
                if rc != mqtt.MQTT_ERR_SUCCESS or self.lost:
                    self._down(self.lost or mqtt.error_string(rc))
                elif not self.connected and now - self.connect_started > CONNACK_TIMEOUT_S:
                    self._down("no CONNACK")
                elif now >= self.resend_at:
                    self._ask_resends(store)
        finally:
            if self.client is not None:
                self.client.disconnect()
            store.close()
            logger.info("central stopped: %s", dict(self.counters))

    def _load_keys(self) -> None:
        self.keys = load_verify_keys(self.c.keys_dir)
        self.keys_at = time.monotonic()

    # --- connection --------------------------------------------------------------------
    def _connect(self) -> None:
        client = make_client(self.c.broker, self.c.client_id, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self.lost = None
        self.connect_started = time.monotonic()
        try:
            start_connect(client, self.c.broker, self.host, self.port)
        except OSError as exc:
            self.client = client
            self._down(f"connect {self.host}:{self.port}: {exc}")
            return
        self.client = client

    def _down(self, why: str) -> None:
        delay = self.backoff.next_delay()
        logger.warning("central link down (%s); next attempt in %.1f s", why, delay)
        if self.client is not None:
            self.client.disconnect()
            self.client.loop(timeout=0)
        self.client = None
        self.connected = False
        self.ready.clear()
        self.inbox.clear()  # never acked: the broker redelivers them
        self.next_attempt = time.monotonic() + delay

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any,
                    props: Any) -> None:
        if rc.is_failure:
            self.lost = f"connect refused: {rc}"
            return
        client.subscribe(SUBSCRIPTION, qos=1)
        self.connected = True
        self.backoff.reset()

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reason_codes: list[Any], props: Any) -> None:
        # Ready once the broker holds the subscription (its SUBACK), not when it was asked
        # for: a box publishing in between would find no subscriber, and that message would
        # wait for the box's resend (seen once as a test waiting 15 s for an ack, on a
        # loaded machine).
        refused = [rc for rc in reason_codes if rc.is_failure]
        if refused:
            # Nothing would ever arrive: reconnect with backoff, saying why.
            self.lost = f"subscription refused: {refused[0]}"
            return
        self.ready.set()
        logger.info("central subscribed to %s", SUBSCRIPTION)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any,
                       props: Any) -> None:
        self.lost = f"disconnected: {rc}"

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.inbox.append(_Incoming(msg.topic, bytes(msg.payload), msg.mid, msg.qos))

    # --- messages ----------------------------------------------------------------------
    def _process(self, store: CentralStore) -> None:
        batch, self.inbox = self.inbox, []
        good: list[tuple[_Incoming, Message]] = []
        for item in batch:
            msg = self._verify(store, item)
            if msg is not None:
                good.append((item, msg))
        outcomes = store.store_batch([m for _, m in good]) if good else []
        acks: dict[str, list[list[int | None]]] = defaultdict(list)
        for (_, msg), outcome in zip(good, outcomes, strict=True):
            env = msg.envelope
            if outcome.ack:
                acks[env.box_id].append([env.seq, env.chunk["index"] if env.chunk else None])
                self.counters["duplicates" if outcome.duplicate else "stored"] += 1
            else:
                self.counters[outcome.reason or "refused"] += 1
        assert self.client is not None
        for box_id, items in acks.items():
            self.client.publish(ack_topic(box_id), json.dumps({"acks": items}), qos=1)
        for item in batch:
            if item.qos > 0:
                self.client.ack(item.mid, item.qos)

    def _verify(self, store: CentralStore, item: _Incoming) -> Message | None:
        if item.topic.startswith(ACK_PREFIX):
            return None
        if len(item.payload) > self.c.max_message_kb * 1024:
            self._refuse(store, "oversized", item, f"{len(item.payload)} bytes")
            return None
        try:
            return decode(item.topic, item.payload, self.keys)
        except EnvelopeError as exc:
            if exc.reason == "unknown" and time.monotonic() - self.keys_at > KEY_RESCAN_S:
                self._load_keys()  # a box registered since start-up
                return self._verify(store, item)
            self._refuse(store, exc.reason, item, str(exc))
            return None

    def _refuse(self, store: CentralStore, reason: str, item: _Incoming, detail: str) -> None:
        box_id = None
        try:
            box_id = split(item.payload)[2].box_id
        except EnvelopeError:
            pass
        logger.warning("refused %s message on %s: %s", reason, item.topic, detail)
        self.counters[reason] += 1
        store.refuse(reason, item.topic, detail, box_id)

    def _ask_resends(self, store: CentralStore) -> None:
        self.resend_at = time.monotonic() + self.c.resend_interval_s
        assert self.client is not None
        for box in store.status()["boxes"]:
            if box["gaps"]:
                logger.info("asking %s to resend %s", box["box_id"], box["gaps"])
                self.client.publish(ack_topic(box["box_id"]),
                                    json.dumps({"resend": box["gaps"]}), qos=1)


def run_receiver(config: CentralConfig, stop: threading.Event, *, host: str | None = None,
                 port: int | None = None) -> tuple[Receiver, threading.Thread]:
    receiver = Receiver(config, stop, host=host, port=port)
    thread = threading.Thread(target=receiver.run, name="titik-central", daemon=False)
    thread.start()
    return receiver, thread
