"""Uploads stream into the photo folder while they arrive: the stored photo is byte for byte
what was sent, and nothing is left in `photos/.incoming` whatever becomes of the request."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from flask.testing import FlaskClient

from gateway.store import Store
from gateway.store.photos import INCOMING_DIR, photo_path
from tests.gateway.test_web_support import TPS_A, csrf_from, jpeg_photo, sign_in, upload_photo

pytest_plugins = ["tests.gateway.test_web_support"]


def leftovers(store: Store) -> list[Path]:
    return list((store.data_dir / "photos" / INCOMING_DIR).glob("*"))


def test_an_accepted_photo_is_stored_exactly_and_a_refused_one_not_at_all(
    client: FlaskClient, store: Store
) -> None:
    sign_in(client, TPS_A)
    photo = jpeg_photo(seed=11)
    assert upload_photo(client, photo).status_code == 302
    [upload] = store.uploads_for_tps(TPS_A)
    sha = hashlib.sha256(photo).hexdigest()
    assert upload["sha256"] == sha
    assert photo_path(store.data_dir, sha).read_bytes() == photo
    assert leftovers(store) == []
    assert upload_photo(client, photo[: len(photo) // 2]).status_code == 422
    assert leftovers(store) == [] and len(store.uploads_for_tps(TPS_A)) == 1


def test_a_file_sent_where_none_is_expected_is_not_kept(
    client: FlaskClient, store: Store
) -> None:
    token = csrf_from(client)
    response = client.post("/masuk", data={
        "csrf_token": token, "login": "ppk", "pin": "salah-sekali",
        "photo": (io.BytesIO(jpeg_photo(seed=12)), "foto.jpg", "image/jpeg")})
    assert "Kode atau PIN salah" in response.get_data(as_text=True)
    assert leftovers(store) == []


def test_the_api_and_ppk_uploads_leave_nothing_behind(
    client: FlaskClient, store: Store
) -> None:
    sign_in(client, "ppk")
    token = csrf_from(client, "/ppk/unggah")
    response = client.post("/api/uploads", data={
        "tps": TPS_A, "photo": (io.BytesIO(jpeg_photo(seed=13)), "a.jpg", "image/jpeg")},
        headers={"X-CSRFToken": token})
    assert response.status_code == 201
    response = client.post("/ppk/unggah", data={
        "csrf_token": token, "tps": TPS_A,
        "photo": (io.BytesIO(jpeg_photo(seed=14)), "b.jpg", "image/jpeg")})
    assert response.status_code == 302
    assert len(store.uploads_for_tps(TPS_A)) == 2 and leftovers(store) == []
