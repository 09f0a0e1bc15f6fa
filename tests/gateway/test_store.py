"""The box store: uploads are kept and queued, readings recorded once, people's decisions
kept beside the machine's reading, every change audited and queued for central together."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from gateway.store import Conflict, InvalidInput, NotFound, Store
from gateway.store.jobs import MAX_ATTEMPTS
from gateway.store.photos import photo_path
from vision.reading import FieldReading, Reading

TPS = "3171011001001"
OTHER_TPS = "3171011001002"
BOX = "box-317101-test"


def jpeg(seed: int) -> bytes:
    """A real JPEG, different per seed."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, size=(48, 64, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


def reading(page: int | None, values: dict[str, int], status: str = "accepted") -> dict[str, Any]:
    fields = {
        name: FieldReading(value=v, text=str(v), confidence=0.99, flagged=status != "accepted")
        for name, v in values.items()
    }
    return Reading(
        template="C.HASIL-PPWP-2024" if page else None, page=page, status=status,  # type: ignore[arg-type]
        reasons=[] if status == "accepted" else ["perlu diperiksa"], fields=fields,
    ).to_dict()


P2 = {"suara_paslon_1": 50, "suara_paslon_2": 70, "suara_paslon_3": 30}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "data", box_id=BOX, tps_codes=[TPS, OTHER_TPS])
    yield s
    s.close()


def outbox(store: Store) -> list[tuple[str, str | None, int | None]]:
    conn = sqlite3.connect(store.path)
    try:
        return conn.execute("SELECT kind, tps, page FROM sync_outbox ORDER BY seq").fetchall()
    finally:
        conn.close()


def read_upload(store: Store, data: bytes, page: int | None, values: dict[str, int],
                status: str = "accepted", **kw: Any) -> int:
    """Upload, let a worker claim it and record the given reading."""
    result = store.save_upload(data, tps=kw.pop("tps", TPS), actor="kpps1", source="kpps", **kw)
    job = store.claim_job("w", 60)
    assert job is not None and job.upload_id == result.upload_id
    assert store.finish_job(job.id, reading(page, values, status), b"\xff\xd8rect")
    return result.upload_id


def test_upload_is_kept_under_its_hash_and_queued(store: Store) -> None:
    data = jpeg(1)
    result = store.save_upload(data, tps=TPS, actor="kpps1", source="kpps",
                               content_type="image/jpeg")
    assert not result.duplicate and result.state == "queued"
    path = photo_path(store.data_dir, result.sha256)
    assert path.read_bytes() == data
    assert not list(path.parent.glob(".*.tmp"))
    upload = store.get_upload(result.upload_id)
    assert upload is not None
    assert upload["state"] == "queued" and upload["tps"] == TPS
    assert upload["job"]["state"] == "queued"
    assert store.photo_bytes(result.upload_id) == data
    assert ("photo", TPS, None) in outbox(store)


def test_same_photo_again_is_the_same_upload(store: Store) -> None:
    data = jpeg(2)
    first = store.save_upload(data, tps=TPS, actor="kpps1", source="kpps")
    again = store.save_upload(data, tps=TPS, actor="kpps1", source="kpps")
    assert again.duplicate and again.upload_id == first.upload_id
    assert len(store.uploads_for_tps(TPS)) == 1
    assert store.job_counts() == {"queued": 1}
    assert [k for k, _, _ in outbox(store)].count("photo") == 1
    with pytest.raises(Conflict, match="TPS lain"):
        store.save_upload(data, tps=OTHER_TPS, actor="kpps2", source="kpps")
    assert store.uploads_for_tps(OTHER_TPS) == []


def test_bad_uploads_are_refused_and_nothing_is_written(store: Store) -> None:
    with pytest.raises(InvalidInput):
        store.save_upload(b"", tps=TPS, actor="kpps1", source="kpps")
    with pytest.raises(InvalidInput, match="tidak terdaftar"):
        store.save_upload(jpeg(3), tps="3171019999999", actor="kpps1", source="kpps")
    with pytest.raises(InvalidInput):
        store.save_upload(jpeg(3), tps=TPS, actor="kpps1", source="fax")
    assert store.uploads_for_tps(TPS) == []
    assert store.verify_audit().checked == 0


def test_reading_is_recorded_once_with_its_rectified_page(store: Store) -> None:
    upload_id = store.save_upload(jpeg(4), tps=TPS, actor="kpps1", source="kpps").upload_id
    job = store.claim_job("w1", 60)
    assert job is not None and job.photo_path.read_bytes() == jpeg(4)
    assert store.get_upload(upload_id)["state"] == "processing"  # type: ignore[index]
    assert store.claim_job("w2", 60) is None  # leased to w1
    assert store.finish_job(job.id, reading(2, P2), b"\xff\xd8rectified")
    assert not store.finish_job(job.id, reading(2, P2), b"\xff\xd8rectified")
    upload = store.get_upload(upload_id)
    assert upload is not None
    assert upload["state"] == "read" and upload["page"] == 2
    assert upload["values"]["suara_paslon_2"]["value"] == 70
    assert Path(upload["rectified_path"]).read_bytes() == b"\xff\xd8rectified"
    assert store.rectified_bytes(upload_id) == b"\xff\xd8rectified"
    assert [k for k, _, _ in outbox(store)].count("reading") == 1
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == 1


@pytest.mark.parametrize(
    ("status", "state"),
    [("accepted", "read"), ("needs_review", "needs_review"), ("rejected", "rejected")],
)
def test_reading_status_decides_where_the_upload_goes(store: Store, status: str,
                                                      state: str) -> None:
    upload_id = read_upload(store, jpeg(5), 2 if status != "rejected" else None, P2, status)
    assert store.get_upload(upload_id)["state"] == state  # type: ignore[index]
    assert [u["id"] for u in store.review_queue()] == ([upload_id] if state == "needs_review"
                                                       else [])
    assert [u["id"] for u in store.rejected_uploads()] == ([upload_id] if state == "rejected"
                                                           else [])


def test_a_job_whose_lease_ran_out_is_claimed_again(store: Store) -> None:
    upload_id = store.save_upload(jpeg(6), tps=TPS, actor="kpps1", source="kpps").upload_id
    first = store.claim_job("killed-worker", 0.0)
    assert first is not None
    second = store.claim_job("w2", 60)
    assert second is not None and second.id == first.id and second.attempts == 2
    assert store.finish_job(second.id, reading(2, P2), None)
    # The first worker comes back late: its result is not recorded a second time.
    assert not store.finish_job(first.id, reading(2, P2), None)
    assert store.get_upload(upload_id)["state"] == "read"  # type: ignore[index]


def test_a_photo_that_keeps_killing_workers_goes_to_a_person(store: Store) -> None:
    upload_id = store.save_upload(jpeg(7), tps=TPS, actor="kpps1", source="kpps").upload_id
    for _ in range(MAX_ATTEMPTS):
        assert store.claim_job("dies", 0.0) is not None
    assert store.claim_job("w", 60) is None
    upload = store.get_upload(upload_id)
    assert upload is not None
    assert upload["state"] == "needs_review" and upload["job"]["state"] == "failed"
    assert "manual" in upload["reasons"][0]


def test_a_released_job_is_queued_again_as_if_never_taken(store: Store) -> None:
    upload_id = store.save_upload(jpeg(22), tps=TPS, actor="kpps1", source="kpps").upload_id
    job = store.claim_job("w-without-model", 60)
    assert job is not None and store.release_job(job.id)
    assert not store.release_job(job.id)
    assert store.get_upload(upload_id)["state"] == "queued"  # type: ignore[index]
    again = store.claim_job("w2", 60)
    assert again is not None and again.id == job.id and again.attempts == 1


def test_a_pipeline_error_goes_to_the_review_queue(store: Store) -> None:
    upload_id = store.save_upload(jpeg(8), tps=TPS, actor="kpps1", source="kpps").upload_id
    job = store.claim_job("w", 60)
    assert job is not None
    assert store.fail_job(job.id, "ValueError: boom")
    assert [u["id"] for u in store.review_queue()] == [upload_id]
    assert store.get_upload(upload_id)["job"]["error"] == "ValueError: boom"  # type: ignore[index]


def test_confirm_keeps_the_machine_reading_beside_the_correction(store: Store) -> None:
    upload_id = read_upload(store, jpeg(9), 2, P2)
    result = store.confirm(upload_id, actor="kpps1", corrections={"suara_paslon_1": 51},
                           reason="salah baca")
    assert result["state"] == "confirmed" and result["values"]["suara_paslon_1"] == 51
    upload = store.get_upload(upload_id)
    assert upload is not None
    value = upload["values"]["suara_paslon_1"]
    assert (value["value"], value["machine"], value["source"], value["actor"]) == (
        51, 50, "kpps", "kpps1")
    assert upload["values"]["suara_paslon_2"]["source"] == "machine"
    assert upload["reading"]["fields"]["suara_paslon_1"]["value"] == 50
    kinds = [k for k, _, _ in outbox(store)]
    assert "correction" in kinds and "confirmation" in kinds
    with pytest.raises(Conflict):
        store.confirm(upload_id, actor="kpps1")


def test_a_second_confirmed_page_needs_replace(store: Store) -> None:
    first = read_upload(store, jpeg(10), 2, P2)
    store.confirm(first, actor="kpps1")
    second = read_upload(store, jpeg(11), 2, P2)
    with pytest.raises(Conflict, match="sudah dikonfirmasi"):
        store.confirm(second, actor="kpps1")
    assert store.get_upload(second)["state"] == "read"  # type: ignore[index]
    third = read_upload(store, jpeg(12), 2, {**P2, "suara_paslon_3": 31}, replace=True)
    store.confirm(third, actor="kpps1")
    assert store.get_upload(first)["state"] == "superseded"  # type: ignore[index]
    assert store.get_upload(first)["superseded_by"] == third  # type: ignore[index]
    [row] = store.export_results()
    assert row["upload_id"] == third and row["values"]["suara_paslon_3"] == 31


def test_a_flagged_page_confirmed_by_the_officer_still_waits_for_the_ppk(store: Store) -> None:
    upload_id = read_upload(store, jpeg(13), 2, P2, "needs_review")
    store.confirm(upload_id, actor="kpps1", corrections={"suara_paslon_3": 33})
    upload = store.get_upload(upload_id)
    assert upload is not None
    assert upload["state"] == "needs_review" and upload["officer_confirmed_by"] == "kpps1"
    assert store.export_results() == []
    with pytest.raises(InvalidInput, match="Alasan"):
        store.review(upload_id, actor="ppk", approve=True, reason=" ")
    store.review(upload_id, actor="ppk", approve=True, corrections={"suara_paslon_2": 71},
                 reason="cek foto")
    [row] = store.export_results()
    assert row["state"] == "reviewed" and row["decided_by"] == "ppk"
    assert row["values"] == {"suara_paslon_1": 50, "suara_paslon_2": 71, "suara_paslon_3": 33}
    assert row["provenance"]["suara_paslon_3"]["source"] == "kpps"
    assert row["provenance"]["suara_paslon_2"]["source"] == "ppk"
    assert store.review_queue() == []


def test_review_rejection_and_discard_keep_the_upload(store: Store) -> None:
    a = read_upload(store, jpeg(14), 2, P2, "needs_review")
    store.review(a, actor="ppk", approve=False, reason="foto buram")
    b = read_upload(store, jpeg(15), None, {}, "rejected")
    store.discard(b, actor="ppk", reason="bukan formulir")
    for upload_id in (a, b):
        upload = store.get_upload(upload_id)
        assert upload is not None and upload["state"] == "discarded"
        assert upload["decided_by"] == "ppk" and upload["decision_reason"]
        assert upload["photo_path"] and Path(upload["photo_path"]).exists()
    with pytest.raises(Conflict):
        store.discard(b, actor="ppk", reason="lagi")
    with pytest.raises(NotFound):
        store.discard(999, actor="ppk", reason="x")


def test_wrong_corrections_change_nothing(store: Store) -> None:
    upload_id = read_upload(store, jpeg(16), 2, P2)
    audited = store.verify_audit().checked
    for bad in ({"suara_sah": 5}, {"suara_paslon_1": -1}, {"suara_paslon_1": "12"},
                {"suara_paslon_1": True}):
        with pytest.raises(InvalidInput):
            store.confirm(upload_id, actor="kpps1", corrections=bad)  # type: ignore[arg-type]
    upload = store.get_upload(upload_id)
    assert upload is not None and upload["state"] == "read" and upload["corrections"] == []
    assert store.verify_audit().checked == audited


def test_manual_entry_with_and_without_a_photo(store: Store) -> None:
    values = {"suara_sah": 150, "suara_tidak_sah": 5, "suara_total": 155}
    result = store.manual_entry(tps=TPS, page=3, values=values, actor="ppk", reason="foto hilang")
    upload = store.get_upload(result["upload_id"])
    assert upload is not None and upload["state"] == "reviewed" and upload["source"] == "manual"
    assert {k: v["source"] for k, v in upload["values"].items()} == dict.fromkeys(values, "manual")
    rejected = read_upload(store, jpeg(17), None, {}, "rejected")
    store.manual_entry(tps=TPS, page=2, values=P2, actor="ppk", reason="tag rusak",
                       upload_id=rejected)
    upload = store.get_upload(rejected)
    assert upload is not None and upload["state"] == "reviewed" and upload["page"] == 2
    with pytest.raises(InvalidInput):
        store.manual_entry(tps=TPS, page=4, values={}, actor="ppk", reason="x")
    with pytest.raises(InvalidInput):
        store.manual_entry(tps=OTHER_TPS, page=2, values=P2, actor="ppk", reason="x",
                           upload_id=rejected)
    assert [(r["tps"], r["page"]) for r in store.export_results()] == [(TPS, 2), (TPS, 3)]


def test_page_states_and_kecamatan_overview(store: Store) -> None:
    confirmed = read_upload(store, jpeg(18), 1, {"pemilih_dpt_j": 200})
    store.confirm(confirmed, actor="kpps1")
    waiting = read_upload(store, jpeg(19), 2, P2)
    store.save_upload(jpeg(20), tps=TPS, actor="kpps1", source="kpps")
    pages = store.page_states(TPS)
    assert [(p["page"], p["state"], p["upload_id"]) for p in pages] == [
        (1, "confirmed", confirmed), (2, "read", waiting), (3, "missing", None)]
    assert pages[0]["relay"] == "pending"
    overview = {row["tps"]: row for row in store.kecamatan_overview()}
    assert set(overview) == {TPS, OTHER_TPS}
    assert (overview[TPS]["received"], overview[TPS]["expected"]) == (1, 3)
    assert overview[TPS]["unplaced"] == 1 and overview[TPS]["uploads"] == 3
    assert overview[OTHER_TPS]["received"] == 0


def test_tps_checks_run_once_all_three_pages_are_in(store: Store) -> None:
    p1 = {"pengguna_total_j": 155, "surat_suara_digunakan": 155, "pemilih_dpt_j": 200}
    p3 = {"suara_sah": 150, "suara_tidak_sah": 5, "suara_total": 155}
    store.manual_entry(tps=TPS, page=1, values=p1, actor="ppk", reason="uji")
    store.manual_entry(tps=TPS, page=3, values=p3, actor="ppk", reason="uji")
    assert store.tps_checks(TPS, 240) == []
    store.manual_entry(tps=TPS, page=2, values=P2, actor="ppk", reason="uji")
    checks = {c["rule"]: c["ok"] for c in store.tps_checks(TPS, 240)}
    assert checks["suara_paslon_sama_sah"] and checks["suara_total_sama_pengguna"]
    store.manual_entry(tps=TPS, page=2, values={**P2, "suara_paslon_1": 60}, actor="ppk",
                       reason="uji")
    checks = {c["rule"]: c["ok"] for c in store.tps_checks(TPS, 240)}
    assert not checks["suara_paslon_sama_sah"]


def test_login_lockout_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Store(data, box_id=BOX) as store:
        for _ in range(4):
            store.record_login("ppk", False, "10.42.0.11")
        assert store.login_locked("ppk") == 0
        store.record_login("ppk", False, "10.42.0.11")
    with Store(data, box_id=BOX) as store:
        assert 0 < store.login_locked("ppk") <= 300
        assert store.login_locked("kpps1") == 0
        actions = [e["action"] for e in store.audit_entries()]
        assert actions.count("login_failed") == 5


def test_reopening_keeps_everything_and_migrations_run_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Store(data, box_id=BOX) as store:
        upload_id = store.save_upload(jpeg(21), tps=TPS, actor="kpps1", source="kpps").upload_id
    with Store(data, box_id=BOX) as store:
        assert store.get_upload(upload_id) is not None
        assert store.db["_sqlite_migrations"].count == 2  # 0001_initial, 0002_cross_page: once each
        conn = sqlite3.connect(store.path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


WRITER = """
import sys
from pathlib import Path
import numpy as np
from gateway.store import Store
store = Store(Path(sys.argv[1]), box_id="box-317101-test")
for i in range(int(sys.argv[3])):
    data = np.random.default_rng([int(sys.argv[2]), i]).bytes(2000)
    store.save_upload(data, tps="3171011001001", actor="w" + sys.argv[2], source="api")
    store.record_login("w" + sys.argv[2], True, None)
"""


@pytest.mark.slow
def test_two_processes_writing_at_once_keep_one_audit_chain(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Store(data, box_id=BOX).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(data), str(n), "25"])
             for n in (1, 2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with Store(data, box_id=BOX) as store:
        assert len(store.uploads_for_tps(TPS)) == 50
        verification = store.verify_audit()
        assert verification.ok and verification.checked == 100
        assert store.job_counts() == {"queued": 50}
