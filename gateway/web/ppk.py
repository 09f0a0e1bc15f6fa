"""The PPK dashboard: every TPS of the kecamatan, review, manual entry, relay and health.

Readers (ppk, admin, observer) see everything; only ppk changes results. Admin manages
accounts (see `admin.py`).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from gateway.store.errors import StoreError
from gateway.web.auth import PPK_READERS, current_user, require_role, t
from gateway.web.common import (
    failing_checks,
    field_rows,
    missing_values,
    overlay_boxes,
    parse_values,
    photo_notes,
    rectified_bytes,
    tps_name,
    upload_for,
)
from gateway.web.dashboard import health, overview_rows, relay_status, tps_checks
from gateway.web.incoming import received_file, save_photos
from gateway.web.labels import PAGE_FIELDS, field_label
from gateway.web.state import web_state
from gateway.web.uploads import UploadRefused, check_upload

logger = logging.getLogger(__name__)

bp = Blueprint("ppk", __name__, url_prefix="/ppk")

REVIEWABLE = ("read", "needs_review", "rejected", "confirmed")
MAX_REASON = 500


def _actor() -> str:
    user = current_user()
    assert user is not None
    return user.login


def _reason() -> str:
    return request.form.get("reason", "").strip()[:MAX_REASON]


def _known_tps(code: str) -> str:
    if web_state().config.tps_by_code(code) is None:
        abort(404)
    return code


@bp.route("/")
@require_role(*PPK_READERS)
def dashboard() -> Any:
    store = web_state().store
    rows, totals = overview_rows()
    return render_template(
        "ppk_dashboard.html",
        rows=rows,
        totals=totals,
        queue=len(store.review_queue()),
        rejected=len(store.rejected_uploads()),
        relay=relay_status(),
        health=health(),
    )


@bp.route("/tps/<code>")
@require_role(*PPK_READERS)
def tps(code: str) -> Any:
    code = _known_tps(code)
    store = web_state().store
    pages = store.page_states(code)
    finals = {}
    for p in pages:
        final = store.get_upload(p["final_upload_id"]) if p["final_upload_id"] else None
        if final is not None:
            finals[p["page"]] = {"upload": final, "rows": field_rows(final)}
    return render_template(
        "ppk_tps.html",
        code=code,
        label=tps_name(code),
        pages=pages,
        finals=finals,
        uploads=store.uploads_for_tps(code),
        checks=tps_checks(code),
    )


@bp.route("/periksa")
@require_role(*PPK_READERS)
def queue() -> Any:
    return render_template("ppk_queue.html", items=web_state().store.review_queue())


@bp.route("/ditolak")
@require_role(*PPK_READERS)
def rejected() -> Any:
    return render_template("ppk_rejected.html", items=web_state().store.rejected_uploads())


def render_upload(
    upload: dict[str, Any], errors: list[str] | None = None, form: Any = None
) -> tuple[str, int]:
    """One upload for the PPK; after a refused review, with the typed numbers kept."""
    user = current_user()
    assert user is not None
    rows = field_rows(upload)
    if form is not None:
        for row in rows:
            row["value"] = form.get(f"value-{row['name']}", row["value"])
    return render_template(
        "ppk_upload.html",
        upload=upload,
        rows=rows,
        view=overlay_boxes(upload, rows),
        has_image=rectified_bytes(upload) is not None,
        checks=failing_checks(upload),
        reasons=upload.get("reasons") or [],
        notes=photo_notes(upload),
        can_review=user.role == "ppk" and upload.get("state") in REVIEWABLE,
        can_discard=user.role == "ppk" and upload.get("state") not in ("discarded", "superseded"),
        errors=errors or [],
        reason=form.get("reason", "") if form is not None else "",
    ), (422 if errors else 200)


@bp.route("/foto/<int:upload_id>")
@require_role(*PPK_READERS)
def upload_view(upload_id: int) -> Any:
    user = current_user()
    assert user is not None
    return render_upload(upload_for(user, upload_id))


@bp.route("/foto/<int:upload_id>/periksa", methods=["POST"])
@require_role("ppk")
def review(upload_id: int) -> Any:
    user = current_user()
    assert user is not None
    upload = upload_for(user, upload_id)
    rows = field_rows(upload)
    typed, bad = parse_values(request.form, [r["name"] for r in rows])
    reason = _reason()
    labels = {r["name"]: r["label"] for r in rows}
    errors = [t("err_bad_value", field=labels[name]) for name in bad]
    current = {r["name"]: r["value"] for r in rows}
    corrections = {k: v for k, v in typed.items() if current.get(k) != v}
    missing = missing_values(rows, corrections)
    if missing and not bad:
        errors.append(t("err_missing_values", fields=", ".join(missing)))
    if corrections and not reason:
        errors.append(t("err_reason_needed"))
    if not errors:
        try:
            web_state().store.review(
                upload_id,
                actor=user.login,
                approve=True,
                corrections=corrections,
                reason=reason or "disetujui",
            )
        except StoreError as exc:
            errors.append(str(exc))
    if errors:  # the typed numbers and reason come back as they were
        return render_upload(upload, errors, request.form)
    flash(t("saved"), "ok")
    return redirect(url_for("ppk.queue"))


@bp.route("/foto/<int:upload_id>/buang", methods=["POST"])
@require_role("ppk")
def discard(upload_id: int) -> Any:
    user = current_user()
    assert user is not None
    upload_for(user, upload_id)
    reason = _reason()
    if not reason:
        flash(t("err_reason_needed"), "error")
        return redirect(url_for("ppk.upload_view", upload_id=upload_id))
    try:
        web_state().store.discard(upload_id, actor=user.login, reason=reason)
    except StoreError as exc:
        flash(str(exc), "error")
        return redirect(url_for("ppk.upload_view", upload_id=upload_id))
    flash(t("saved"), "ok")
    return redirect(url_for("ppk.rejected"))


@bp.route("/manual", methods=["GET", "POST"])
@require_role("ppk")
def manual() -> Any:
    form = request.form if request.method == "POST" else request.args
    code = str(form.get("tps", ""))
    page_raw = str(form.get("page", "1"))
    page = int(page_raw) if page_raw in ("1", "2", "3") else 1
    upload_id_raw = str(form.get("upload_id", ""))
    upload_id = int(upload_id_raw) if upload_id_raw.isdigit() else None
    names = PAGE_FIELDS[page]
    error = None
    if request.method == "POST":
        values, bad = parse_values(form, names)
        reason = _reason()
        if web_state().config.tps_by_code(code) is None:
            error = t("err_no_account")
        elif bad:
            error = t("err_bad_value", field=", ".join(bad))
        elif len(values) < len(names):
            error = t("err_missing_values",
                      fields=", ".join(field_label(n) for n in names if n not in values))
        elif not reason:
            error = t("err_reason_needed")
        else:
            try:
                web_state().store.manual_entry(
                    tps=code,
                    page=page,
                    values=values,
                    actor=_actor(),
                    reason=reason,
                    upload_id=upload_id,
                )
            except StoreError as exc:
                error = str(exc)
            else:
                flash(t("saved"), "ok")
                return redirect(url_for("ppk.tps", code=code))
    return render_template(
        "ppk_manual.html",
        tps_list=web_state().config.tps,
        code=code,
        page=page,
        names=names,
        upload_id=upload_id,
        error=error,
        form=form,
    ), (422 if error else 200)


@bp.route("/unggah", methods=["GET", "POST"])
@require_role("ppk")
def upload() -> Any:
    error = None
    code = str(request.form.get("tps", request.args.get("tps", "")))
    if request.method == "POST":
        data, incoming = received_file()
        if web_state().config.tps_by_code(code) is None:
            error = t("err_no_account")
        else:
            try:
                photos = check_upload(data, allow_pdf=True)
            except UploadRefused as exc:
                error = t(exc.key, **exc.params)
            else:
                try:
                    save_photos(photos, data, incoming, tps=code, actor=_actor(), source="ppk",
                                replace=request.form.get("replace") == "1")
                except StoreError as exc:  # pages saved before the refusal stay saved
                    error = str(exc)
                else:
                    flash(t("uploaded_n", n=len(photos), tps=code), "ok")
                    return redirect(url_for("ppk.tps", code=code))
    return render_template(
        "ppk_upload_form.html", tps_list=web_state().config.tps, code=code, error=error
    ), (422 if error else 200)
