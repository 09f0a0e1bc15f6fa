"""Receipts: a witness's QR proves what the box confirmed, and whether central holds it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from gateway.receipts import SignedReceipt, qr_png, receipt_pdf
from sync.central.store import CentralStore
from sync.envelope import Envelope, decode, encode, topic_for
from sync.receipt import (
    Receipt,
    ReceiptError,
    compare_with_central,
    parse_payload,
    qr_payload,
    verify_payload,
)
from sync.receipt_scan import payload_from_bytes, payload_from_image, payload_from_pdf

BOX = "box-317101-test"
PHOTO = "ab" * 32


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def receipt() -> Receipt:
    return Receipt(
        box_id=BOX, tps="3171011001001", page=2,
        values={"suara_paslon_1": 152, "suara_paslon_2": 97, "suara_paslon_3": 0},
        confirmed_by="3171011001001", confirmed_at="2024-02-14T15:02:11+07:00",
        photo_sha256=PHOTO, upload_id=7,
    )


def central_with(tmp_path: Path, key: SigningKey, values: dict[str, int], photo: str) -> Path:
    """A central database holding one confirmation, stored through the real decode path."""
    store = CentralStore(tmp_path / "central.db", tmp_path / "photos")
    topic = topic_for("3171", "317101", BOX, "confirmation")
    env = Envelope(id="m-1", box_id=BOX, seq=1, kind="confirmation", tps="3171011001001",
                   page=2, created_at="2024-02-14T15:02:11+07:00",
                   payload={"values": values, "state": "confirmed"}, photo_sha256=photo)
    message = decode(topic, encode(topic, env, key), {BOX: key.verify_key})
    assert store.store_batch([message])[0].ack
    store.close()
    return tmp_path / "central.db"


def test_a_receipt_qr_image_scans_back_and_verifies(key: SigningKey, receipt: Receipt) -> None:
    payload = qr_payload(receipt, key)
    scanned = payload_from_image(qr_png(payload, scale=4))
    assert scanned == payload
    result = verify_payload(scanned, {BOX: key.verify_key})
    assert result.ok and result.signature_ok
    assert result.receipt == receipt


def test_the_receipt_pdf_carries_the_same_qr(key: SigningKey, receipt: Receipt) -> None:
    signed = SignedReceipt(receipt, qr_payload(receipt, key))
    pdf = receipt_pdf(signed, "Kec. Gambir", {"suara_paslon_1": "Paslon 1"})
    assert pdf.startswith(b"%PDF")
    assert payload_from_pdf(pdf) == signed.payload
    assert payload_from_bytes(pdf) == signed.payload


def test_a_tampered_value_is_refused(key: SigningKey, receipt: Receipt) -> None:
    forged = dataclasses.replace(receipt, values={**receipt.values, "suara_paslon_1": 652})
    # The forged body with the box's genuine signature of the original body.
    body = qr_payload(forged, key).split(".")[1]
    tampered = f"TTR1.{body}.{qr_payload(receipt, key).split('.')[2]}"
    result = verify_payload(tampered, {BOX: key.verify_key})
    assert result.receipt.values["suara_paslon_1"] == 652
    assert not result.signature_ok and not result.ok


def test_a_tampered_photo_hash_is_refused(key: SigningKey, receipt: Receipt) -> None:
    original = qr_payload(receipt, key)
    other = qr_payload(dataclasses.replace(receipt, photo_sha256="cd" * 32), key)
    tampered = ".".join([*other.split(".")[:2], original.split(".")[2]])
    assert not verify_payload(tampered, {BOX: key.verify_key}).ok


def test_a_receipt_signed_by_another_key_is_forged(key: SigningKey, receipt: Receipt) -> None:
    payload = qr_payload(receipt, SigningKey.generate())
    result = verify_payload(payload, {BOX: key.verify_key})
    assert result.key_known and not result.signature_ok


def test_an_unknown_box_is_named(key: SigningKey, receipt: Receipt) -> None:
    result = verify_payload(qr_payload(receipt, key), {})
    assert not result.key_known and not result.ok


def test_garbage_is_not_a_receipt() -> None:
    with pytest.raises(ReceiptError):
        parse_payload("https://example.org/not-a-receipt")
    with pytest.raises(ReceiptError):
        parse_payload("TTR1.!!!.???")


def test_central_holding_the_same_values_matches(
    tmp_path: Path, key: SigningKey, receipt: Receipt
) -> None:
    db = central_with(tmp_path, key, dict(receipt.values), PHOTO)  # type: ignore[arg-type]
    result = compare_with_central(verify_payload(qr_payload(receipt, key), {BOX: key.verify_key}),
                                  db)
    assert result.central_found and result.differences == [] and result.ok


def test_central_holding_other_values_or_photo_names_the_difference(
    tmp_path: Path, key: SigningKey, receipt: Receipt
) -> None:
    held = {**receipt.values, "suara_paslon_1": 652}
    db = central_with(tmp_path, key, held, "ef" * 32)  # type: ignore[arg-type]
    result = compare_with_central(verify_payload(qr_payload(receipt, key), {BOX: key.verify_key}),
                                  db)
    assert not result.ok
    assert "suara_paslon_1: tanda terima 152, pusat 652" in result.differences
    assert any(d.startswith("photo_sha256") for d in result.differences)


def test_central_without_the_page_says_so(tmp_path: Path, key: SigningKey,
                                          receipt: Receipt) -> None:
    db = central_with(tmp_path, key, {"suara_sah": 1}, PHOTO)
    other_page = dataclasses.replace(receipt, page=3)
    result = compare_with_central(
        verify_payload(qr_payload(other_page, key), {BOX: key.verify_key}), db)
    assert result.central_checked and not result.central_found and not result.ok


def test_a_page_one_receipt_fits_a_qr_a_phone_reads_off_a_screen(key: SigningKey) -> None:
    import segno

    from vision.template import template_for_page

    names = [f.name for f in template_for_page(1).fields]
    page1 = Receipt(box_id=BOX, tps="3171011001001", page=1,
                    values={name: 287 for name in names}, confirmed_by="3171011001001",
                    confirmed_at="2024-02-14T08:02:11+00:00", photo_sha256=PHOTO, upload_id=1)
    payload = qr_payload(page1, key)
    assert len(names) >= 22
    assert int(segno.make(payload, error="m").version) <= 20
    assert verify_payload(payload, {BOX: key.verify_key}).ok


def test_a_payload_that_inflates_without_end_is_refused(key: SigningKey) -> None:
    import base64
    import zlib

    bomb = base64.urlsafe_b64encode(zlib.compress(b"{" + b" " * 10_000_000, 9)).decode()
    with pytest.raises(ReceiptError):
        parse_payload(f"TTR1.{bomb.rstrip('=')}.AAAA")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_witness_photo_of_the_printed_receipt_verifies(
    key: SigningKey, receipt: Receipt, seed: int
) -> None:
    import numpy as np
    import pypdfium2 as pdfium

    from vision.photo_sim import simulate_photo

    signed = SignedReceipt(receipt, qr_payload(receipt, key))
    pdf = pdfium.PdfDocument(receipt_pdf(signed, "Kec. Gambir", {}))
    page = np.ascontiguousarray(pdf[0].render(scale=2, grayscale=True).to_numpy())
    pdf.close()
    # The phone-photo simulator the form reader is tested with: tilt, light, blur, JPEG.
    photo = simulate_photo(page, np.random.default_rng(seed), "easy", width_px=2000)
    result = verify_payload(payload_from_image(photo), {BOX: key.verify_key})
    assert result.ok and result.receipt == receipt
