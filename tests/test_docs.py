"""The documentation keeps up with the code.

- Every configuration key (the BoxConfig models, walked recursively, including the
  broker settings from sync) has a description and a row in firmware_config/README.md.
- Every `titik` command and subcommand (walked from `build_cli()`) is named in README.md.
  Failures print the missing names, so whoever owns the page knows what to add.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel

from gateway.cli import build_cli
from gateway.config import BoxConfig

ROOT = Path(__file__).resolve().parents[1]


def _models_in(annotation: Any) -> Iterator[tuple[type[BaseModel], bool]]:
    """Models inside an annotation (through Optional, unions and list), with is-a-list."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, False
        return
    origin = typing.get_origin(annotation)
    for arg in typing.get_args(annotation):
        for model, is_list in _models_in(arg):
            yield model, is_list or origin is list


def config_keys(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str | None]]:
    """(dotted key, description) for every field, `[]` marking arrays of tables."""
    for name, info in model.model_fields.items():
        key = prefix + name
        yield key, info.description
        for sub, is_list in _models_in(info.annotation):
            yield from config_keys(sub, f"{key}[]." if is_list else f"{key}.")


def command_paths(group: click.Group, prefix: str = "titik") -> Iterator[str]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        path = f"{prefix} {name}"
        yield path
        if isinstance(command, click.Group):
            yield from command_paths(command, path)


def test_the_walkers_see_nested_models() -> None:
    keys = dict(config_keys(BoxConfig))
    assert "relay.broker.tls.ca_file" in keys
    assert "accounts[].pin_hash" in keys
    assert "tps[].dpt" in keys
    paths = list(command_paths(build_cli()))
    assert "titik config check" in paths and "titik doctor" in paths


def test_every_config_key_has_a_description() -> None:
    missing = [key for key, description in config_keys(BoxConfig) if not description]
    assert not missing, f"config keys without a description: {missing}"


def test_every_config_key_is_in_the_provisioning_reference() -> None:
    text = (ROOT / "firmware_config" / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.M))
    missing = [key for key, _ in config_keys(BoxConfig) if key not in documented]
    assert not missing, (
        "firmware_config/README.md lacks rows for (regenerate with `titik config reference`): "
        + ", ".join(missing)
    )


def test_every_command_is_in_the_readme() -> None:
    readme = ROOT / "README.md"
    assert readme.exists(), "README.md is missing"
    text = readme.read_text(encoding="utf-8")
    missing = [
        path for path in command_paths(build_cli())
        if not re.search(re.escape(path) + r"(?![\w-])", text)
    ]
    assert not missing, "README.md does not mention: " + ", ".join(missing)
