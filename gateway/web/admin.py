"""Account management by the admin: list, reset a PIN, lock and unlock.

Changes are stored on the box (`accounts.py`), audited, and sign the account out.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from gateway.web.accounts import AccountError
from gateway.web.auth import current_user, require_role, t
from gateway.web.state import web_state

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/akun")
@require_role("admin")
def accounts() -> Any:
    state = web_state()
    locked = {a.login: state.store.login_locked(a.login) for a in state.accounts.all()}
    return render_template("admin_accounts.html", accounts=state.accounts.all(), lockout=locked)


@bp.route("/akun/<login>", methods=["POST"])
@require_role("admin")
def change(login: str) -> Any:
    user = current_user()
    assert user is not None
    state = web_state()
    action = request.form.get("action", "")
    before = state.accounts.get(login)
    try:
        if action == "lock":
            after = state.accounts.set_locked(login, True)
        elif action == "unlock":
            after = state.accounts.set_locked(login, False)
        elif action == "reset_pin":
            after = state.accounts.reset_pin(login, request.form.get("pin", ""))
        else:
            raise AccountError("err_no_account")
    except AccountError as exc:
        flash(t(exc.key), "error")
        return redirect(url_for("admin.accounts")), 303
    state.store.audit(
        user.login,
        f"account_{action}",
        f"account:{login}",
        {"locked": before.locked, "version": before.version} if before else None,
        {"locked": after.locked, "version": after.version},
    )
    flash(t("saved"), "ok")
    return redirect(url_for("admin.accounts")), 303
