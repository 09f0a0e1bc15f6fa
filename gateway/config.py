"""The box configuration: one TOML file describes one box.

Loaded once at start-up (`load_box_config`); every error names the file, the key,
the bad value and how to fix it. `titik config check FILE` runs the same loader.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sync.settings import BrokerSettings

Role = Literal["kpps", "ppk", "admin", "observer"]

_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")


class ConfigError(Exception):
    """A configuration file that cannot be used; the message says what to fix."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BoxSettings(_Model):
    """Identity of this box."""

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{2,62}$",
        description="Box id: lower-case letters, digits and '-', unique in the country; "
        "used in MQTT topics and signatures.",
    )
    name: str = Field(default="", description="Human name shown on the dashboard and poster.")


class KecamatanSettings(_Model):
    """The kecamatan (sub-district) this box serves."""

    code: str = Field(
        pattern=r"^\d{6}$",
        description="6-digit Kemendagri kecamatan code (2 province + 2 kab/kota + 2 kecamatan).",
    )
    name: str = Field(min_length=1, description="Kecamatan name.")
    kabkota: str = Field(min_length=1, description="Kabupaten/kota name.")
    kabkota_code: str = Field(
        pattern=r"^\d{4}$", description="4-digit kabupaten/kota code; the first 4 digits of code."
    )
    province: str = Field(min_length=1, description="Province name.")

    @model_validator(mode="after")
    def _kabkota_prefix(self) -> KecamatanSettings:
        if not self.code.startswith(self.kabkota_code):
            raise ValueError(
                f"kabkota_code {self.kabkota_code!r} must be the first 4 digits of code "
                f"{self.code!r}"
            )
        return self


class TPSSettings(_Model):
    """One polling station (TPS) of the kecamatan."""

    code: str = Field(
        pattern=r"^\d{13}$",
        description="13-digit TPS code: 10-digit desa/kelurahan code + 3-digit TPS number.",
    )
    desa: str = Field(min_length=1, description="Desa/kelurahan name.")
    dpt: int | None = Field(
        default=None,
        ge=0,
        le=300,
        description=(
            "Registered voters (DPT) of this TPS, at most 300; the reader checks the form's "
            "I.A (J) against it and no count may exceed it. Leave out when unknown."
        ),
    )

    @property
    def number(self) -> int:
        return int(self.code[10:])


class AccountSettings(_Model):
    """A person who can sign in to the box."""

    login: str = Field(
        min_length=3,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Sign-in name; for a KPPS account, the TPS code.",
    )
    role: Role = Field(
        description="kpps (uploads for one TPS), ppk (reviews the kecamatan), admin "
        "(manages accounts) or observer (pengawas/saksi, read-only)."
    )
    name: str = Field(default="", description="Person or committee name, shown in the audit log.")
    tps: str | None = Field(
        default=None,
        pattern=r"^\d{13}$",
        description="TPS code a kpps account uploads for; required for kpps only.",
    )
    pin_hash: str = Field(
        min_length=20,
        description="werkzeug password hash of the PIN or password "
        "(make one with `titik config hash-pin`); never the PIN itself.",
    )

    @model_validator(mode="after")
    def _tps_only_for_kpps(self) -> AccountSettings:
        if self.role == "kpps" and self.tps is None:
            raise ValueError("a kpps account needs tps = the 13-digit TPS code it uploads for")
        if self.role != "kpps" and self.tps is not None:
            raise ValueError(f"only kpps accounts have a tps; remove tps from this {self.role}")
        if not self.pin_hash.startswith(("scrypt:", "pbkdf2:")):
            raise ValueError(
                "pin_hash must be a werkzeug hash (scrypt:... or pbkdf2:...); "
                "run `titik config hash-pin` to make one"
            )
        return self


class WifiSettings(_Model):
    """The box's own Wi-Fi access point for KPPS phones."""

    ssid: str = Field(min_length=1, max_length=32, description="Network name phones join.")
    passphrase: str = Field(
        min_length=8, max_length=63, description="WPA2 passphrase, 8 to 63 characters."
    )
    channel: int = Field(default=6, ge=1, le=13, description="2.4 GHz channel, 1 to 13.")
    country: str = Field(
        default="ID", pattern=r"^[A-Z]{2}$", description="Regulatory country code."
    )
    interface: str = Field(default="wlan0", description="Wireless interface the AP runs on.")
    address: str = Field(
        default="10.42.0.1/24", description="The box's address and prefix on the Wi-Fi network."
    )
    dhcp_start: str = Field(default="10.42.0.10", description="First address handed to phones.")
    dhcp_end: str = Field(default="10.42.0.250", description="Last address handed to phones.")
    backhaul_interface: str = Field(
        default="eth0",
        description="Interface of the uplink (cellular modem, Ethernet); never bridged to Wi-Fi.",
    )

    @model_validator(mode="after")
    def _range_inside_network(self) -> WifiSettings:
        iface = ipaddress.ip_interface(self.address)
        net = iface.network
        for key in ("dhcp_start", "dhcp_end"):
            addr = ipaddress.ip_address(getattr(self, key))
            if addr not in net:
                raise ValueError(f"{key} {addr} is outside the Wi-Fi network {net}")
            if addr in (net.network_address, net.broadcast_address):
                raise ValueError(f"{key} {addr} is the network or broadcast address of {net}")
        start = int(ipaddress.ip_address(self.dhcp_start))
        end = int(ipaddress.ip_address(self.dhcp_end))
        if start > end:
            raise ValueError("dhcp_start must not come after dhcp_end")
        if start <= int(iface.ip) <= end:
            raise ValueError(
                f"the box's own address {iface.ip} lies inside dhcp_start..dhcp_end; "
                "move the range so no phone is handed the box's address"
            )
        if self.interface == self.backhaul_interface:
            raise ValueError("interface and backhaul_interface must be different interfaces")
        return self

    @field_validator("ssid")
    @classmethod
    def _ssid_fits(cls, value: str) -> str:
        # The 32-octet limit is in bytes; a control character would break hostapd.conf.
        if len(value.encode()) > 32:
            raise ValueError("ssid is longer than 32 bytes in UTF-8; shorten it")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("ssid must not contain control characters (newline, tab)")
        return value

    @field_validator("passphrase")
    @classmethod
    def _passphrase_ascii(cls, value: str) -> str:
        # IEEE 802.11i: a passphrase is 8..63 printable ASCII characters.
        if not all(32 <= ord(ch) <= 126 for ch in value):
            raise ValueError("passphrase must use printable ASCII characters only")
        return value

    @field_validator("interface", "backhaul_interface")
    @classmethod
    def _interface_name(cls, value: str) -> str:
        # Interface names go verbatim into hostapd, dnsmasq and nftables files.
        if not _IFNAME.fullmatch(value):
            raise ValueError(
                "an interface name is 1 to 15 letters, digits, '_', '-' or '.', e.g. wlan0"
            )
        return value

    @field_validator("address")
    @classmethod
    def _is_interface(cls, value: str) -> str:
        ipaddress.ip_interface(value)
        return value

    @property
    def host_address(self) -> str:
        return str(ipaddress.ip_interface(self.address).ip)


class WebSettings(_Model):
    """The web app KPPS and PPK use."""

    host: str = Field(default="0.0.0.0", description="Address the web server listens on.")
    port: int = Field(default=8080, ge=1, le=65535, description="TCP port of the web server.")
    max_upload_mb: int = Field(
        default=20, ge=1, le=100, description="Largest accepted request, in megabytes."
    )
    secret_key_file: Path | None = Field(
        default=None,
        description="File holding the session signing key; created in the data directory "
        "when left out.",
    )
    timezone: str = Field(
        default="Asia/Jakarta",
        description="IANA time zone the pages show times in (WIB `Asia/Jakarta`, WITA "
        "`Asia/Makassar`, WIT `Asia/Jayapura`); the database keeps UTC.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Jakarta)") from None
        return value


class RelaySettings(_Model):
    """Store-and-forward to central."""

    broker: BrokerSettings = Field(
        default_factory=BrokerSettings, description="The central MQTT broker."
    )
    signing_key_file: Path = Field(
        description="The box's Ed25519 private key (`titik keys generate`)."
    )
    inflight_window: int = Field(
        default=32, ge=1, le=1000, description="Messages handed to MQTT before a PUBACK."
    )
    ack_timeout_s: float = Field(
        default=30.0, gt=0, description="Republish a message central has not acknowledged by then."
    )
    photo_chunk_kb: int = Field(
        default=256, ge=16, le=1024, description="Photo chunk size in KiB."
    )
    photo_bandwidth_kbps: int | None = Field(
        default=None,
        ge=1,
        description="Cap on photo upload in KiB/s so results are never starved; none = no cap.",
    )
    backoff_min_s: float = Field(default=1.0, gt=0, description="First reconnect delay.")
    backoff_max_s: float = Field(default=120.0, gt=0, description="Longest reconnect delay.")

    @model_validator(mode="after")
    def _backoff_order(self) -> RelaySettings:
        if self.backoff_min_s > self.backoff_max_s:
            raise ValueError("backoff_min_s must not be larger than backoff_max_s")
        return self


class PathSettings(_Model):
    """Where the box keeps its state."""

    data_dir: Path = Field(
        default=Path("/var/lib/titik"),
        description="Database and photos; `--data DIR` overrides it.",
    )
    min_free_mb: int = Field(
        default=500, ge=0, description="`titik doctor` warns when less disk than this is free."
    )


class BoxConfig(_Model):
    """Everything about one box."""

    box: BoxSettings = Field(description="Identity of this box.")
    kecamatan: KecamatanSettings = Field(description="The kecamatan this box serves.")
    tps: list[TPSSettings] = Field(min_length=1, description="Every TPS of the kecamatan.")
    accounts: list[AccountSettings] = Field(min_length=1, description="Who can sign in.")
    relay: RelaySettings = Field(description="Store-and-forward to central.")
    wifi: WifiSettings = Field(description="The box's Wi-Fi access point.")
    web: WebSettings = Field(default_factory=WebSettings, description="The web app.")
    paths: PathSettings = Field(default_factory=PathSettings, description="Where state lives.")

    @model_validator(mode="after")
    def _cross_checks(self) -> BoxConfig:
        problems = cross_check_problems(self)
        if problems:
            # One ValueError carries every problem, one per line, each naming its key.
            raise ValueError("\n".join(problems))
        return self

    def tps_by_code(self, code: str) -> TPSSettings | None:
        return next((t for t in self.tps if t.code == code), None)

    def account(self, login: str) -> AccountSettings | None:
        return next((a for a in self.accounts if a.login == login), None)


def cross_check_problems(config: BoxConfig) -> list[str]:
    """Problems that involve more than one section, as `key = value: fix` lines."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, t in enumerate(config.tps):
        if t.code in seen:
            problems.append(
                f"tps[{i}].code = {t.code!r}: already listed as tps[{seen[t.code]}]; "
                "list each TPS once"
            )
        seen.setdefault(t.code, i)
        if not t.code.startswith(config.kecamatan.code):
            problems.append(
                f"tps[{i}].code = {t.code!r}: TPS {t.code} is not in kecamatan "
                f"{config.kecamatan.code}: its first 6 digits must be the kecamatan code"
            )
    logins: dict[str, int] = {}
    for i, a in enumerate(config.accounts):
        if a.login in logins:
            problems.append(
                f"accounts[{i}].login = {a.login!r}: account login listed twice "
                f"(also accounts[{logins[a.login]}]); give each account its own login"
            )
        logins.setdefault(a.login, i)
        if a.tps is not None and a.tps not in seen:
            problems.append(
                f"accounts[{i}].tps = {a.tps!r}: account {a.login} names TPS {a.tps}, "
                "which is not in [[tps]]; add the TPS or fix the code"
            )
    return problems


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _lookup(data: Any, loc: tuple[int | str, ...]) -> Any:
    for part in loc:
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def format_validation_error(path: Path, data: Any, exc: ValidationError) -> str:
    """One line per problem: file, key, bad value, what to do."""
    lines: list[str] = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        key = _location(loc)
        value = _lookup(data, loc)
        if err["type"] == "missing":
            fix = "add this key"
            shown = "(missing)"
        elif err["type"] == "extra_forbidden":
            fix = "remove this key or check its spelling"
            shown = repr(value)
        else:
            fix = err["msg"].removeprefix("Value error, ")
            shown = repr(value) if not isinstance(value, dict | list) else "(section)"
        if key.endswith(("pin_hash", "passphrase")):
            shown = "(hidden)"  # never echo secrets into logs
        if not loc and err["type"] == "value_error":  # cross checks name their own keys
            lines.extend(f"  {problem}" for problem in fix.splitlines())
            continue
        lines.append(f"  {key} = {shown}: {fix}")
    header = f"{path}: {len(lines)} problem(s) in the configuration"
    return "\n".join([header, *lines])


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; pass --config with the box's TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def resolve_paths(model: BaseModel, base: Path) -> None:
    """Make relative paths in the file relative to the file's own folder."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path) and not value.is_absolute():
            setattr(model, name, (base / value).resolve())
        elif isinstance(value, BaseModel):
            resolve_paths(value, base)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, BaseModel):
                    resolve_paths(item, base)


def load_box_config(path: Path) -> BoxConfig:
    """Read and validate a box configuration; raise ConfigError naming what to fix."""
    data = read_toml(path)
    try:
        config = BoxConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, data, exc)) from None
    resolve_paths(config, path.parent.resolve())
    return config
