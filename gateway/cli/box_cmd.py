"""`titik worker` (the processing worker) and `titik audit verify`."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import click

from gateway.cli.common import config_option, data_option, existing_db, load_config


def register(group: click.Group) -> None:
    group.add_command(worker)
    group.add_command(audit)


@click.command()
@config_option
@data_option
@click.option("--interval", type=float, default=1.0, show_default=True,
              help="Seconds between looks at an empty queue.")
@click.option("--lease", type=float, default=120.0, show_default=True,
              help="Seconds a job stays with this worker before another may take it.")
@click.option("--max-attempts", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Times a photo may be taken up again after a crash before a person gets it.")
@click.option("--exit-when-idle", is_flag=True,
              help="Stop when the queue is empty (batch use, tests) instead of waiting.")
def worker(
    config_path: Path, data_dir: Path | None, interval: float, lease: float,
    max_attempts: int, exit_when_idle: bool,
) -> None:
    """Read queued photos: Ctrl-C / SIGTERM stops after the current photo."""
    import vision
    from gateway import worker as worker_mod
    from gateway.store import Store, StoreError
    from vision.digits import ModelError

    config = load_config(config_path, data_dir)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    dpts = {t.code: t.dpt for t in config.tps}
    settings = worker_mod.WorkerSettings(
        interval_s=interval, lease_s=lease, max_attempts=max_attempts,
        exit_when_idle=exit_when_idle,
    )
    try:
        store = Store(config.paths.data_dir, box_id=config.box.id, tps_codes=list(dpts),
                      dpts=dpts)
        with store:
            worker_mod.run(store, dpt_for=dpts.get, read_form=vision.read_form, stop=stop,
                           settings=settings, notify=worker_mod.systemd_notifier(),
                           fatal=(ModelError,))
    except (StoreError, worker_mod.WorkerStopped) as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def audit() -> None:
    """The box's hash-chained audit log."""


@audit.command("verify")
@config_option
@data_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(config_path: Path, data_dir: Path | None, as_json: bool) -> None:
    """Recompute the audit chain; exit 1 naming the first row that was changed."""
    from gateway.store import Store

    config = load_config(config_path, data_dir)
    existing_db(config)
    with Store(config.paths.data_dir, box_id=config.box.id) as store:
        result = store.verify_audit()
    if as_json:
        click.echo(json.dumps({"ok": result.ok, "checked": result.checked,
                               "first_bad_id": result.first_bad_id, "problem": result.problem}))
    if not result.ok:
        raise click.ClickException(
            f"Log audit RUSAK pada baris {result.first_bad_id}: {result.problem} "
            f"({result.checked} baris sebelumnya utuh) / audit chain BROKEN at row "
            f"{result.first_bad_id}"
        )
    if not as_json:
        click.echo(f"Log audit utuh: {result.checked} baris diperiksa / audit chain intact "
                   f"({result.checked} rows checked)")
