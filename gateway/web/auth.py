"""Sign-in, sign-out, language switch and the role checks every other view uses.

Roles: kpps (own TPS only), ppk (whole kecamatan, reviews and corrects), admin
(accounts, reads the dashboard), observer (pengawas/saksi, reads the dashboard).
Failed sign-ins go to the store, which locks the login after repeated failures, so
the lockout survives a restart. PINs are never logged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from gateway.web.accounts import Account
from gateway.web.i18n import pick_lang, translate
from gateway.web.state import web_state

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

F = TypeVar("F", bound=Callable[..., Any])

PPK_READERS = ("ppk", "admin", "observer")


def lang() -> str:
    return pick_lang(session.get("lang"))


def t(key: str, **params: Any) -> str:
    return translate(key, lang(), **params)


def current_user() -> Account | None:
    """The signed-in account, or None; a locked account or a changed PIN ends the session."""
    if "user" in g:
        return cast(Account | None, g.user)
    user = None
    login = session.get("login")
    if isinstance(login, str):
        account = web_state().accounts.get(login)
        if account is not None and not account.locked and account.version == session.get("v"):
            user = account
        else:
            session.pop("login", None)
    g.user = user
    return user


def require_role(*roles: str) -> Callable[[F], F]:
    """Only signed-in users with one of `roles`; others go to sign-in (401 for the API)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if request.path.startswith("/api/"):
                    abort(401)
                flash(t("need_sign_in"), "info")
                return redirect(url_for("auth.login", next=request.path))
            if user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate


def home_for(user: Account) -> str:
    return url_for("kpps.home") if user.role == "kpps" else url_for("ppk.dashboard")


def safe_next(target: str | None) -> str | None:
    """Only a local path: never redirect to another site after sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def client_ip() -> str:
    return request.remote_addr or "-"


def attempt_login(login: str, pin: str) -> tuple[Account | None, str | None]:
    """(account, None) on success, or (None, message) explaining the refusal."""
    state = web_state()
    store = state.store
    ip = client_ip()
    remaining = max(store.login_locked(login), state.failed_by_ip.blocked_for(ip))
    if remaining > 0:
        logger.warning("sign-in refused for %r from %s: locked out", login, ip)
        return None, t("login_locked", minutes=max(1, math.ceil(remaining / 60)))
    account = state.accounts.verify(login, pin)
    if account is not None and account.locked:
        # Right PIN on an account the admin locked: refused, and counted as a failure.
        store.record_login(login, False, ip)
        return None, t("account_locked")
    store.record_login(login, account is not None, ip)  # audits the attempt too
    if account is None:
        state.failed_by_ip.record_failure(ip)
        logger.info("failed sign-in for %r from %s", login, ip)  # %r: typed text, no log forging
        return None, t("login_failed")
    return account, None


@bp.route("/masuk", methods=["GET", "POST"])
def login() -> Any:
    error = None
    status = 200
    if request.method == "POST":
        login_name = request.form.get("login", "").strip()[:64]
        pin = request.form.get("pin", "")[:128]
        account, error = attempt_login(login_name, pin)
        if account is not None:
            session.clear()
            session.permanent = True
            session["login"] = account.login
            session["v"] = account.version
            session["lang"] = lang()
            return redirect(safe_next(request.args.get("next")) or home_for(account))
        status = 401
    user = current_user()
    if request.method == "GET" and user is not None:
        return redirect(home_for(user))
    return render_template("login.html", error=error), status


@bp.route("/keluar", methods=["POST"])
def logout() -> Response:
    user = current_user()
    if user is not None:
        web_state().store.audit(user.login, "logout", user.login, None, None)
    keep_lang = lang()
    session.clear()
    session["lang"] = keep_lang
    return redirect(url_for("auth.login"))


@bp.route("/bahasa/<code>", methods=["POST"])
def set_lang(code: str) -> Response:
    session["lang"] = pick_lang(code)
    return redirect(safe_next(request.form.get("next")) or url_for("auth.index"))


@bp.route("/")
def index() -> Response:
    user = current_user()
    return redirect(home_for(user) if user is not None else url_for("auth.login"))
