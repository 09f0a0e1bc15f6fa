"""`titik doctor`: check that the box is ready, and say what to fix."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gateway.cli.common import config_option, data_option

LABELS = {"ok": "OK", "info": "INFO", "warn": "PERINGATAN/WARN", "fail": "GAGAL/FAIL"}


@click.command("doctor")
@config_option
@data_option
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Digit model to check instead of vision/models/digits.tflite.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0.1, max=60),
    default=3.0,
    show_default=True,
    help="Seconds to wait for the broker's TCP connection.",
)
def doctor_command(
    config_path: Path, data_dir: Path | None, as_json: bool, model_path: Path | None,
    timeout_s: float,
) -> None:
    """Periksa kesiapan box dan apa yang harus diperbaiki. (Check the box is ready.)

    Exit 0: everything fine; 1: warnings to fix before election day; 2: the box cannot
    do its job (configuration, clock, certificates, model or signing key).
    """
    from gateway.doctor import run_doctor

    report = run_doctor(config_path, data_dir, model_path=model_path, broker_timeout_s=timeout_s)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(f"titik doctor: box {report.box_id or '?'} ({config_path})")
        for f in report.findings:
            first, *rest = f.message.splitlines()
            click.echo(f"[{LABELS[f.status]:^15}] {f.check}: {first}")
            for line in rest:
                click.echo(f"{'':18}{line}")
            if f.fix and f.status in ("warn", "fail"):
                click.echo(f"{'':18}perbaiki / fix: {f.fix}")
        counts = {s: sum(1 for f in report.findings if f.status == s) for s in ("warn", "fail")}
        verdict = "SIAP / READY" if report.exit_code == 0 else "PERLU DIPERBAIKI / NEEDS FIXING"
        click.echo(
            f"{verdict}: {counts['fail']} gagal/failed, {counts['warn']} peringatan/warnings"
        )
    raise SystemExit(report.exit_code)


def register(group: click.Group) -> None:
    group.add_command(doctor_command)
