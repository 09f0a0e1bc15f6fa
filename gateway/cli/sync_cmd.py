"""`titik relay`, `titik relay status`, `titik central`, `titik central status`, `titik keys`."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import Any

import click

from gateway.cli.common import config_option, data_option, existing_db, load_config
from gateway.config import BoxConfig

logger = logging.getLogger(__name__)

broker_option = click.option(
    "--broker",
    "broker",
    default=None,
    metavar="HOST:PORT",
    help="Broker address; overrides the configuration.",
)


def _broker(value: str | None) -> tuple[str | None, int | None]:
    from sync.settings import parse_broker_override

    if value is None:
        return None, None
    try:
        return parse_broker_override(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--broker") from None


def relay_options(config: BoxConfig, broker: str | None = None) -> Any:
    """Map the box configuration onto the relay's plain options."""
    from sync.relay import RelayOptions
    from sync.signing import KeyFileError, load_signing_key

    try:
        key = load_signing_key(config.relay.signing_key_file)
    except KeyFileError as exc:
        raise click.ClickException(
            f"Kunci tanda tangan tidak bisa dibaca / signing key: {exc}"
        ) from None
    tls = config.relay.broker.tls
    if tls is not None:
        for path in (tls.ca_file, tls.cert_file, tls.key_file):
            if path is not None and not path.is_file():
                raise click.ClickException(f"Berkas TLS tidak ada / TLS file missing: {path}")
    host, port = _broker(broker)
    data_dir = config.paths.data_dir
    r = config.relay
    return RelayOptions(
        box_id=config.box.id,
        kabkota_code=config.kecamatan.kabkota_code,
        kecamatan_code=config.kecamatan.code,
        db_path=data_dir / "titik.db",
        photo_dir=data_dir / "photos",
        signing_key=key,
        broker=r.broker,
        host=host,
        port=port,
        inflight_window=r.inflight_window,
        ack_window=8 * r.inflight_window,
        ack_timeout_s=r.ack_timeout_s,
        photo_chunk_bytes=r.photo_chunk_kb * 1024,
        photo_bandwidth_bps=r.photo_bandwidth_kbps * 1024 if r.photo_bandwidth_kbps else None,
        backoff_min_s=r.backoff_min_s,
        backoff_max_s=r.backoff_max_s,
    )


def _run_until_signal(start: Any) -> None:
    """Start a worker thread via start(stop) and wait; SIGTERM/SIGINT set the stop event."""
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        logger.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    thread: threading.Thread = start(stop)
    while thread.is_alive():
        thread.join(timeout=0.5)
    if not stop.is_set():
        # the worker died of an error (logged by threading); a non-zero exit lets systemd
        # restart us, and the outbox/central DB make the restart lose nothing
        raise click.ClickException("Proses berhenti karena galat / worker failed; see the log")


def register(group: click.Group) -> None:
    @group.group("relay", invoke_without_command=True)
    @click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
                  default=None, help="The box's TOML configuration file.")
    @data_option
    @broker_option
    @click.pass_context
    def relay(ctx: click.Context, config_path: Path | None, data_dir: Path | None,
              broker: str | None) -> None:
        """Kirim hasil ke pusat / relay the outbox to central over MQTT."""
        if ctx.invoked_subcommand is not None:
            return
        if config_path is None:
            raise click.UsageError("Missing option '--config'.")
        from sync.relay import run_relay

        config = load_config(config_path, data_dir)
        options = relay_options(config, broker)
        options.db_path.parent.mkdir(parents=True, exist_ok=True)
        _run_until_signal(lambda stop: run_relay(options, stop))

    @relay.command("status")
    @config_option
    @data_option
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    def relay_status(config_path: Path, data_dir: Path | None, as_json: bool) -> None:
        """Status antrean kirim / outbox and link state."""
        from sync import outbox

        conn = outbox.connect(str(existing_db(load_config(config_path, data_dir))))
        outbox.create_tables(conn)
        st = outbox.status(conn)
        conn.close()
        if as_json:
            click.echo(json.dumps(st))
            return
        link = st["link"]
        click.echo(f"antrean/pending {st['pending']}  terkirim/published {st['published']}  "
                   f"diterima pusat/delivered {st['delivered']}  seq terakhir {st['last_seq']}")
        click.echo(f"jalur/link {'naik/up' if link['up'] else 'putus/down'} sejak {link['since']}"
                   f"  ack terakhir {link['last_ack']}  galat/error {link['last_error']}")

    @group.group("central", invoke_without_command=True)
    @click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
                  default=None, help="Central's TOML configuration file.")
    @broker_option
    @click.pass_context
    def central(ctx: click.Context, config_path: Path | None, broker: str | None) -> None:
        """Penerima pusat / central receiver: verify, store and acknowledge box messages."""
        if ctx.invoked_subcommand is not None:
            return
        if config_path is None:
            raise click.UsageError("Missing option '--config'.")
        from sync.central.receiver import run_receiver

        config = _central_config(config_path)
        host, port = _broker(broker)
        if not config.keys_dir.is_dir():
            raise click.ClickException(f"Folder kunci tidak ada / no keys dir {config.keys_dir}")
        _run_until_signal(lambda stop: run_receiver(config, stop, host=host, port=port)[1])

    @central.command("status")
    @click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
                  required=True, help="Central's TOML configuration file.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    def central_status(config_path: Path, as_json: bool) -> None:
        """Status penerima pusat / what central holds per box."""
        from sync.central.store import CentralStore

        config = _central_config(config_path)
        store = CentralStore(config.database, config.photo_dir)
        st = store.status()
        store.close()
        if as_json:
            click.echo(json.dumps(st))
            return
        for box in st["boxes"]:
            click.echo(f"{box['box_id']}: {box['stored']} pesan/messages, seq terakhir "
                       f"{box['last_seq']}, celah/gaps {box['gaps']}, foto lengkap "
                       f"{box['photos_complete']}, sebagian {box['photos_partial']}, hash salah "
                       f"/bad hash {box['photos_bad_hash']}")
        click.echo(f"ditolak/refused: {st['refused']}")

    @group.group("keys")
    def keys() -> None:
        """Kunci kotak / box signing keys."""

    @keys.command("generate")
    @click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
                  required=True, help="Folder for <box_id>.key and <box_id>.pub.")
    @click.option("--box-id", required=True, help="The box id (box.id in box.toml).")
    @click.option("--force", is_flag=True, help="Replace an existing key pair.")
    def keys_generate(out_dir: Path, box_id: str, force: bool) -> None:
        """Buat pasangan kunci Ed25519 / make an Ed25519 key pair for a box."""
        from sync.signing import KeyFileError, generate_key_pair

        try:
            files = generate_key_pair(out_dir, box_id, overwrite=force)
        except KeyFileError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"kunci privat/private key: {files.private} (0600)")
        click.echo(f"kunci publik/public key: {files.public} (salin ke pusat / copy to central)")


def _central_config(path: Path) -> Any:
    from sync.central.config import CentralConfigError, load_central_config

    try:
        return load_central_config(path)
    except CentralConfigError as exc:
        raise click.ClickException(str(exc)) from None
