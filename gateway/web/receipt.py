"""Receipts (tanda terima) for confirmed pages: phone page, printable PDF, QR image.

Whoever may see the TPS may see its receipts: the KPPS of that TPS (to show the
witnesses), PPK, admin and observers.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template

from gateway.receipts import NoReceipt, ReceiptSigner, SignedReceipt, qr_png, receipt_pdf
from gateway.web.auth import current_user, require_role
from gateway.web.common import upload_for
from gateway.web.labels import field_label
from gateway.web.state import web_state
from vision.template import template_for_page

bp = Blueprint("receipt", __name__, url_prefix="/tanda-terima")

ALL_ROLES = ("kpps", "ppk", "admin", "observer")
SIGNER = "titik.receipt_signer"


def _signed(upload_id: int) -> SignedReceipt:
    user = current_user()
    assert user is not None
    upload = upload_for(user, upload_id)
    signer = current_app.extensions.get(SIGNER)
    if signer is None:
        signer = current_app.extensions[SIGNER] = ReceiptSigner(web_state().config)
    try:
        signed: SignedReceipt = signer.sign(upload)
    except NoReceipt:
        abort(404)
    return signed


@bp.route("/<int:upload_id>")
@require_role(*ALL_ROLES)
def show(upload_id: int) -> Any:
    signed = _signed(upload_id)
    page = signed.receipt.page
    order = [f.name for f in template_for_page(page).fields] if page in (1, 2, 3) else []
    # The form's own order (L, P, J per row), not the alphabetical order of the signed JSON.
    names = [n for n in order if n in signed.receipt.values]
    names += [n for n in signed.receipt.values if n not in names]
    return render_template("receipt.html", signed=signed, r=signed.receipt,
                           upload_id=upload_id, names=names)


@bp.route("/<int:upload_id>/qr.png")
@require_role(*ALL_ROLES)
def qr(upload_id: int) -> Response:
    # 3 px a module at 1:1 CSS pixels: a version-18 QR is 291 px, inside a 360 px phone.
    return Response(qr_png(_signed(upload_id).payload, scale=3), mimetype="image/png")


@bp.route("/<int:upload_id>.pdf")
@require_role(*ALL_ROLES)
def pdf(upload_id: int) -> Response:
    signed = _signed(upload_id)
    config = web_state().config
    title = f"Kec. {config.kecamatan.name}, {config.kecamatan.kabkota}"
    labels = {name: field_label(name) for name in signed.receipt.values}
    body = receipt_pdf(signed, title, labels, zone=config.web.timezone)
    name = f"tanda-terima-{signed.receipt.tps}-hal{signed.receipt.page}.pdf"
    return Response(body, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})
