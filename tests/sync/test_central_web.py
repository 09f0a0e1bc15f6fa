"""Central's receipt check page: paste the QR text or upload the receipt, see the verdict."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from nacl.signing import SigningKey

from gateway.receipts import SignedReceipt, receipt_pdf
from sync.central.config import CentralConfig
from sync.central.verify_web import create_verify_app
from sync.receipt import Receipt, qr_payload
from tests.sync.test_receipt import BOX, PHOTO, central_with

VALUES = {"suara_paslon_1": 152, "suara_paslon_2": 97, "suara_paslon_3": 0}


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def receipt() -> Receipt:
    return Receipt(box_id=BOX, tps="3171011001001", page=2, values=dict(VALUES),
                   confirmed_by="3171011001001", confirmed_at="2024-02-14T08:02:11+00:00",
                   photo_sha256=PHOTO, upload_id=7)


def client_for(tmp_path: Path, key: SigningKey, held: dict[str, int]) -> FlaskClient:
    keys = tmp_path / "keys"
    keys.mkdir()
    import base64

    (keys / f"{BOX}.pub").write_text(base64.b64encode(bytes(key.verify_key)).decode() + "\n")
    db = central_with(tmp_path, key, held, PHOTO)
    config = CentralConfig(database=db, photo_dir=tmp_path / "photos", keys_dir=keys)
    return create_verify_app(config).test_client()


def test_a_pasted_receipt_that_central_holds_matches(
    tmp_path: Path, key: SigningKey, receipt: Receipt
) -> None:
    client = client_for(tmp_path, key, VALUES)
    page = client.post("/", data={"payload": qr_payload(receipt, key)})
    assert page.status_code == 200
    assert "COCOK" in page.get_data(as_text=True)


def test_an_uploaded_receipt_pdf_is_read_and_checked(
    tmp_path: Path, key: SigningKey, receipt: Receipt
) -> None:
    client = client_for(tmp_path, key, VALUES)
    pdf = receipt_pdf(SignedReceipt(receipt, qr_payload(receipt, key)), "Kec. Gambir", {})
    page = client.post("/", data={"file": (io.BytesIO(pdf), "tanda-terima.pdf")},
                       content_type="multipart/form-data")
    assert "COCOK" in page.get_data(as_text=True)


def test_central_holding_other_numbers_is_shown_as_different(
    tmp_path: Path, key: SigningKey, receipt: Receipt
) -> None:
    client = client_for(tmp_path, key, {**VALUES, "suara_paslon_1": 652})
    html = client.post("/", data={"payload": qr_payload(receipt, key)}).get_data(as_text=True)
    assert "BERBEDA" in html and "suara_paslon_1: tanda terima 152, pusat 652" in html


def test_a_forged_receipt_is_named_forged(
    tmp_path: Path, key: SigningKey, receipt: Receipt
) -> None:
    client = client_for(tmp_path, key, VALUES)
    forged = qr_payload(receipt, SigningKey.generate())
    html = client.post("/", data={"payload": forged}).get_data(as_text=True)
    assert "PALSU" in html and "COCOK" not in html


def test_garbage_gets_a_clear_refusal(tmp_path: Path, key: SigningKey) -> None:
    client = client_for(tmp_path, key, VALUES)
    page = client.post("/", data={"payload": "hello"})
    assert page.status_code == 422
    assert "bukan tanda terima" in page.get_data(as_text=True)
    assert client.post("/", data={}).status_code == 400
