"""Receipts (tanda terima): a signed summary of one confirmed page.

The box signs the TPS, page, confirmed values, who confirmed and when, and the
photo's SHA-256 with its Ed25519 key. The same signed summary travels in a QR
code, so a witness who photographs the receipt can later prove whether central
holds exactly what the box confirmed.

QR payload: ``TTR1.<base64url(zlib(canonical JSON))>.<base64url(signature)>``; the
signature covers the prefix and the uncompressed JSON, so a payload cannot be
re-labelled. Compression keeps page 1's 22 fields in a QR a phone can still read
off a screen (field names repeat: about 40% smaller).
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey, VerifyKey

from sync.envelope import canonical_json
from sync.signing import sign, verify

PREFIX = "TTR1"
MAX_BODY_BYTES = 16 * 1024  # a page's summary is < 2 KB; refuse anything that inflates past this
RESULT_KINDS = ("confirmation", "review", "correction")


class ReceiptError(Exception):
    """A receipt that cannot be read; the message says why."""


@dataclass(frozen=True)
class Receipt:
    """What the box confirmed for one page of one TPS."""

    box_id: str
    tps: str
    page: int
    values: dict[str, int | None]
    confirmed_by: str
    confirmed_at: str
    photo_sha256: str | None
    upload_id: int | None = None

    def signed_bytes(self) -> bytes:
        return PREFIX.encode() + b"." + canonical_json(asdict(self))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def qr_payload(receipt: Receipt, key: SigningKey) -> str:
    """The signed summary as one QR-friendly string."""
    body = zlib.compress(canonical_json(asdict(receipt)), 9)
    return f"{PREFIX}.{_b64(body)}.{_b64(sign(key, receipt.signed_bytes()))}"


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    body = inflater.decompress(data, MAX_BODY_BYTES)
    if inflater.unconsumed_tail:
        raise ReceiptError("tanda terima terlalu besar / receipt too large")
    return body


def parse_payload(payload: str) -> tuple[Receipt, bytes]:
    """Split a QR payload into the receipt and its signature (not yet verified)."""
    parts = payload.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise ReceiptError("bukan tanda terima Titik / not a Titik receipt")
    try:
        data = json.loads(_inflate(_unb64(parts[1])))
        signature = _unb64(parts[2])
        receipt = Receipt(
            box_id=str(data["box_id"]),
            tps=str(data["tps"]),
            page=int(data["page"]),
            values={str(k): (None if v is None else int(v)) for k, v in data["values"].items()},
            confirmed_by=str(data["confirmed_by"]),
            confirmed_at=str(data["confirmed_at"]),
            photo_sha256=None if data.get("photo_sha256") is None else str(data["photo_sha256"]),
            upload_id=None if data.get("upload_id") is None else int(data["upload_id"]),
        )
    except (binascii.Error, zlib.error, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReceiptError(f"tanda terima rusak / damaged receipt: {exc}") from None
    return receipt, signature


@dataclass
class Verification:
    """The outcome of checking a receipt."""

    receipt: Receipt
    signature_ok: bool
    key_known: bool
    central_checked: bool = False
    central_found: bool = False
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        central_ok = not self.central_checked or (self.central_found and not self.differences)
        return self.signature_ok and central_ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "signature_ok": self.signature_ok,
            "key_known": self.key_known,
            "central_checked": self.central_checked,
            "central_found": self.central_found,
            "differences": self.differences,
            "receipt": asdict(self.receipt),
        }


def verify_payload(payload: str, keys: dict[str, VerifyKey]) -> Verification:
    """Check the box's signature against its registered public key."""
    receipt, signature = parse_payload(payload)
    key = keys.get(receipt.box_id)
    ok = key is not None and verify(key, receipt.signed_bytes(), signature)
    return Verification(receipt=receipt, signature_ok=ok, key_known=key is not None)


def central_result(db_path: Path, box_id: str, tps: str, page: int) -> dict[str, Any] | None:
    """The latest result central holds for one page of one TPS (by the box's seq order)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        row = conn.execute(
            "SELECT payload, photo_sha256 FROM messages WHERE box_id = ? AND tps = ? AND page = ?"
            f" AND kind IN ({','.join('?' * len(RESULT_KINDS))}) ORDER BY seq DESC LIMIT 1",
            (box_id, tps, page, *RESULT_KINDS),
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        return None
    payload = json.loads(row[0])
    if not isinstance(payload, dict):
        return None
    payload.setdefault("photo_sha256", row[1])
    return payload


def compare_with_central(result: Verification, db_path: Path) -> Verification:
    """Say whether central holds the same values and photo hash, or which differ."""
    r = result.receipt
    held = central_result(db_path, r.box_id, r.tps, r.page)
    result.central_checked = True
    result.central_found = held is not None
    if held is None:
        result.differences = ["pusat belum menerima halaman ini / central has no result yet"]
        return result
    held_values = held.get("values") or {}
    for name in sorted(set(r.values) | set(held_values)):
        if r.values.get(name) != held_values.get(name):
            result.differences.append(
                f"{name}: tanda terima {r.values.get(name)!r}, pusat {held_values.get(name)!r}"
            )
    if r.photo_sha256 != held.get("photo_sha256"):
        result.differences.append(
            f"photo_sha256: tanda terima {r.photo_sha256}, pusat {held.get('photo_sha256')}"
        )
    return result
