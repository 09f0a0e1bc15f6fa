"""Settings shared by the relay and the central receiver: how to reach a broker.

Both the box configuration (gateway) and the central configuration embed a
`BrokerSettings`; sync never imports gateway, so the model lives here.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class TLSSettings(BaseModel):
    """TLS towards the broker; all paths are read at start-up."""

    model_config = ConfigDict(extra="forbid")

    ca_file: Path = Field(description="CA certificate (PEM) that signed the broker's certificate.")
    cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM) of this box or receiver."
    )
    key_file: Path | None = Field(
        default=None, description="Private key (PEM) belonging to cert_file."
    )


class BrokerSettings(BaseModel):
    """An MQTT v5 broker."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Broker host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker TCP port.")
    tls: TLSSettings | None = Field(
        default=None, description="TLS settings; leave out for plain TCP (demo and tests only)."
    )
    username: str | None = Field(
        default=None, description="MQTT user name, when the broker does not use certificates."
    )
    keepalive_s: int = Field(
        default=30, ge=5, le=600, description="MQTT keepalive in seconds."
    )
    session_expiry_s: int = Field(
        default=7 * 24 * 3600,
        ge=0,
        description="MQTT v5 session expiry, so QoS 1 messages in flight survive a reconnect.",
    )


def parse_broker_override(value: str) -> tuple[str, int]:
    """Parse a `--broker HOST:PORT` override."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--broker wants HOST:PORT, got {value!r}")
    return host, int(port)
