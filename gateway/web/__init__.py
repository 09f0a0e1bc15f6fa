"""The box's web app: KPPS upload flow, PPK dashboard, JSON API, captive portal.

`create_app(config, store)` builds a Flask app around one open `gateway.store.Store`.
Security choices (see DEVELOPERS.md "Web app"):
- Session cookie HttpOnly + SameSite=Lax. `Secure` is off on purpose: the box serves
  plain HTTP on its own WPA2 Wi-Fi (no certificate a phone would trust exists offline).
- CSRF token on every form (Flask-WTF CSRFProtect). The JSON API uses the same session
  cookie and needs the token in the `X-CSRFToken` header for POST (GET /api/csrf).
- Requests above `web.max_upload_mb` get a 413 page in Bahasa Indonesia.
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, abort, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from gateway.config import BoxConfig
from gateway.web.accounts import Accounts
from gateway.web.auth import current_user, lang, t
from gateway.web.i18n import translate
from gateway.web.incoming import UploadRequest
from gateway.web.labels import field_label
from gateway.web.state import EXTENSION, WebState
from gateway.web.timefmt import local_time

if TYPE_CHECKING:
    from gateway.store import Store

logger = logging.getLogger(__name__)

SECRET_FILE = "web-secret.key"
SESSION_HOURS = 14  # a polling day: from opening the TPS until the count is sent
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def load_secret_key(config: BoxConfig, data_dir: Path) -> bytes:
    """The session signing key: `web.secret_key_file`, or one created (0600) in the data dir."""
    path = config.web.secret_key_file or data_dir / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        logger.info("created a new session key in %s", path)
    key = path.read_bytes().strip()
    if len(key) < 16:
        raise ValueError(f"{path}: session key too short; delete it to get a new one")
    return key


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _error(status: int, key: str, **params: Any) -> tuple[Any, int]:
    if _wants_json():
        return jsonify(
            error=key,
            message=translate(key, "id", **params),
            message_en=translate(key, "en", **params),
        ), status
    return render_template("error.html", message=t(key, **params), status=status), status


def _register_errors(app: Flask, max_mb: int) -> None:
    keys = {400: "csrf_failed", 401: "need_sign_in", 403: "forbidden", 404: "not_found",
            405: "not_found"}

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[Any, int]:
        logger.info("CSRF refused on %r: %s", request.path, exc.description)
        return _error(400, "csrf_failed")

    @app.errorhandler(413)
    def too_large(exc: HTTPException) -> tuple[Any, int]:
        return _error(413, "too_large", mb=max_mb)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        if code in keys:
            return _error(code, keys[code])
        return exc

    @app.errorhandler(Exception)
    def crash(exc: Exception) -> tuple[Any, int]:
        logger.exception("unhandled error on %s %r", request.method, request.path)
        return _error(500, "server_error")


def create_app(
    config: BoxConfig,
    store: Store,
    *,
    data_dir: Path | None = None,
    secret_key: bytes | None = None,
) -> Flask:
    """The web app for one box; `store` stays open for the app's lifetime."""
    from gateway.web import admin, api, auth, exports, kpps, portal, poster, ppk, receipt

    data_dir = data_dir or config.paths.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    max_mb = config.web.max_upload_mb
    app = Flask(__name__)
    app.request_class = UploadRequest
    app.config.update(
        SECRET_KEY=secret_key or load_secret_key(config, data_dir),
        MAX_CONTENT_LENGTH=max_mb * 1024 * 1024,
        # Form fields other than the photo stay small; the photo is the only big part.
        MAX_FORM_MEMORY_SIZE=512 * 1024,
        SESSION_COOKIE_NAME="titik_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=False,  # plain HTTP on the box's private Wi-Fi; see module doc
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session; officers leave forms open for hours
        WTF_CSRF_SSL_STRICT=False,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.extensions[EXTENSION] = WebState(
        config=config, store=store, accounts=Accounts(config, data_dir), data_dir=data_dir
    )

    @app.before_request
    def malformed_form() -> None:
        # A multipart part whose name does not decode comes back keyed None, which makes
        # Flask-WTF's CSRF check crash; refuse such a request before it gets there.
        if request.method == "POST" and any(not isinstance(k, str) for k in request.form):
            abort(400)

    CSRFProtect(app)  # after malformed_form: before_request hooks run in order
    for blueprint in (auth.bp, kpps.bp, ppk.bp, exports.bp, admin.bp, api.bp, portal.bp, poster.bp,
                      receipt.bp):
        app.register_blueprint(blueprint)
    portal.install(app)
    _register_errors(app, max_mb)

    # Globals, not a context processor: imported macros see globals only.
    zone = config.web.timezone
    app.jinja_env.globals.update(
        t=t, label=field_label, config=config,
        localtime=lambda value, with_date=True: local_time(value, zone, with_date=with_date),
    )

    @app.context_processor
    def inject() -> dict[str, Any]:
        return {"lang": lang(), "user": current_user()}

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        if response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
        return response

    return app
