"""Central refuses what it must (forged, unknown, malformed, oversized, replayed), keeps
running, and stores duplicates exactly once - acking them again."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from sync.central.config import CentralConfig
from sync.central.receiver import Receiver
from sync.central.store import CentralStore
from sync.envelope import Envelope, ack_topic, encode, topic_for
from sync.signing import generate_key_pair, load_signing_key
from tests.mosquitto import MosquittoBroker
from tests.sync.conftest import BOX, KABKOTA, KECAMATAN, Box, wait_until

TOPIC = topic_for(KABKOTA, KECAMATAN, BOX, "reading")


class RawClient:
    """A plain MQTT v5 client that publishes what we tell it and records the acks."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.acks: list[dict[str, Any]] = []
        self.c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                             client_id="raw-test", protocol=mqtt.MQTTv5)
        self.c.on_message = lambda c, u, m: self.acks.append(json.loads(m.payload))
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        self.c.subscribe(ack_topic(BOX), qos=1)[0]

    def publish(self, topic: str, data: bytes) -> None:
        self.c.publish(topic, data, qos=1).wait_for_publish(10)

    def acked(self) -> set[tuple[int, Any]]:
        return {(a[0], a[1]) for m in self.acks for a in m.get("acks", [])}

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def envelope(seq: int, id_: str, value: int = 1) -> Envelope:
    return Envelope(id=id_, box_id=BOX, seq=seq, kind="reading", tps="3171011001001", page=1,
                    created_at="2024-02-14T10:00:00.000Z", payload={"suara_paslon_1": value})


def status(receiver: Receiver) -> dict[str, Any]:
    store = CentralStore(receiver.c.database, receiver.c.photo_dir)
    try:
        return store.status()
    finally:
        store.close()


def test_bad_messages_are_refused_counted_and_never_crash(
    box: Box, broker: MosquittoBroker, central: Receiver, tmp_path: Any
) -> None:
    key = load_signing_key(box.key_file)
    raw = RawClient(broker)
    try:
        raw.publish(TOPIC, encode(TOPIC, envelope(1, "m1"), key))
        wait_until(lambda: (1, None) in raw.acked(), 15, "ack of seq 1")

        # forged: signed by a key central does not have for this box
        generate_key_pair(tmp_path / "intruder", BOX)
        intruder = load_signing_key(tmp_path / "intruder" / f"{BOX}.key")
        raw.publish(TOPIC, encode(TOPIC, envelope(2, "forged"), intruder))
        # unknown box
        stranger = topic_for(KABKOTA, KECAMATAN, "box-317101-nobody", "reading")
        stranger_env = Envelope(**{**envelope(1, "s1").__dict__, "box_id": "box-317101-nobody"})
        raw.publish(stranger, encode(stranger, stranger_env, key))
        # malformed and oversized
        raw.publish(TOPIC, b"TTK1 this is not a message")
        raw.publish(TOPIC, b"x" * (central.c.max_message_kb * 1024 + 1))
        # replay: seq 1 again, validly signed, different id and content
        raw.publish(TOPIC, encode(TOPIC, envelope(1, "other-id", value=99), key))

        wait_until(lambda: sum(status(central)["refused"].values()) >= 5, 15, "5 refusals")
        assert status(central)["refused"] == {"forged": 1, "malformed": 1, "oversized": 1,
                                              "replayed": 1, "unknown": 1}
        # still alive and storing after all that
        raw.publish(TOPIC, encode(TOPIC, envelope(2, "m2"), key))
        wait_until(lambda: (2, None) in raw.acked(), 15, "ack of seq 2")
    finally:
        raw.close()
    conn = sqlite3.connect(central.c.database)
    rows = conn.execute("SELECT seq, id, payload FROM messages ORDER BY seq").fetchall()
    conn.close()
    assert rows == [(1, "m1", '{"suara_paslon_1":1}'), (2, "m2", '{"suara_paslon_1":1}')]


def test_duplicates_are_stored_once_and_acked_every_time(
    box: Box, broker: MosquittoBroker, central: Receiver
) -> None:
    key = load_signing_key(box.key_file)
    raw = RawClient(broker)
    try:
        data = encode(TOPIC, envelope(1, "m1"), key)
        for _ in range(3):
            raw.publish(TOPIC, data)
        wait_until(lambda: sum(len(m.get("acks", [])) for m in raw.acks) >= 3, 15, "3 acks")
    finally:
        raw.close()
    (st,) = status(central)["boxes"]
    assert st["stored"] == 1 and status(central)["refused"] == {}


def test_central_asks_for_missing_seqs_and_the_relay_resends(
    box: Box, central: Receiver, start_relay: Callable[..., Any]
) -> None:
    for page in (1, 2, 3):
        box.add_result(page=page)
    start_relay()
    wait_until(box.all_delivered, 30)
    # central loses seq 2 (e.g. restored from an older backup)
    conn = sqlite3.connect(central.c.database)
    conn.execute("DELETE FROM messages WHERE seq = 2")
    conn.commit()
    conn.close()
    box.add_result(page=1, kind="correction")
    # resend_interval_s is 2 s in the fixture
    wait_until(lambda: status(central)["boxes"][0]["gaps"] == [] and
               status(central)["boxes"][0]["stored"] == 4, 30, "seq 2 back at central")
    wait_until(box.all_delivered, 30)




def test_central_is_ready_only_once_the_broker_grants_its_subscription(
    central_config: CentralConfig,
) -> None:
    # Ready means the broker holds the subscription (its SUBACK), not that it was asked for:
    # a box publishing in between finds no subscriber. A refused one (a broker's ACL) is
    # never ready: nothing could ever arrive, so central reconnects, saying why.
    receiver = Receiver(central_config, threading.Event())
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    assert not receiver.ready.is_set()
    receiver._on_subscribe(client, None, 1, [ReasonCode(PacketTypes.SUBACK, "Not authorized")],
                           None)
    assert not receiver.ready.is_set()
    assert receiver.lost is not None and "Not authorized" in receiver.lost
    receiver.lost = None
    receiver._on_subscribe(client, None, 2, [ReasonCode(PacketTypes.SUBACK, "Granted QoS 1")],
                           None)
    assert receiver.ready.is_set() and receiver.lost is None
