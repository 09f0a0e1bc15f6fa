"""The PPK dashboard: progress, review, discard, manual entry, uploads on behalf, exports."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageDraw

from gateway.store import Store
from tests.gateway.test_web_support import (
    TPS_A,
    TPS_B,
    csrf_from,
    finish_next_job,
    jpeg_photo,
    page_reading,
    sign_in,
    upload_photo,
)

pytest_plugins = ["tests.gateway.test_web_support"]

P2 = {"suara_paslon_1": 61, "suara_paslon_2": 102, "suara_paslon_3": 47}


def _kpps_upload(app: Flask, store: Store, tps: str, seed: int, reading: dict[str, Any]) -> int:
    officer = app.test_client()
    sign_in(officer, tps)
    upload_photo(officer, jpeg_photo(seed=seed))
    return finish_next_job(store, reading, straightened=reading["status"] != "rejected")


def test_dashboard_shows_every_tps_and_progress(
    app: Flask, client: FlaskClient, store: Store
) -> None:
    upload_id = _kpps_upload(app, store, TPS_A, 1, page_reading(2, P2))
    store.confirm(upload_id, actor=TPS_A, corrections={})
    sign_in(client, "ppk")
    page = client.get("/ppk/").get_data(as_text=True)
    for code in ("3171011001001", "3171011002002", "3171011003001"):
        assert code in page
    assert '<progress max="18" value="1">' in page  # 6 TPS x 3 pages, one final
    assert 'http-equiv="refresh"' in page
    assert "Dikonfirmasi" in page
    assert "Log audit utuh" in page


def test_review_queue_correct_with_reason(app: Flask, client: FlaskClient, store: Store) -> None:
    flagged = page_reading(2, P2, status="needs_review", flagged=("suara_paslon_3",),
                           reasons=["Angka paslon 03 kurang jelas"])
    upload_id = _kpps_upload(app, store, TPS_A, 2, flagged)
    sign_in(client, "ppk")
    queue = client.get("/ppk/periksa").get_data(as_text=True)
    assert f"/ppk/foto/{upload_id}" in queue and "kurang jelas" in queue
    detail = client.get(f"/ppk/foto/{upload_id}").get_data(as_text=True)
    assert "Periksa!" in detail and "Angka paslon 03 kurang jelas" in detail

    token = csrf_from(client, f"/ppk/foto/{upload_id}")
    form = {"csrf_token": token, **{f"value-{k}": str(v) for k, v in P2.items()}}
    form["value-suara_paslon_3"] = "74"
    no_reason = client.post(f"/ppk/foto/{upload_id}/periksa", data=form)
    assert no_reason.status_code == 422
    assert "Tuliskan alasannya" in no_reason.get_data(as_text=True)
    assert 'value="74"' in no_reason.get_data(as_text=True)  # the correction is kept
    assert store.get_upload(upload_id)["state"] == "needs_review"  # type: ignore[index]

    form["reason"] = "dicocokkan dengan kertas asli"
    client.post(f"/ppk/foto/{upload_id}/periksa", data=form)
    upload = store.get_upload(upload_id)
    assert upload is not None and upload["state"] == "reviewed"
    assert upload["values"]["suara_paslon_3"] == {**upload["values"]["suara_paslon_3"],
                                                 "value": 74, "machine": 47, "actor": "ppk"}
    assert client.get("/ppk/periksa").get_data(as_text=True).count("/ppk/foto/") == 0


def test_rejected_photo_discard_or_manual_entry(
    app: Flask, client: FlaskClient, store: Store
) -> None:
    rejected = {**page_reading(1, {}), "status": "rejected", "template": None, "page": None,
                "reasons": ["Bukan halaman C.Hasil: tanda AprilTag tidak ditemukan"]}
    first = _kpps_upload(app, store, TPS_A, 3, rejected)
    second = _kpps_upload(app, store, TPS_A, 4, rejected)
    sign_in(client, "ppk")
    shown = client.get(f"/ppk/foto/{first}").get_data(as_text=True)
    assert f"/kpps/foto/{first}/asli" in shown  # no straightened page: the photo itself
    listing = client.get("/ppk/ditolak").get_data(as_text=True)
    assert f"#{first}" in listing and "AprilTag" in listing

    token = csrf_from(client, f"/ppk/foto/{first}")
    client.post(f"/ppk/foto/{first}/buang", data={"csrf_token": token, "reason": "foto lantai"})
    assert store.get_upload(first)["state"] == "discarded"  # type: ignore[index]

    form = {"csrf_token": token, "tps": TPS_A, "page": "2", "upload_id": str(second),
            "reason": "dibaca dari kertas", **{f"value-{k}": str(v) for k, v in P2.items()}}
    response = client.post("/ppk/manual", data=form)
    assert response.status_code == 302
    assert store.get_upload(second)["state"] == "reviewed"  # type: ignore[index]
    assert "Diperiksa PPK" in client.get(f"/ppk/tps/{TPS_A}").get_data(as_text=True)


def test_manual_entry_rejects_bad_numbers(client: FlaskClient, store: Store) -> None:
    sign_in(client, "ppk")
    token = csrf_from(client, "/ppk/manual")
    response = client.post("/ppk/manual", data={
        "csrf_token": token, "tps": TPS_B, "page": "2", "reason": "x",
        "value-suara_paslon_1": "-3", "value-suara_paslon_2": "abc"})
    assert response.status_code == 422
    assert "bilangan bulat" in response.get_data(as_text=True)
    assert store.page_states(TPS_B)[1]["state"] == "missing"


def _pdf(pages: int) -> bytes:
    images = [Image.new("RGB", (1240, 1754), (250, 250, 250)) for _ in range(pages)]
    for n, image in enumerate(images):  # distinct pages (identical ones are one photo)
        ImageDraw.Draw(image).rectangle([100 + 50 * n, 100, 300 + 50 * n, 200], fill=(0, 0, 0))
    buf = io.BytesIO()
    images[0].save(buf, format="PDF", save_all=True, append_images=images[1:], resolution=150)
    return buf.getvalue()


def test_ppk_uploads_a_pdf_for_a_tps(client: FlaskClient, store: Store) -> None:
    sign_in(client, "ppk")
    response = upload_photo(client, _pdf(3), name="scan.pdf", path="/ppk/unggah", tps=TPS_B)
    assert response.status_code == 302
    uploads = store.uploads_for_tps(TPS_B)
    assert len(uploads) == 3
    assert {u["source"] for u in uploads} == {"ppk"}
    assert {u["content_type"] for u in uploads} == {"image/jpeg"}


def test_ppk_upload_refuses_unknown_tps_and_junk(client: FlaskClient) -> None:
    sign_in(client, "ppk")
    unknown = upload_photo(client, jpeg_photo(), path="/ppk/unggah", tps="9999999999999")
    assert unknown.status_code == 422
    junk = upload_photo(client, b"%PDF-1.4 not really", name="x.pdf", path="/ppk/unggah",
                        tps=TPS_B)
    assert junk.status_code == 422 and "PDF rusak" in junk.get_data(as_text=True)


def test_exports(app: Flask, client: FlaskClient, store: Store) -> None:
    upload_id = _kpps_upload(app, store, TPS_A, 5, page_reading(2, P2))
    store.confirm(upload_id, actor=TPS_A, corrections={"suara_paslon_1": 60})
    sign_in(client, "pengawas")  # observers may export too
    rows = list(csv.DictReader(io.StringIO(client.get("/ppk/ekspor.csv").get_data(as_text=True))))
    assert len(rows) == 1
    assert rows[0]["tps"] == TPS_A and rows[0]["suara_paslon_1"] == "60"
    doc = json.loads(client.get("/ppk/ekspor.json").get_data(as_text=True))
    assert doc["kecamatan"] == "317101"
    assert doc["results"][0]["values"]["suara_paslon_2"] == 102


def _enter_by_hand(client: FlaskClient, tps: str, page: int, values: dict[str, int]) -> None:
    token = csrf_from(client, "/ppk/manual")
    form = {"csrf_token": token, "tps": tps, "page": str(page), "reason": "kertas asli",
            **{f"value-{k}": str(v) for k, v in values.items()}}
    assert client.post("/ppk/manual", data=form).status_code == 302


def test_cross_page_checks_once_three_pages_are_in(client: FlaskClient) -> None:
    from vision.synthetic import tps_values

    pages = tps_values(3, dpt=240)
    sign_in(client, "ppk")
    _enter_by_hand(client, TPS_A, 1, pages[1])
    _enter_by_hand(client, TPS_A, 2, pages[2])
    assert "Menunggu ketiga halaman" in client.get(f"/ppk/tps/{TPS_A}").get_data(as_text=True)
    wrong = {**pages[3], "suara_sah": pages[3]["suara_sah"] + 10}
    _enter_by_hand(client, TPS_A, 3, wrong)
    detail = client.get(f"/ppk/tps/{TPS_A}").get_data(as_text=True)
    assert "Tidak cocok: Jumlah suara paslon 1 + 2 + 3 tidak sama dengan suara sah" in detail
    dashboard = client.get("/ppk/").get_data(as_text=True)
    assert "Tidak cocok: " in dashboard

    _enter_by_hand(client, TPS_A, 3, pages[3])  # the PPK enters the page again, right
    detail = client.get(f"/ppk/tps/{TPS_A}").get_data(as_text=True)
    assert "Tidak cocok" not in detail and "Cocok" in detail


def test_manual_entry_needs_every_number_of_the_page(client: FlaskClient, store: Store) -> None:
    sign_in(client, "ppk")
    token = csrf_from(client, "/ppk/manual")
    response = client.post("/ppk/manual", data={
        "csrf_token": token, "tps": TPS_B, "page": "2", "reason": "kertas",
        "value-suara_paslon_1": "10", "value-suara_paslon_2": "20"})
    assert response.status_code == 422
    assert "Paslon 03" in response.get_data(as_text=True)
    assert store.page_states(TPS_B)[1]["state"] == "missing"


def test_dashboard_shows_the_relay_link(client: FlaskClient, store: Store) -> None:
    from sync import outbox

    sign_in(client, "ppk")
    assert "Terputus" in client.get("/ppk/").get_data(as_text=True)
    conn = outbox.connect(str(store.path))
    try:  # what the relay writes when central acknowledges
        outbox.write_link(conn, up=1, since=1_700_000_000.0, backlog=4,
                          last_ack_at=1_700_000_060.0)
    finally:
        conn.close()
    page = client.get("/ppk/").get_data(as_text=True)
    assert "Tersambung" in page
    # Central's last acknowledgement, 2023-11-14T22:14:20Z, in the box's zone (WIB, UTC+7).
    assert "Antrian kirim: 4" in page and "2023-11-15 05:14 WIB" in page
