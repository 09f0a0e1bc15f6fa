"""Options and helpers shared by the CLI modules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from gateway.config import BoxConfig, ConfigError, load_box_config
from gateway.logredact import install_log_redaction

F = TypeVar("F", bound=Callable[..., Any])

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The box's TOML configuration file.",
)
data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Data directory (database, photos); overrides paths.data_dir.",
)


DB_NAME = "titik.db"  # gateway.store.db.DB_NAME, without importing the store here


def existing_db(config: BoxConfig) -> Path:
    """The box database, which a status or audit command reads but must not create."""
    db_path = config.paths.data_dir / DB_NAME
    if not db_path.exists():
        raise click.ClickException(
            f"Basis data belum ada / no database at {db_path}; check --data or paths.data_dir"
        )
    return db_path


def load_config(config_path: Path, data_dir: Path | None = None) -> BoxConfig:
    """Load the box configuration, turning a ConfigError into a clean exit message."""
    try:
        config = load_box_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if data_dir is not None:
        config.paths.data_dir = data_dir.resolve()
    # The configuration's own secrets (Wi-Fi passphrase, PIN hashes) never reach a log line.
    install_log_redaction(config)
    return config
