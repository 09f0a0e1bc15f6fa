"""A TPS's pages checked together on the box: a page 2 that went to the PPK only because
nothing on it could check a doubted vote goes back to its officer once page 3's `suara_sah`
vouches for it; the vouching is withdrawn when its support goes; a person's decision stands."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from gateway.store import Store
from gateway.store.cross_page import ACTOR, REASON_WITHDRAWN
from vision.reading import FieldReading, Reading
from vision.tps_vouching import REASON_CROSS_PAGE
from vision.vouching import REASON_UNCHECKED

TPS = "3171011001001"
BOX = "box-317101-test"
P1 = {"pemilih_dpt_j": 250, "pengguna_total_j": 186, "surat_suara_digunakan": 186}
P2 = {"suara_paslon_1": 63, "suara_paslon_2": 81, "suara_paslon_3": 37}
P3 = {"suara_sah": 181, "suara_tidak_sah": 5, "suara_total": 186}


def jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    ok, buf = cv2.imencode(".jpg", rng.integers(0, 255, size=(48, 64, 3), dtype=np.uint8))
    assert ok
    return buf.tobytes()


def reading(page: int, values: dict[str, int], doubted: tuple[str, ...] = ()) -> dict[str, Any]:
    """A page as read alone; `doubted` fields flagged for want of a rule (`_63`)."""
    fields = {
        name: FieldReading(value=v, text=f"_{v}" if name in doubted else f"X{v}",
                           confidence=0.95 if name in doubted else 0.99,
                           flagged=name in doubted,
                           reason=REASON_UNCHECKED if name in doubted else None,
                           unsure_boxes=(0,) if name in doubted else ())
        for name, v in values.items()
    }
    reasons = [f"{n}: {REASON_UNCHECKED}" for n in doubted]
    return Reading(template="C.HASIL-PPWP-2024", page=page,
                   status="needs_review" if doubted else "accepted",
                   reasons=reasons, fields=fields).to_dict()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "data", box_id=BOX, tps_codes=[TPS], dpts={TPS: 250})
    yield s
    s.close()


def read_upload(store: Store, seed: int, page_reading: dict[str, Any], **kw: Any) -> int:
    result = store.save_upload(jpeg(seed), tps=TPS, actor="kpps1", source="kpps", **kw)
    job = store.claim_job("w", 60)
    assert job is not None and job.upload_id == result.upload_id
    assert store.finish_job(job.id, page_reading, None)
    return result.upload_id


def state(store: Store, upload_id: int) -> str:
    upload = store.get_upload(upload_id)
    assert upload is not None
    return str(upload["state"])


def audit_actions(store: Store) -> list[tuple[str, str]]:
    return [(e["actor"], e["action"]) for e in store.audit_entries()]


def test_page_3_arriving_sends_a_doubted_page_2_back_to_its_officer(store: Store) -> None:
    page2 = read_upload(store, 2, reading(2, P2, doubted=("suara_paslon_1",)))
    assert state(store, page2) == "needs_review"
    read_upload(store, 3, reading(3, P3))
    upload = store.get_upload(page2)
    assert upload is not None and upload["state"] == "read" and upload["status"] == "accepted"
    field = upload["values"]["suara_paslon_1"]
    assert field["value"] == 63 and not field["flagged"]
    assert field["reason"] == REASON_CROSS_PAGE.format(rules="suara_paslon_sama_sah")
    assert upload["reading"]["cross_page"]["vouched"] == {
        "suara_paslon_1": ["suara_paslon_sama_sah"]}
    assert store.review_queue() == []
    assert (ACTOR, "cross_page_vouch") in audit_actions(store)
    assert store.verify_audit().ok
    # The machine's reading of the page alone is kept as it was.
    conn = sqlite3.connect(store.path)
    try:
        (stored,) = conn.execute("SELECT status FROM readings WHERE upload_id = ?",
                                 (page2,)).fetchone()
        kinds = [k for (k,) in conn.execute(
            "SELECT kind FROM sync_outbox WHERE page = 2 AND kind = 'reading' ORDER BY seq")]
    finally:
        conn.close()
    assert stored == "needs_review"
    # Central hears of the page twice: read alone, then vouched for.
    assert kinds == ["reading", "reading"]
    # The officer confirms it like any page read cleanly.
    store.confirm(page2, actor="kpps1")
    assert state(store, page2) == "confirmed"


def test_page_2_arriving_after_page_3_is_vouched_for_at_once(store: Store) -> None:
    read_upload(store, 3, reading(3, P3))
    page2 = read_upload(store, 2, reading(2, P2, doubted=("suara_paslon_3",)))
    assert state(store, page2) == "read"


def test_a_sum_that_does_not_hold_leaves_the_page_with_the_ppk(store: Store) -> None:
    page2 = read_upload(store, 2, reading(2, {**P2, "suara_paslon_1": 73},
                                          doubted=("suara_paslon_1",)))
    page3 = read_upload(store, 3, reading(3, P3))
    assert state(store, page2) == "needs_review"
    # 73 + 81 + 37 is not 181: which page is wrong, a person says. Page 3 waits too...
    assert [u["id"] for u in store.review_queue()] == [page2, page3]
    # ...until the PPK reads 63 on page 2's photo: the TPS agrees, page 3 goes back to its
    # officer to confirm.
    store.review(page2, actor="ppk1", approve=True, corrections={"suara_paslon_1": 63},
                 reason="sesuai foto")
    assert state(store, page3) == "read"
    assert store.review_queue() == []


def test_a_page_its_officer_already_corrected_is_left_to_the_ppk(store: Store) -> None:
    page2 = read_upload(store, 2, reading(2, P2, doubted=("suara_paslon_1",)))
    store.confirm(page2, actor="kpps1", corrections={"suara_paslon_1": 63}, reason="cek")
    read_upload(store, 3, reading(3, P3))
    assert state(store, page2) == "needs_review"


def test_the_vouching_is_withdrawn_when_page_3_is_replaced_with_another_sum(store: Store) -> None:
    page2 = read_upload(store, 2, reading(2, P2, doubted=("suara_paslon_1",)))
    read_upload(store, 3, reading(3, P3))
    assert state(store, page2) == "read"
    # A new photo of page 3 reads 281 valid votes: 63 + 81 + 37 no longer holds.
    read_upload(store, 4, reading(3, {**P3, "suara_sah": 281, "suara_total": 286}),
                replace=True)
    upload = store.get_upload(page2)
    assert upload is not None and upload["state"] == "needs_review"
    assert upload["reasons"][0] == REASON_WITHDRAWN
    assert upload["values"]["suara_paslon_1"]["flagged"]
    assert "cross_page" not in upload["reading"]
    assert (ACTOR, "cross_page_withdraw") in audit_actions(store)
    assert store.verify_audit().ok


def test_a_ppk_reviewed_page_3_vouches_like_a_read_one(store: Store) -> None:
    page3 = read_upload(store, 3, reading(3, P3, doubted=("suara_sah",)))
    page2 = read_upload(store, 2, reading(2, P2, doubted=("suara_paslon_2",)))
    # Two doubts on one sum, one of them a page's own: nothing settles yet.
    assert state(store, page2) == "needs_review"
    store.review(page3, actor="ppk1", approve=True, reason="cocok dengan foto")
    assert state(store, page2) == "read"


def test_a_count_above_the_tps_list_keeps_the_whole_tps_with_a_person(tmp_path: Path) -> None:
    # 63 + 181 + 37 = 281 holds, but 181 votes for one pair at a TPS of 150 voters cannot.
    with Store(tmp_path / "data", box_id=BOX, tps_codes=[TPS], dpts={TPS: 150}) as store:
        page2 = read_upload(store, 2, reading(2, {**P2, "suara_paslon_2": 181},
                                              doubted=("suara_paslon_1",)))
        read_upload(store, 3, reading(3, {**P3, "suara_sah": 281, "suara_total": 286}))
        assert state(store, page2) == "needs_review"


def test_pages_read_cleanly_that_disagree_are_held_for_the_ppk_until_they_agree(
    store: Store
) -> None:
    # Page 2 read 31 surely where the officer wrote 131: alone, nothing could tell.
    page2 = read_upload(store, 2, reading(2, {**P2, "suara_paslon_1": 31}))
    assert state(store, page2) == "read"
    page3 = read_upload(store, 3, reading(3, P3))
    for upload_id in (page2, page3):
        upload = store.get_upload(upload_id)
        assert upload is not None and upload["state"] == "needs_review"
        assert any("tidak sama dengan suara sah" in r for r in upload["reasons"])
    assert (ACTOR, "cross_page_hold") in audit_actions(store)
    # A new photo of page 2 reads 63 + 81 + 37 = 181: the TPS agrees, page 3 is released.
    page2_again = read_upload(store, 5, reading(2, P2), replace=True)
    assert state(store, page2_again) == "read"
    assert state(store, page3) == "read"
    assert (ACTOR, "cross_page_release") in audit_actions(store)
    assert store.verify_audit().ok


def test_a_page_already_confirmed_is_not_held(store: Store) -> None:
    page3 = read_upload(store, 3, reading(3, P3))
    store.confirm(page3, actor="kpps1")
    page2 = read_upload(store, 2, reading(2, {**P2, "suara_paslon_1": 31}))
    assert state(store, page3) == "confirmed"
    assert state(store, page2) == "needs_review"


def test_a_vote_above_the_tps_list_holds_page_2_even_alone(tmp_path: Path) -> None:
    with Store(tmp_path / "data", box_id=BOX, tps_codes=[TPS], dpts={TPS: 150}) as store:
        page2 = read_upload(store, 2, reading(2, {**P2, "suara_paslon_2": 181}))
        upload = store.get_upload(page2)
        assert upload is not None and upload["state"] == "needs_review"
        assert "Suara paslon 2 melebihi DPT TPS ini (181 > 150)" in upload["reasons"]
