"""`titik config ...`: check a box configuration, render its system files, hash a PIN."""

from __future__ import annotations

import re
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from gateway.config import BoxConfig, ConfigError, load_box_config

MIN_PIN_LENGTH = 6

config_file_arg = click.argument(
    "config_file", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE"
)


def _load(config_file: Path) -> BoxConfig:
    try:
        return load_box_config(config_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("config")
def config_group() -> None:
    """Konfigurasi box: periksa, buat berkas sistem, hash PIN.
    (Box configuration: check, render system files, hash a PIN.)"""


@config_group.command("check")
@config_file_arg
@click.option(
    "--central",
    is_flag=True,
    help="FILE is a central receiver configuration (central.toml), not a box configuration.",
)
def check_command(config_file: Path, central: bool) -> None:
    """Periksa berkas konfigurasi; setiap masalah disebutkan. (Check a configuration file.)"""
    if central:
        _check_central(config_file)
        return
    config = _load(config_file)
    kpps = sum(1 for a in config.accounts if a.role == "kpps")
    click.echo(
        f"OK {config_file}: box {config.box.id}, kecamatan {config.kecamatan.code} "
        f"{config.kecamatan.name}, {len(config.tps)} TPS, {len(config.accounts)} akun/accounts "
        f"({kpps} KPPS), Wi-Fi {config.wifi.ssid!r} ch {config.wifi.channel}, "
        f"web :{config.web.port}"
    )


def _check_central(config_file: Path) -> None:
    from sync.central.config import CentralConfigError, load_central_config

    try:
        config = load_central_config(config_file)
    except CentralConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"OK {config_file}: central {config.client_id}, broker {config.broker.host}:"
        f"{config.broker.port}, database {config.database}, keys {config.keys_dir}"
    )


@config_group.command("render")
@config_file_arg
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for hostapd.conf, dnsmasq.conf, nftables.conf, titik.env, titik-wifi.network.",
)
def render_command(config_file: Path, out_dir: Path) -> None:
    """Buat berkas sistem dari konfigurasi. (Render the system files from the configuration.)"""
    from gateway.provision import ProvisionError, render_system_files, write_system_files

    config = _load(config_file)
    try:
        files = render_system_files(config, config_file)
        written = write_system_files(files, out_dir)
    except ProvisionError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"tidak bisa menulis / cannot write {out_dir}: {exc}") from None
    for path in written:
        click.echo(str(path))


def _check_pin(pin: str) -> str:
    if len(pin) < MIN_PIN_LENGTH or not pin.strip():
        raise click.ClickException(
            f"PIN terlalu pendek: minimal {MIN_PIN_LENGTH} karakter "
            f"(PIN too short: at least {MIN_PIN_LENGTH} characters)"
        )
    return pin


@config_group.command("hash-pin")
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    help="Read the PIN from the first line of standard input (for scripts) instead of asking.",
)
def hash_pin_command(from_stdin: bool) -> None:
    """Buat hash PIN/kata sandi untuk pin_hash. (Hash a PIN or password for pin_hash.)"""
    from werkzeug.security import generate_password_hash

    if from_stdin:
        pin = sys.stdin.readline().rstrip("\r\n")
    else:
        pin = click.prompt(
            "PIN / kata sandi (PIN / password)",
            hide_input=True,
            confirmation_prompt="Ulangi / repeat",
            err=True,
        )
    click.echo(generate_password_hash(_check_pin(pin), method="scrypt"))


@config_group.command("reference")
def reference_command() -> None:
    """Tabel Markdown semua kunci konfigurasi. (Markdown table of every configuration key.)"""
    from gateway.config import BoxConfig

    click.echo(reference_table(BoxConfig))


def _submodel(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds (through Optional and list), and whether it is a list."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list and args:
        model, _ = _submodel(args[0])
        return model, True
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            model, is_list = _submodel(arg)
            if model is not None:
                return model, is_list
    return None, False


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if typing.get_origin(annotation) is None else None
    text = text or str(annotation)
    return re.sub(r"\b(?:[a-z_]+\.)+", "", text).replace("NoneType", "None")


def config_fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, Any, str, str]]:
    """Every key of a configuration model, depth first: (key, annotation, default, description)."""
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        sub, is_list = _submodel(info.annotation)
        if info.is_required():
            default = "required"
        elif info.default is PydanticUndefined or sub is not None:
            default = "(section defaults)" if info.default is not None else "None"
        else:
            value = info.default
            default = str(value) if isinstance(value, Path) else repr(value)
        yield key, info.annotation, default, info.description or ""
        if sub is not None:
            yield from config_fields(sub, f"{key}[]." if is_list else f"{key}.")


def reference_table(model: type[BaseModel]) -> str:
    """The configuration reference as a Markdown table (pasted into firmware_config/README.md)."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, annotation, default, description in config_fields(model):
        cells = [f"`{key}`", _type_name(annotation), default, description]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def register(group: click.Group) -> None:
    group.add_command(config_group)
