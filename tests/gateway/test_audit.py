"""The audit log is a hash chain: any edited, removed or reordered row is found and named,
by the store and by `titik audit verify` (which exits non-zero)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.store import Store

BOX = "box-317101-demo"
TPS = "3171011001001"


def filled_store(data: Path) -> None:
    with Store(data, box_id=BOX, tps_codes=[TPS]) as store:
        for i in range(3):
            store.save_upload(f"photo {i}".encode(), tps=TPS, actor="kpps1", source="kpps")
        store.record_login("ppk", True, "10.42.0.20")
        store.audit("admin", "account_change", "account:3171011001001",
                    {"pin": "lama"}, {"pin": "baru"})
        store.audit("ppk", "logout", "account:ppk")


def titik(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_an_untouched_chain_verifies(tmp_path: Path) -> None:
    filled_store(tmp_path)
    with Store(tmp_path, box_id=BOX) as store:
        result = store.verify_audit()
        assert result.ok and result.checked == 6 and result.first_bad_id is None
        entries = store.audit_entries()
        assert [e["action"] for e in entries][:2] == ["logout", "account_change"]
        assert entries[1]["before"] == {"pin": "lama"}


def test_each_entry_is_queued_for_central(tmp_path: Path) -> None:
    filled_store(tmp_path)
    conn = sqlite3.connect(tmp_path / "titik.db")
    payloads = [json.loads(p) for (p,) in conn.execute(
        "SELECT payload FROM sync_outbox WHERE kind = 'audit' ORDER BY seq")]
    hashes = [h for (h,) in conn.execute("SELECT hash FROM audit ORDER BY id")]
    assert [p["hash"] for p in payloads] == hashes
    assert payloads[4]["action"] == "account_change"


@pytest.mark.parametrize(
    ("tamper", "bad_id"),
    [
        ("UPDATE audit SET actor = 'someone-else' WHERE id = 3", 3),
        ("UPDATE audit SET after = '{\"pin\":\"palsu\"}' WHERE id = 5", 5),
        ("DELETE FROM audit WHERE id = 2", 3),
        ("UPDATE audit SET id = 99 WHERE id = 6", 99),
    ],
)
def test_a_tampered_chain_names_the_first_bad_row(tmp_path: Path, tamper: str,
                                                  bad_id: int) -> None:
    filled_store(tmp_path)
    conn = sqlite3.connect(tmp_path / "titik.db")
    conn.execute(tamper)
    conn.commit()
    conn.close()
    with Store(tmp_path, box_id=BOX) as store:
        result = store.verify_audit()
    assert not result.ok and result.first_bad_id == bad_id and result.problem


def test_rehashing_an_edited_row_still_breaks_the_next_one(tmp_path: Path) -> None:
    from gateway.store.audit import row_hash

    filled_store(tmp_path)
    conn = sqlite3.connect(tmp_path / "titik.db")
    conn.row_factory = sqlite3.Row
    row = dict(conn.execute("SELECT * FROM audit WHERE id = 2").fetchone())
    row["actor"] = "forger"
    conn.execute("UPDATE audit SET actor = ?, hash = ? WHERE id = 2",
                 (row["actor"], row_hash(row["prev_hash"], row)))
    conn.commit()
    conn.close()
    with Store(tmp_path, box_id=BOX) as store:
        assert store.verify_audit().first_bad_id == 3


@pytest.mark.slow
def test_titik_audit_verify_exits_non_zero_and_names_the_row(
    tmp_path: Path, demo_config_path: Path
) -> None:
    filled_store(tmp_path)
    ok = titik("audit", "verify", "--config", str(demo_config_path), "--data", str(tmp_path))
    assert ok.returncode == 0, ok.stderr
    assert "6" in ok.stdout and "utuh" in ok.stdout
    conn = sqlite3.connect(tmp_path / "titik.db")
    conn.execute("UPDATE audit SET subject = 'upload:99' WHERE id = 4")
    conn.commit()
    conn.close()
    bad = titik("audit", "verify", "--config", str(demo_config_path), "--data", str(tmp_path),
                "--json")
    assert bad.returncode == 1
    assert "baris 4" in bad.stderr and "row 4" in bad.stderr
    assert json.loads(bad.stdout)["first_bad_id"] == 4


def test_titik_audit_verify_without_a_database_says_so(tmp_path: Path,
                                                       demo_config_path: Path) -> None:
    missing = titik("audit", "verify", "--config", str(demo_config_path), "--data",
                    str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "no database" in missing.stderr
    assert not (tmp_path / "nowhere").exists()
