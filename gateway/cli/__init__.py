"""The `titik` command line.

Each area of the product registers its commands from its own module; heavy
libraries (OpenCV, LiteRT, Flask) are imported inside the commands so that
`titik relay` does not pay for the vision stack. Domain exceptions become exit
messages here, at the edge, and nowhere else.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

# Modules that add commands to the group: each has `register(group: click.Group)`.
COMMAND_MODULES = (
    "gateway.cli.config_cmd",
    "gateway.cli.doctor_cmd",
    "gateway.cli.vision_cmd",
    "gateway.cli.box_cmd",
    "gateway.cli.serve_cmd",
    "gateway.cli.sync_cmd",
    "gateway.cli.demo_cmd",
    "gateway.cli.receipt_cmd",
)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging() -> None:
    """One format for every process; journald adds its own timestamps but keeps ours.

    Logs go to stderr: stdout is the command's output (`titik read --json` prints one JSON
    object per line there, and scripts parse it). journald collects both.
    """
    from gateway.logredact import install_log_redaction

    level = os.environ.get("TITIK_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
    install_log_redaction()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="titik")
def titik() -> None:
    """Titik: the upload-point gateway for C.Hasil tally forms."""


def build_cli() -> click.Group:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # an area not built yet
        module.register(titik)
    return titik


def main() -> None:
    setup_logging()
    build_cli()(prog_name="titik")
