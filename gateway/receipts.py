"""Receipts for confirmed pages: the signed summary, its QR code and a printable PDF."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import segno
from nacl.signing import SigningKey
from PIL import Image, ImageDraw, ImageFont

from gateway.config import BoxConfig
from gateway.web.timefmt import DEFAULT_ZONE, local_time
from sync.receipt import Receipt, qr_payload
from sync.signing import load_signing_key

FINAL_STATES = ("confirmed", "reviewed", "manual")
PDF_DPI = 150
A5_MM = (148, 210)


class NoReceipt(Exception):
    """The page is not confirmed yet, so there is nothing to sign."""


@dataclass(frozen=True)
class SignedReceipt:
    receipt: Receipt
    payload: str


def receipt_for_upload(upload: dict[str, Any], box_id: str) -> Receipt:
    """The summary of a confirmed upload, as `gateway.store.Store.get_upload` describes it."""
    if upload.get("state") not in FINAL_STATES or upload.get("page") is None:
        raise NoReceipt(
            "Halaman ini belum dikonfirmasi, jadi belum ada tanda terima / "
            "this page is not confirmed yet"
        )
    values: dict[str, int | None] = {}
    for name, value in (upload.get("values") or {}).items():
        current = value.get("value") if isinstance(value, dict) else value
        values[name] = None if current is None else int(current)
    confirmed_by = upload.get("decided_by") or upload.get("officer_confirmed_by") or ""
    confirmed_at = upload.get("decided_at") or upload.get("officer_confirmed_at") or ""
    return Receipt(
        box_id=box_id,
        tps=str(upload["tps"]),
        page=int(upload["page"]),
        values=values,
        confirmed_by=str(confirmed_by),
        confirmed_at=str(confirmed_at),
        photo_sha256=upload.get("sha256"),
        upload_id=int(upload["id"]),
    )


class ReceiptSigner:
    """Holds the box key, loaded once; the relay uses the same key for its envelopes."""

    def __init__(self, config: BoxConfig, key: SigningKey | None = None) -> None:
        self.box_id = config.box.id
        self._key_file: Path = config.relay.signing_key_file
        self._key = key

    def sign(self, upload: dict[str, Any]) -> SignedReceipt:
        if self._key is None:
            self._key = load_signing_key(self._key_file)
        receipt = receipt_for_upload(upload, self.box_id)
        return SignedReceipt(receipt, qr_payload(receipt, self._key))


def qr_png(payload: str, scale: int = 4) -> bytes:
    out = io.BytesIO()
    # Error correction M survives a phone photo of a printed receipt with some glare.
    segno.make(payload, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def receipt_lines(signed: SignedReceipt, labels: dict[str, str], zone: str) -> list[str]:
    r = signed.receipt
    lines = [
        f"TPS {r.tps}  -  Halaman / page {r.page} dari 3",
        f"Dikonfirmasi oleh / confirmed by: {r.confirmed_by}",
        f"Waktu / at: {local_time(r.confirmed_at, zone)}",
        "",
    ]
    for name, value in r.values.items():
        lines.append(f"{labels.get(name, name)}: {'-' if value is None else value}")
    lines += ["", f"SHA-256 foto: {r.photo_sha256 or '-'}", f"Kotak / box: {r.box_id}"]
    return lines


def receipt_pdf(
    signed: SignedReceipt, title: str, labels: dict[str, str], zone: str = DEFAULT_ZONE
) -> bytes:
    """A printable A5 page: the values, who and when, the photo hash, and the QR."""
    px_per_mm = PDF_DPI / 25.4
    width, height = (round(d * px_per_mm) for d in A5_MM)
    page = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(page)
    margin = round(10 * px_per_mm)
    draw.text((margin, margin), "TANDA TERIMA / RECEIPT", font=_font(36), fill="black")
    draw.text((margin, margin + 48), title, font=_font(22), fill="black")
    y = margin + 96
    body = _font(20)
    for line in receipt_lines(signed, labels, zone):
        # The photo hash is long: wrap it so it stays on the page.
        while len(line) > 56:
            draw.text((margin, y), line[:56], font=body, fill="black")
            line, y = "  " + line[56:], y + 26
        draw.text((margin, y), line, font=body, fill="black")
        y += 26
    room = min(width - 2 * margin, height - y - margin)
    modules = int(segno.make(signed.payload, error="m", micro=False).symbol_size(border=4)[0])
    # Whole pixels per module: a resampled QR prints blurry and scans badly.
    qr = Image.open(io.BytesIO(qr_png(signed.payload, scale=max(2, room // modules))))
    page.paste(qr.convert("RGB"), ((width - qr.width) // 2, y + 10))
    out = io.BytesIO()
    page.save(out, format="PDF", resolution=PDF_DPI)
    return out.getvalue()
