"""Central receiver configuration (one TOML file); relative paths are relative to it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sync.settings import BrokerSettings


class CentralConfigError(Exception):
    """A central configuration that cannot be used; the message says what to fix."""


class CentralConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    broker: BrokerSettings = Field(default_factory=BrokerSettings, description="The broker.")
    database: Path = Field(description="Central SQLite database file.")
    photo_dir: Path = Field(description="Where reassembled photos go (<sha[:2]>/<sha>).")
    keys_dir: Path = Field(description="Directory of registered box public keys, <box_id>.pub.")
    client_id: str = Field(default="titik-central", description="MQTT client id of this receiver.")
    max_message_kb: int = Field(
        default=1088, ge=4, description="Larger MQTT payloads are refused (chunk size + header)."
    )
    backoff_min_s: float = Field(default=1.0, gt=0, description="First reconnect delay.")
    backoff_max_s: float = Field(default=30.0, gt=0, description="Longest reconnect delay.")
    resend_interval_s: float = Field(
        default=60.0, gt=0, description="How often to ask a box for the seqs central lacks."
    )


def load_central_config(path: Path) -> CentralConfig:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise CentralConfigError(
            f"{path}: no such file; pass --config with central's TOML file"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise CentralConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        config = CentralConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise CentralConfigError(f"{path}: {problems}") from None
    base = path.parent.resolve()
    for name in ("database", "photo_dir", "keys_dir"):
        value = getattr(config, name)
        if not value.is_absolute():
            setattr(config, name, (base / value).resolve())
    tls = config.broker.tls
    if tls is not None:
        for name in ("ca_file", "cert_file", "key_file"):
            value = getattr(tls, name)
            if value is not None and not value.is_absolute():
                setattr(tls, name, (base / value).resolve())
    return config
