"""The sync CLI: keys, status commands, and the demo configuration pair."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import click
from click.testing import CliRunner

from gateway.cli import sync_cmd
from gateway.config import load_box_config
from sync import outbox
from sync.central.config import load_central_config
from sync.central.receiver import run_receiver
from sync.relay import run_relay
from tests.mosquitto import MosquittoBroker
from tests.sync.conftest import Box, wait_until, write_box_config

ROOT = Path(__file__).resolve().parents[2]


def cli() -> click.Group:
    group = click.Group("titik")
    sync_cmd.register(group)
    return group


def test_keys_generate_writes_a_private_key_only_the_owner_reads(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli(), ["keys", "generate", "--out", str(tmp_path), "--box-id", "box-x1"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "box-x1.key").stat().st_mode & 0o777 == 0o600
    assert len((tmp_path / "box-x1.pub").read_text().strip()) == 44
    again = runner.invoke(cli(), ["keys", "generate", "--out", str(tmp_path), "--box-id", "box-x1"])
    assert again.exit_code == 1 and "already exists" in again.output


def test_relay_status_json(tmp_path: Path, box: Box, broker: MosquittoBroker) -> None:
    box.add_result()
    box.add_result(kind="audit", page=None)
    config = write_box_config(tmp_path / "box.toml", box, broker)
    res = CliRunner().invoke(cli(), ["relay", "status", "--config", str(config), "--data",
                                     str(box.data_dir), "--json"])
    assert res.exit_code == 0, res.output
    st = json.loads(res.output)
    assert (st["pending"], st["published"], st["delivered"], st["last_seq"]) == (2, 0, 0, 2)
    assert st["link"]["up"] is False


def test_bad_broker_override_and_missing_key_are_clear_errors(
    tmp_path: Path, box: Box, broker: MosquittoBroker
) -> None:
    config = write_box_config(tmp_path / "box.toml", box, broker)
    res = CliRunner().invoke(cli(), ["relay", "--config", str(config), "--broker", "nohost"])
    assert res.exit_code == 2 and "HOST:PORT" in res.output
    box.key_file.unlink()
    res = CliRunner().invoke(cli(), ["relay", "--config", str(config), "--data",
                                     str(box.data_dir)])
    assert res.exit_code == 1 and "titik keys generate" in res.output


def test_demo_central_accepts_the_demo_box(tmp_path: Path, broker: MosquittoBroker) -> None:
    demo = load_box_config(ROOT / "firmware_config" / "example" / "box.toml")
    demo.paths.data_dir = tmp_path / "box"
    demo.paths.data_dir.mkdir()
    conn = outbox.connect(str(demo.paths.data_dir / "titik.db"))
    outbox.create_tables(conn)
    conn.execute("BEGIN")
    outbox.enqueue(conn, box_id=demo.box.id, kind="reading", tps=demo.tps[0].code, page=1,
                   payload={"suara_paslon_1": 101})
    conn.execute("COMMIT")
    conn.close()
    central_toml = ROOT / "firmware_config" / "example" / "central.toml"
    central = load_central_config(central_toml).model_copy(
        update={"database": tmp_path / "central.db", "photo_dir": tmp_path / "photos"})
    stop = threading.Event()
    receiver, t1 = run_receiver(central, stop, host=broker.host, port=broker.port)
    assert receiver.ready.wait(15)
    t2 = run_relay(sync_cmd.relay_options(demo, broker.address), stop)
    try:
        wait_until(lambda: delivered(demo.paths.data_dir / "titik.db") == 1, 30, "delivery")
    finally:
        stop.set()
        t1.join(15)
        t2.join(15)
    # the status command on a copy of the demo file that points at this test's database
    text = central_toml.read_text().replace("../../.demo-data/central/", f"{tmp_path}/")
    text = text.replace('keys_dir = "central-keys"', f'keys_dir = "{central.keys_dir}"')
    (tmp_path / "central.toml").write_text(text)
    res = CliRunner().invoke(cli(), ["central", "status", "--config",
                                     str(tmp_path / "central.toml"), "--json"])
    assert res.exit_code == 0, res.output
    (box,) = json.loads(res.output)["boxes"]
    assert box == {"box_id": "box-317101-demo", "stored": 1, "last_seq": 1, "gaps": [],
                   "photos_complete": 0, "photos_partial": 0, "photos_bad_hash": 0}


def delivered(db: Path) -> int:
    conn = outbox.connect(str(db))
    try:
        return int(outbox.status(conn)["delivered"])
    finally:
        conn.close()
