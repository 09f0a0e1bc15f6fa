"""Witnesses and supervisors: receipts for confirmed pages; an observer can change nothing."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from gateway.store import Store
from sync.receipt import verify_payload
from sync.receipt_scan import payload_from_image, payload_from_pdf
from sync.signing import load_verify_keys
from tests.gateway.test_web_support import (
    ROOT,
    TPS_A,
    TPS_B,
    csrf_from,
    finish_next_job,
    jpeg_photo,
    page_reading,
    sign_in,
)

pytest_plugins = ["tests.gateway.test_web_support"]

KEYS = ROOT / "firmware_config" / "example" / "central-keys"
VALUES = {"suara_paslon_1": 152, "suara_paslon_2": 97, "suara_paslon_3": 0}
# Session-only routes: signing out or switching language changes no recorded state.
SESSION_ROUTES = {"/masuk", "/keluar", "/bahasa/<code>", "/api/session"}


def confirmed_upload(store: Store, tps: str = TPS_A) -> int:
    result = store.save_upload(jpeg_photo(seed=3), tps=tps, actor=tps, source="kpps")
    upload_id = finish_next_job(store, page_reading(2, VALUES))
    assert upload_id == result.upload_id
    store.confirm(upload_id, actor=tps, corrections={})
    return upload_id


def db_snapshot(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: conn.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}
    finally:
        conn.close()


def test_a_confirmed_page_has_a_signed_receipt_with_a_scannable_qr(
    client: FlaskClient, store: Store
) -> None:
    upload_id = confirmed_upload(store)
    sign_in(client, TPS_A)
    page = client.get(f"/tanda-terima/{upload_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Tanda terima" in html and "152" in html and TPS_A in html

    payload = payload_from_image(client.get(f"/tanda-terima/{upload_id}/qr.png").data)
    result = verify_payload(payload, load_verify_keys(KEYS))
    assert result.ok
    assert result.receipt.values == VALUES
    assert result.receipt.tps == TPS_A and result.receipt.page == 2
    assert result.receipt.confirmed_by == TPS_A
    assert result.receipt.photo_sha256 == store.get_upload(upload_id)["sha256"]  # type: ignore[index]

    pdf = client.get(f"/tanda-terima/{upload_id}.pdf")
    assert pdf.mimetype == "application/pdf"
    assert payload_from_pdf(pdf.data) == payload


def test_the_status_view_links_the_receipt(client: FlaskClient, store: Store) -> None:
    upload_id = confirmed_upload(store)
    sign_in(client, TPS_A)
    assert f"/tanda-terima/{upload_id}" in client.get("/kpps/").get_data(as_text=True)


def test_no_receipt_before_confirmation_nor_for_another_tps(
    client: FlaskClient, store: Store
) -> None:
    store.save_upload(jpeg_photo(seed=4), tps=TPS_A, actor=TPS_A, source="kpps")
    unconfirmed = finish_next_job(store, page_reading(2, VALUES))
    other = confirmed_upload(store, TPS_B)
    sign_in(client, TPS_A)
    assert client.get(f"/tanda-terima/{unconfirmed}").status_code == 404
    assert client.get(f"/tanda-terima/{other}").status_code == 404


def test_an_observer_sees_receipts(client: FlaskClient, store: Store) -> None:
    upload_id = confirmed_upload(store)
    sign_in(client, "pengawas")
    assert client.get(f"/tanda-terima/{upload_id}").status_code == 200


def _url_for_rule(rule: str, upload_id: int) -> str:
    replacements = {"upload_id": str(upload_id), "code": TPS_A, "login": TPS_A, "page": "2",
                    "filename": "titik.css"}
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: replacements.get(m.group(1), "1"), rule)


def test_an_observer_is_refused_on_every_state_changing_route(
    app: Flask, client: FlaskClient, store: Store
) -> None:
    upload_id = confirmed_upload(store)
    store.save_upload(jpeg_photo(seed=5), tps=TPS_B, actor=TPS_B, source="kpps")
    sign_in(client, "pengawas")
    token = csrf_from(client, "/ppk/")
    before = db_snapshot(store.data_dir / "titik.db")

    routes = [r for r in app.url_map.iter_rules()
              if r.methods and r.methods & {"POST", "PUT", "PATCH", "DELETE"}
              and r.rule not in SESSION_ROUTES]
    assert len(routes) >= 8, "the app should have its state-changing routes"
    refused = []
    for rule in routes:
        url = _url_for_rule(rule.rule, upload_id)
        form = {"csrf_token": token, "reason": "coba", "approve": "1", "tps": TPS_A, "page": "2",
                "value-suara_paslon_1": "999", "pin": "999999", "action": "lock"}
        response = client.post(url, data=form, headers={"X-CSRFToken": token})
        refused.append((rule.rule, response.status_code))
    assert all(code == 403 for _, code in refused), [r for r in refused if r[1] != 403]
    assert db_snapshot(store.data_dir / "titik.db") == before
