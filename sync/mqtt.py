"""A paho-mqtt 2.x client set up the way both ends of the link need it.

MQTT v5, `clean_start=False` with a session expiry (the broker keeps our
subscription and queued acks across a short drop), TLS with a client certificate
when configured, and no paho reconnect: the callers drive reconnects with their own
jittered backoff and build a fresh client each time, so paho never holds more than
the window they handed it.
"""

from __future__ import annotations

import ssl
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sync.settings import BrokerSettings


def make_client(
    broker: BrokerSettings, client_id: str, *, inflight: int = 20, manual_ack: bool = False
) -> mqtt.Client:
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    client.max_inflight_messages_set(inflight)
    if broker.tls is not None:
        client.tls_set(
            ca_certs=str(broker.tls.ca_file),
            certfile=str(broker.tls.cert_file) if broker.tls.cert_file else None,
            keyfile=str(broker.tls.key_file) if broker.tls.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    if broker.username:
        client.username_pw_set(broker.username)
    return client


def connect_properties(broker: BrokerSettings) -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = broker.session_expiry_s
    return props


def start_connect(client: mqtt.Client, broker: BrokerSettings, host: str, port: int) -> None:
    """Open the TCP (and TLS) connection and send CONNECT; CONNACK arrives via loop()."""
    client.connect(
        host,
        port,
        keepalive=broker.keepalive_s,
        clean_start=False,
        properties=connect_properties(broker),
    )


def due_to_connect(stop: threading.Event, next_attempt: float, now: float) -> bool:
    """With no client: True once the next connection attempt (after backoff) is due;
    otherwise wait a little (or until stopped) and say False."""
    if now >= next_attempt:
        return True
    stop.wait(min(0.2, next_attempt - now))
    return False
