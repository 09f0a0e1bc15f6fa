"""`titik demo seed` fills a box with N TPS' three confirmed pages whose final values are
what the synthetic paper says, through the same store path as real uploads."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import load_box_config
from gateway.demo import pipeline_ready, seed
from gateway.store import Store

synthetic = pytest.importorskip("vision.synthetic")


def test_seed_fills_two_tps_with_confirmed_pages(tmp_path: Path,
                                                 demo_config_path: Path) -> None:
    """Every seeded page ends final with the paper's values, whatever the machine made of its
    photo: read cleanly -> the officer confirms (correcting what differs); flagged -> the
    officer confirms with corrections and the PPK approves with a reason; refused -> the PPK
    types the values against that upload. Each path leaves its own messages and provenance."""
    config = load_box_config(demo_config_path)
    data = tmp_path / "data"
    summary = seed(config, data, 2)
    assert summary["mode"] == ("pipeline" if pipeline_ready() else "ground_truth")
    assert summary["tps"] == 2 and summary["uploads"] == 6 and summary["pages_final"] == 6
    outcomes = summary["outcomes"]
    stations = config.tps[:2]
    assert set(outcomes) == {f"{t.code}/{p}" for t in stations for p in (1, 2, 3)}
    paths = {k: sum(1 for o in outcomes.values() if o == k)
             for k in ("confirmed", "reviewed", "manual")}
    assert paths == {k: summary[k] for k in paths} and sum(paths.values()) == 6
    with Store(data, box_id=config.box.id, tps_codes=[t.code for t in config.tps]) as store:
        results = {(r["tps"], r["page"]): r for r in store.export_results()}
        assert set(results) == {(t.code, p) for t in stations for p in (1, 2, 3)}
        for index, station in enumerate(stations):
            truth = synthetic.tps_values(index, dpt=station.dpt)
            for page in (1, 2, 3):
                row = results[(station.code, page)]
                outcome = outcomes[f"{station.code}/{page}"]
                assert row["photo_sha256"], "every seeded page keeps its photo"
                assert row["state"] == ("confirmed" if outcome == "confirmed" else "reviewed")
                for name, value in truth[page].items():
                    assert row["values"][name] == value, (station.code, page, name)
                    source = row["provenance"][name]["source"]
                    if outcome == "manual":
                        assert source == "manual" and row["provenance"][name]["actor"] == "ppk"
                    elif row["provenance"][name]["machine"] != value:
                        # A value the machine got wrong was set by a named person.
                        assert source == "kpps" and row["provenance"][name]["actor"]
                    else:
                        assert source == "machine"
                if outcome != "manual":
                    assert row["confirmed_by"], "the officer confirmed the page"
                if outcome != "confirmed":
                    assert row["decided_by"] == "ppk"
            checks = store.tps_checks(station.code, station.dpt)
            assert checks and all(c["ok"] for c in checks), checks
        overview = {o["tps"]: o for o in store.kecamatan_overview()}
        assert overview[stations[0].code]["received"] == 3
        assert overview[config.tps[2].code]["received"] == 0
        assert store.verify_audit().ok
    conn = sqlite3.connect(data / "titik.db")
    messages = [(k, json.loads(p))
                for k, p in conn.execute("SELECT kind, payload FROM sync_outbox")]
    kinds = [k for k, _ in messages]
    assert kinds.count("photo") == 6 and kinds.count("reading") == 6
    # The officer's confirmation for each page a machine placed; the PPK's decision for each
    # flagged or refused page, typed by hand exactly for the refused ones.
    assert kinds.count("confirmation") == paths["confirmed"] + paths["reviewed"]
    reviews = [p for k, p in messages if k == "review"]
    assert len(reviews) == paths["reviewed"] + paths["manual"]
    assert sum(1 for p in reviews if p["manual"]) == paths["manual"]
    assert all(p["approve"] and p["reason"] for p in reviews)


@pytest.mark.slow
def test_seeding_again_adds_nothing(tmp_path: Path, demo_config_path: Path) -> None:
    data = tmp_path / "data"
    first = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "demo", "seed", "--config", str(demo_config_path),
         "--data", str(data), "--tps", "1"], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    again = seed(load_box_config(demo_config_path), data, 1)
    assert json.loads(first.stdout.strip().splitlines()[-1])["pages_final"] == 3
    assert again["uploads"] == 0 and again["duplicates"] == 3 and again["pages_final"] == 3
