"""Corrections are visible: every value shown to the PPK and to observers says whether it is
the machine's reading, the officer's confirmation or a later correction, with who, when and
why; the exports carry the same provenance; times are shown in the box's zone."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.config import BoxConfig
from gateway.store import Store
from gateway.web import create_app
from tests.gateway.test_web_support import (
    TPS_A,
    csrf_from,
    finish_next_job,
    jpeg_photo,
    page_reading,
    sign_in,
    upload_photo,
)

pytest_plugins = ["tests.gateway.test_web_support"]

P2 = {"suara_paslon_1": 61, "suara_paslon_2": 102, "suara_paslon_3": 47}
OFFICER_REASON = "angka di kertas 48"
PPK_REASON = "dicek dengan foto asli"


def wib(at: str, zone: str = "Asia/Jakarta") -> str:
    return datetime.fromisoformat(at).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def corrected_page(app: Flask, store: Store) -> int:
    """Page 2 read with paslon 03 flagged; the officer corrects it (48), the PPK corrects
    paslon 02 (103) and approves; paslon 01 stays as the machine read it."""
    officer = app.test_client()
    sign_in(officer, TPS_A)
    upload_photo(officer, jpeg_photo(seed=3))
    reading = page_reading(2, P2, status="needs_review", flagged=("suara_paslon_3",))
    upload_id = finish_next_job(store, reading)
    store.confirm(upload_id, actor=TPS_A, corrections={"suara_paslon_3": 48},
                  reason=OFFICER_REASON)
    store.review(upload_id, actor="ppk", approve=True, corrections={"suara_paslon_2": 103},
                 reason=PPK_REASON)
    return upload_id


@pytest.mark.parametrize("login", ["ppk", "pengawas"])
def test_a_corrected_value_shows_who_when_and_why(
    app: Flask, client: FlaskClient, store: Store, login: str
) -> None:
    upload_id = corrected_page(app, store)
    upload = store.get_upload(upload_id)
    assert upload is not None
    values = upload["values"]
    kpps_at = wib(values["suara_paslon_3"]["at"])
    ppk_at = wib(values["suara_paslon_2"]["at"])
    confirmed_at = wib(upload["officer_confirmed_at"])
    sign_in(client, login)
    for path in (f"/ppk/foto/{upload_id}", f"/ppk/tps/{TPS_A}"):
        page = client.get(path).get_data(as_text=True)
        # The officer's correction: the new value, the machine's beside it, who/when/why.
        assert f"Dikoreksi KPPS {TPS_A}, {kpps_at} WIB: alasan {OFFICER_REASON}" in page, path
        assert "bacaan mesin: 47" in page
        assert f"Dikoreksi PPK ppk, {ppk_at} WIB: alasan {PPK_REASON}" in page
        assert "bacaan mesin: 102" in page
        # A value left as read is the machine's, confirmed by the officer, approved by the PPK.
        assert f"Mesin · Dikonfirmasi KPPS {TPS_A}, {confirmed_at} WIB" in page
        assert f"Disetujui PPK ppk, {wib(upload['decided_at'])} WIB" in page
        assert "bacaan mesin: 61" not in page
    client.post("/bahasa/en", data={"csrf_token": csrf_from(client, f"/ppk/tps/{TPS_A}")})
    english = client.get(f"/ppk/foto/{upload_id}").get_data(as_text=True)
    assert f"Corrected by KPPS {TPS_A}, {kpps_at} WIB: reason {OFFICER_REASON}" in english
    assert "machine read: 47" in english


def test_a_page_typed_by_hand_says_so(app: Flask, client: FlaskClient) -> None:
    sign_in(client, "ppk")
    form = {"csrf_token": csrf_from(client, "/ppk/manual"), "tps": TPS_A, "page": "2",
            "reason": "foto hilang", **{f"value-{k}": str(v) for k, v in P2.items()}}
    assert client.post("/ppk/manual", data=form).status_code == 302
    observer = app.test_client()
    sign_in(observer, "pengawas")
    page = observer.get(f"/ppk/tps/{TPS_A}").get_data(as_text=True)
    assert page.count("Diisi manual PPK ppk, ") == 3
    assert page.count("alasan foto hilang") == 3
    assert "prov-machine" not in page and "Disetujui PPK" not in page


def test_exports_carry_each_values_provenance(
    app: Flask, client: FlaskClient, store: Store
) -> None:
    upload_id = corrected_page(app, store)
    values = store.get_upload(upload_id)["values"]  # type: ignore[index]
    sign_in(client, "pengawas")
    [row] = csv.DictReader(io.StringIO(client.get("/ppk/ekspor.csv").get_data(as_text=True)))
    assert row["suara_paslon_3"] == "48" and row["suara_paslon_3.machine"] == "47"
    assert row["suara_paslon_3.source"] == "kpps" and row["suara_paslon_3.actor"] == TPS_A
    assert row["suara_paslon_3.at"] == values["suara_paslon_3"]["at"]
    assert row["suara_paslon_3.note"] == OFFICER_REASON
    assert row["suara_paslon_2"] == "103" and row["suara_paslon_2.source"] == "ppk"
    assert row["suara_paslon_2.note"] == PPK_REASON
    assert row["suara_paslon_1.source"] == "machine" and row["suara_paslon_1.actor"] == ""
    assert row["confirmed_by"] == TPS_A and row["decided_by"] == "ppk"
    assert row["final_by"] == "ppk" and row["decision_reason"] == PPK_REASON
    assert row["source"] == "kpps" and row["photo_sha256"]
    doc = json.loads(client.get("/ppk/ekspor.json").get_data(as_text=True))
    [result] = doc["results"]
    assert result["provenance"]["suara_paslon_3"] == {
        "source": "kpps", "actor": TPS_A, "at": values["suara_paslon_3"]["at"],
        "note": OFFICER_REASON, "machine": 47}
    assert result["decision_reason"] == PPK_REASON and result["confirmed_at"]


def test_times_are_shown_in_the_configured_zone(box_config: BoxConfig, store: Store) -> None:
    box_config.web.timezone = "Asia/Jayapura"
    app = create_app(box_config, store)
    officer = app.test_client()
    sign_in(officer, TPS_A)
    upload_photo(officer, jpeg_photo(seed=4))
    [upload] = store.uploads_for_tps(TPS_A)
    received = datetime.fromisoformat(upload["received_at"])
    home = officer.get("/kpps/").get_data(as_text=True)
    assert f"{received.astimezone(ZoneInfo('Asia/Jayapura')):%H:%M} WIT" in home
    ppk = app.test_client()
    sign_in(ppk, "ppk")
    detail = ppk.get(f"/ppk/tps/{TPS_A}").get_data(as_text=True)
    assert f"{wib(upload['received_at'], 'Asia/Jayapura')} WIT" in detail
    assert upload["received_at"][:16] not in detail  # not the UTC string any more
