"""`titik verify-receipt` and `titik central-web`: checking receipts against central."""

from __future__ import annotations

import json
from pathlib import Path

import click


def _central(config_path: Path):  # type: ignore[no-untyped-def]
    from sync.central.config import CentralConfigError, load_central_config

    try:
        return load_central_config(config_path)
    except CentralConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("verify-receipt")
@click.argument("payload", required=False)
@click.option("--file", "file_path", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The receipt PDF or a photo of its QR code.")
@click.option("--keys", "keys_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Directory of box public keys <box_id>.pub (default: central's keys_dir).")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Central configuration: also check what central holds.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify_receipt(payload: str | None, file_path: Path | None, keys_dir: Path | None,
                   config_path: Path | None, as_json: bool) -> None:
    """Check a receipt's box signature and whether central holds the same values and photo."""
    from sync.receipt import ReceiptError, compare_with_central, verify_payload
    from sync.receipt_scan import payload_from_bytes
    from sync.signing import KeyFileError, load_verify_keys

    central = _central(config_path) if config_path is not None else None
    keys_dir = keys_dir or (central.keys_dir if central is not None else None)
    if keys_dir is None:
        raise click.UsageError("give --keys DIR or --config central.toml")
    if (payload is None) == (file_path is None):
        raise click.UsageError("give either the QR text or --file")
    try:
        raw = file_path.read_bytes() if file_path is not None else (payload or "").encode()
        result = verify_payload(payload_from_bytes(raw), load_verify_keys(keys_dir))
    except (ReceiptError, KeyFileError) as exc:
        raise click.ClickException(str(exc)) from None
    if central is not None and result.signature_ok:
        compare_with_central(result, central.database)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        r = result.receipt
        click.echo(f"box {r.box_id}  TPS {r.tps}  page {r.page}  confirmed by {r.confirmed_by}"
                   f" at {r.confirmed_at}")
        click.echo("signature: " + ("valid" if result.signature_ok else
                                    "UNKNOWN BOX" if not result.key_known else "FORGED"))
        if result.central_checked:
            click.echo("central: " + ("holds the same values and photo" if not result.differences
                                      else "DIFFERS"))
            for difference in result.differences:
                click.echo(f"  - {difference}")
    raise SystemExit(0 if result.ok else 1)


@click.command("central-web")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              required=True, help="Central configuration.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address.")
@click.option("--port", default=8090, show_default=True, help="Listen port.")
def central_web(config_path: Path, host: str, port: int) -> None:
    """Central's receipt check page (read-only)."""
    import waitress

    from sync.central.verify_web import create_verify_app

    waitress.serve(create_verify_app(_central(config_path)), host=host, port=port)


def register(group: click.Group) -> None:
    group.add_command(verify_receipt)
    group.add_command(central_web)
