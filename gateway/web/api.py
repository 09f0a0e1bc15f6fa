"""JSON API under /api/, described by /api/openapi.json.

Authentication: the same session cookie as the pages (POST /api/session signs in).
Every POST needs the CSRF token in the `X-CSRFToken` header (GET /api/csrf gives it).
Errors are `{"error": key, "message": Bahasa Indonesia, "message_en": English}`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, request, session
from flask_wtf.csrf import generate_csrf

from gateway.store.errors import NotFound, StoreError
from gateway.web.auth import PPK_READERS, attempt_login, current_user, require_role
from gateway.web.common import (
    can_see_tps,
    corrections_from,
    field_rows,
    missing_values,
    upload_for,
)
from gateway.web.dashboard import overview_rows
from gateway.web.i18n import translate
from gateway.web.incoming import received_file, save_photos
from gateway.web.openapi import openapi_document
from gateway.web.state import web_state
from gateway.web.uploads import UploadRefused, check_upload

bp = Blueprint("api", __name__, url_prefix="/api")

ALL_ROLES = ("kpps", *PPK_READERS)
UPLOAD_KEYS = ("id", "tps", "page", "state", "template", "status", "source", "received_at",
               "updated_at", "replace", "sha256")


def _error(status: int, key: str, message: str | None = None, **params: Any) -> tuple[Any, int]:
    return jsonify(
        error=key,
        message=message or translate(key, "id", **params),
        message_en=message or translate(key, "en", **params),
    ), status


def upload_json(upload: dict[str, Any]) -> dict[str, Any]:
    out = {k: upload.get(k) for k in UPLOAD_KEYS}
    reading = upload.get("reading") or {}
    out["reasons"] = list(upload.get("reasons") or [])
    out["fields"] = [
        {k: row[k] for k in ("name", "label", "text", "read", "value", "confidence", "flagged",
                             "reason", "source", "actor", "at", "note")}
        for row in field_rows(upload)
    ]
    out["checks"] = list(reading.get("checks") or [])
    out["corrections"] = list(upload.get("corrections") or [])
    out["quality"] = reading.get("quality") or {}
    return out


@bp.route("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


@bp.route("/csrf")
def csrf() -> Response:
    return jsonify(csrf_token=generate_csrf())


@bp.route("/session", methods=["GET", "POST"])
def session_view() -> Any:
    if request.method == "POST":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, "login_failed")
        login, pin = body.get("login"), body.get("pin")
        if not isinstance(login, str) or not isinstance(pin, str):
            return _error(400, "login_failed")
        account, message = attempt_login(login.strip()[:64], pin[:128])
        if account is None:
            return _error(401, "login_failed", message)
        session.clear()
        session.permanent = True
        session["login"] = account.login
        session["v"] = account.version
    user = current_user()
    if user is None:
        return _error(401, "need_sign_in")
    return jsonify(login=user.login, role=user.role, tps=user.tps, csrf_token=generate_csrf())


@bp.route("/uploads", methods=["POST"])
@require_role("kpps", "ppk")
def upload() -> Any:
    user = current_user()
    assert user is not None
    tps = user.tps if user.role == "kpps" else request.form.get("tps", "")
    if not tps or web_state().config.tps_by_code(tps) is None:
        return _error(422, "err_no_account", "TPS tidak dikenal / unknown TPS")
    data, incoming = received_file()
    try:
        photos = check_upload(data, allow_pdf=user.role == "ppk")
    except UploadRefused as exc:
        return _error(422, exc.key, **exc.params)
    try:
        results = save_photos(photos, data, incoming, tps=tps, actor=user.login, source="api",
                              replace=request.form.get("replace") in ("1", "true"))
    except StoreError as exc:
        return _error(422, "store_refused", str(exc))
    items = [
        {"upload_id": r.upload_id, "sha256": r.sha256, "duplicate": r.duplicate, "state": r.state}
        for r in results
    ]
    return jsonify(uploads=items), (200 if all(r.duplicate for r in results) else 201)


@bp.route("/uploads/<int:upload_id>")
@require_role(*ALL_ROLES)
def reading(upload_id: int) -> Any:
    user = current_user()
    assert user is not None
    return jsonify(upload_json(upload_for(user, upload_id)))


@bp.route("/uploads/<int:upload_id>/confirm", methods=["POST"])
@require_role("kpps")
def confirm(upload_id: int) -> Any:
    user = current_user()
    assert user is not None
    upload = upload_for(user, upload_id)
    body = request.get_json(silent=True)
    raw = body.get("corrections", {}) if isinstance(body, dict) else None
    if not isinstance(raw, dict):
        return _error(400, "err_bad_value", field="corrections")
    form = {f"value-{k}": str(v) for k, v in raw.items() if isinstance(k, str)}
    rows = field_rows(upload)
    unknown = [k for k in raw if k not in {r["name"] for r in rows}]
    corrections, bad = corrections_from(form, rows)
    if unknown or bad:
        return _error(422, "err_bad_value", field=", ".join([*unknown, *bad]))
    missing = missing_values(rows, corrections)
    if missing:
        return _error(422, "err_missing_values", fields=", ".join(missing))
    try:
        web_state().store.confirm(upload_id, actor=user.login, corrections=corrections)
    except NotFound:
        abort(404)
    except StoreError as exc:
        return _error(409, "err_not_ready", str(exc))
    return jsonify(upload_json(upload_for(user, upload_id)))


@bp.route("/tps/<code>")
@require_role(*ALL_ROLES)
def tps_status(code: str) -> Any:
    user = current_user()
    assert user is not None
    if web_state().config.tps_by_code(code) is None or not can_see_tps(user, code):
        abort(404)
    pages = web_state().store.page_states(code)
    return jsonify(tps=code, pages=[_page_json(p) for p in pages])


def _page_json(page: dict[str, Any]) -> dict[str, Any]:
    return {
        "page": page.get("page"),
        "state": page.get("state") or "none",
        "upload_id": page.get("upload_id"),
        "relay": page.get("relay"),
    }


@bp.route("/overview")
@require_role(*PPK_READERS)
def overview() -> Any:
    rows, totals = overview_rows()
    return jsonify(
        kecamatan=web_state().config.kecamatan.code,
        totals=totals,
        tps=[
            {"tps": r["code"], "desa": r["desa"], "pages": r["pages"]}
            for r in rows
        ],
    )
