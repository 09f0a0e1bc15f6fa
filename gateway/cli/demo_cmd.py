"""`titik demo run` and `titik demo seed`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from gateway.cli.common import config_option, data_option, load_config

logger = logging.getLogger(__name__)


@click.group()
def demo() -> None:
    """The demo box: run everything locally, or fill a store with synthetic pages."""


@demo.command("run")
@config_option
@click.option(
    "--central-config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Central receiver configuration; default: central.toml beside --config.",
)
@click.option("--port", default=8080, show_default=True, help="Web port.")
def demo_run(config_path: Path, central_config: Path | None, port: int) -> None:
    """Start broker, central, relay, worker and web app; Ctrl-C stops them all."""
    from gateway.cli import build_cli
    from gateway.demo_run import DemoError, run_demo

    load_config(config_path)  # refuse a broken configuration before starting anything
    available = set(build_cli().commands)
    central = central_config or config_path.parent / "central.toml"
    try:
        code = run_demo(config_path.resolve(), central.resolve(), available, port)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    raise SystemExit(code)


@demo.command("seed")
@config_option
@data_option
@click.option("--tps", "n_tps", type=click.IntRange(1, 1000), default=3, show_default=True,
              help="How many TPS to fill (3 confirmed pages each).")
def demo_seed(config_path: Path, data_dir: Path | None, n_tps: int) -> None:
    """Fill a box's store with N TPS' confirmed pages and synthetic photos."""
    from gateway.demo import seed

    config = load_config(config_path, data_dir)
    summary = seed(config, config.paths.data_dir, n_tps)
    click.echo(json.dumps(summary))


def register(group: click.Group) -> None:
    group.add_command(demo)
