"""The JSON API: sign in, upload, reading, confirm, TPS status, overview, errors as JSON."""

from __future__ import annotations

import io

from flask import Flask
from flask.testing import FlaskClient

from gateway.store import Store
from tests.gateway.test_web_support import (
    PIN,
    TPS_A,
    TPS_B,
    finish_next_job,
    jpeg_photo,
    page_reading,
)

pytest_plugins = ["tests.gateway.test_web_support"]

P2 = {"suara_paslon_1": 61, "suara_paslon_2": 102, "suara_paslon_3": 47}


def api_sign_in(client: FlaskClient, login: str) -> str:
    token = client.get("/api/csrf").json["csrf_token"]  # type: ignore[index]
    response = client.post("/api/session", json={"login": login, "pin": PIN[login]},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.json
    return str(response.json["csrf_token"])  # type: ignore[index]


def api_upload(client: FlaskClient, token: str, data: bytes, **fields: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = client.post("/api/uploads", data={"photo": (io.BytesIO(data), "p.jpg"), **fields},
                           headers={"X-CSRFToken": token}, content_type="multipart/form-data")
    return response.status_code, response.json  # type: ignore[return-value]


def test_openapi_document_lists_the_api(client: FlaskClient) -> None:
    doc = client.get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.")  # type: ignore[index]
    assert {"/api/uploads", "/api/uploads/{upload_id}", "/api/tps/{code}", "/api/overview"} <= set(
        doc["paths"]  # type: ignore[index]
    )


def test_session_needs_sign_in(client: FlaskClient) -> None:
    response = client.get("/api/session")
    assert response.status_code == 401
    assert response.json["message"] == "Silakan masuk dulu."  # type: ignore[index]
    assert response.json["message_en"] == "Please sign in first."  # type: ignore[index]


def test_kpps_upload_read_confirm_over_the_api(client: FlaskClient, store: Store) -> None:
    token = api_sign_in(client, TPS_A)
    status, body = api_upload(client, token, jpeg_photo(seed=21))
    assert status == 201
    [item] = body["uploads"]
    assert item["duplicate"] is False and item["state"] == "queued"
    assert api_upload(client, token, jpeg_photo(seed=21))[0] == 200  # same photo again

    upload_id = finish_next_job(store, page_reading(2, P2))
    assert upload_id == item["upload_id"]
    reading = client.get(f"/api/uploads/{upload_id}").json
    assert reading["state"] == "read" and reading["page"] == 2  # type: ignore[index]
    assert {f["name"]: f["value"] for f in reading["fields"]} == P2  # type: ignore[index]

    bad = client.post(f"/api/uploads/{upload_id}/confirm", json={"corrections": {"nope": 1}},
                      headers={"X-CSRFToken": token})
    assert bad.status_code == 422
    ok = client.post(f"/api/uploads/{upload_id}/confirm",
                     json={"corrections": {"suara_paslon_1": 16}}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200 and ok.json["state"] == "confirmed"  # type: ignore[index]
    after = client.get(f"/api/uploads/{upload_id}").json
    fields = {f["name"]: f for f in after["fields"]}  # type: ignore[index]
    corrected = fields["suara_paslon_1"]
    assert (corrected["value"], corrected["read"], corrected["source"]) == (16, 61, "kpps")
    assert corrected["actor"] == TPS_A and corrected["at"]
    assert fields["suara_paslon_2"]["source"] == "machine"
    assert fields["suara_paslon_2"]["actor"] is None
    again = client.post(f"/api/uploads/{upload_id}/confirm", json={"corrections": {}},
                        headers={"X-CSRFToken": token})
    assert again.status_code == 409

    pages = client.get(f"/api/tps/{TPS_A}").json["pages"]  # type: ignore[index]
    assert [p["state"] for p in pages] == ["missing", "confirmed", "missing"]
    assert pages[1]["relay"] in ("pending", "published", "delivered")


def test_kpps_api_is_limited_to_own_tps(client: FlaskClient) -> None:
    token = api_sign_in(client, TPS_A)
    assert client.get(f"/api/tps/{TPS_B}").status_code == 404
    assert client.get("/api/overview").status_code == 403
    # A KPPS cannot upload for another TPS by naming it: the session's TPS wins.
    status, body = api_upload(client, token, jpeg_photo(seed=22), tps=TPS_B)
    assert status == 201
    assert client.get(f"/api/uploads/{body['uploads'][0]['upload_id']}").json["tps"] == TPS_A  # type: ignore[index]


def test_refused_upload_says_why_in_both_languages(client: FlaskClient) -> None:
    token = api_sign_in(client, TPS_A)
    status, body = api_upload(client, token, b"GIF89a not a photo")
    assert status == 422
    assert body["error"] == "err_not_image"
    assert "bukan foto" in body["message"] and "not a photo" in body["message_en"]


def test_overview_for_ppk(app: Flask, client: FlaskClient, store: Store) -> None:
    token = api_sign_in(client, "ppk")
    status, _ = api_upload(client, token, jpeg_photo(seed=23), tps=TPS_B)
    assert status == 201
    finish_next_job(store, page_reading(2, P2))
    doc = client.get("/api/overview").json
    assert doc["totals"]["expected"] == 18 and doc["totals"]["received"] == 1  # type: ignore[index]
    row = next(r for r in doc["tps"] if r["tps"] == TPS_B)  # type: ignore[index]
    assert row["pages"][1]["state"] == "read"
