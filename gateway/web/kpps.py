"""The KPPS officer's flow: photo -> reading -> confirm or correct -> status of the 3 pages."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from gateway.store.errors import StoreError
from gateway.web.auth import current_user, require_role, t
from gateway.web.common import (
    WAITING_STATES,
    corrections_from,
    failing_checks,
    field_rows,
    missing_values,
    overlay_boxes,
    photo_bytes,
    photo_notes,
    rectified_bytes,
    tps_name,
    upload_for,
)
from gateway.web.incoming import received_file, save_photos
from gateway.web.state import web_state
from gateway.web.uploads import UploadRefused, check_upload

logger = logging.getLogger(__name__)

bp = Blueprint("kpps", __name__, url_prefix="/kpps")

# States in which the officer can still confirm (or correct) what was read.
CONFIRMABLE = ("read", "needs_review")


def _user_tps() -> str:
    user = current_user()
    assert user is not None and user.tps is not None
    return user.tps


def render_home(error: str | None = None, status: int = 200) -> tuple[str, int]:
    tps = _user_tps()
    store = web_state().store
    pages = store.page_states(tps)
    uploads = store.uploads_for_tps(tps)[:10]
    return (
        render_template(
            "kpps_home.html",
            tps=tps,
            tps_label=tps_name(tps),
            pages=pages,
            uploads=uploads,
            error=error,
        ),
        status,
    )


@bp.route("/")
@require_role("kpps")
def home() -> Any:
    return render_home()


@bp.route("/unggah", methods=["POST"])
@require_role("kpps")
def upload() -> Any:
    user = current_user()
    assert user is not None
    data, incoming = received_file()
    try:
        photos = check_upload(data, allow_pdf=False)
    except UploadRefused as exc:
        logger.info("upload refused for %s: %s (%d bytes)", user.login, exc.key, len(data))
        return render_home(t(exc.key, **exc.params), status=422)
    try:
        [result] = save_photos(photos, data, incoming, tps=_user_tps(), actor=user.login,
                               source="kpps", replace=request.form.get("replace") == "1")
    except StoreError as exc:  # e.g. this exact photo was already sent for another TPS
        return render_home(str(exc), status=422)
    if result.duplicate:
        flash(t("duplicate_photo"), "info")
    return redirect(url_for("kpps.result", upload_id=result.upload_id))


def render_result(
    upload: dict[str, Any], errors: list[str] | None = None, form: Any = None
) -> tuple[str, int]:
    """The reading page; after a refused confirm, with the officer's typed numbers kept."""
    rows = field_rows(upload)
    if form is not None:
        for row in rows:
            row["value"] = form.get(f"value-{row['name']}", row["value"])
    return render_template(
        "kpps_result.html",
        upload=upload,
        waiting=upload.get("state") in WAITING_STATES,
        confirmable=upload.get("state") in CONFIRMABLE,
        rows=rows,
        view=overlay_boxes(upload, rows),
        has_image=rectified_bytes(upload) is not None,
        checks=failing_checks(upload),
        reasons=upload.get("reasons") or [],
        notes=photo_notes(upload),
        errors=errors or [],
    ), (422 if errors else 200)


@bp.route("/foto/<int:upload_id>")
@require_role("kpps")
def result(upload_id: int) -> Any:
    user = current_user()
    assert user is not None
    return render_result(upload_for(user, upload_id))


@bp.route("/foto/<int:upload_id>/konfirmasi", methods=["POST"])
@require_role("kpps")
def confirm(upload_id: int) -> Any:
    user = current_user()
    assert user is not None
    upload = upload_for(user, upload_id)
    if upload.get("state") not in CONFIRMABLE:
        flash(t("err_not_ready"), "error")
        return redirect(url_for("kpps.result", upload_id=upload_id))
    rows = field_rows(upload)
    corrections, bad = corrections_from(request.form, rows)
    labels = {r["name"]: r["label"] for r in rows}
    errors = [t("err_bad_value", field=labels[name]) for name in bad]
    missing = missing_values(rows, corrections)
    if missing and not bad:
        errors.append(t("err_missing_values", fields=", ".join(missing)))
    if not errors:
        try:
            outcome = web_state().store.confirm(
                upload_id, actor=user.login, corrections=corrections
            )
        except StoreError as exc:
            errors.append(str(exc))
    if errors:  # nothing typed is lost: the page comes back with the numbers as typed
        return render_result(upload, errors, request.form)
    page = upload.get("page") or "?"
    if outcome.get("state") == "needs_review":  # a doubtful reading: the PPK still approves it
        flash(t("confirmed_review", page=page), "info")
    else:
        flash(t("confirmed_ok", page=page), "ok")
    return redirect(url_for("kpps.home"))


@bp.route("/foto/<int:upload_id>/halaman.jpg")
@require_role("kpps", "ppk", "admin", "observer")
def rectified(upload_id: int) -> Response:
    user = current_user()
    assert user is not None
    data = rectified_bytes(upload_for(user, upload_id))
    if data is None:
        abort(404)
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


@bp.route("/foto/<int:upload_id>/asli")
@require_role("kpps", "ppk", "admin", "observer")
def original(upload_id: int) -> Response:
    user = current_user()
    assert user is not None
    upload = upload_for(user, upload_id)
    data = photo_bytes(upload)
    if data is None:
        abort(404)
    mimetype = str(upload.get("content_type") or "image/jpeg")
    if mimetype not in ("image/jpeg", "image/png"):
        mimetype = "application/octet-stream"
    return Response(data, mimetype=mimetype, headers={"Cache-Control": "private, max-age=60"})
