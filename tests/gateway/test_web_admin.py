"""Admin manages accounts: list, reset PIN, lock and unlock; every change audited."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from gateway.store import Store
from tests.gateway.test_web_support import (
    PIN,
    TPS_A,
    csrf_from,
    sign_in,
)

pytest_plugins = ["tests.gateway.test_web_support"]


def _change(client: FlaskClient, login: str, **form: str) -> None:
    token = csrf_from(client, "/admin/akun")
    response = client.post(f"/admin/akun/{login}", data={"csrf_token": token, **form})
    assert response.status_code == 303


def test_admin_lists_every_account(client: FlaskClient) -> None:
    sign_in(client, "admin")
    page = client.get("/admin/akun").get_data(as_text=True)
    for login in PIN:
        assert login in page


def test_lock_signs_the_account_out_and_keeps_it_out(app: Flask, client: FlaskClient) -> None:
    officer = app.test_client()
    sign_in(officer, TPS_A)
    assert officer.get("/kpps/").status_code == 200
    sign_in(client, "admin")
    _change(client, TPS_A, action="lock")
    assert officer.get("/kpps/").status_code == 302  # open session ended
    refused = sign_in(app.test_client(), TPS_A)
    assert refused.status_code == 401 and "dikunci" in refused.get_data(as_text=True)
    _change(client, TPS_A, action="unlock")
    assert sign_in(app.test_client(), TPS_A).status_code == 302


def test_reset_pin(app: Flask, client: FlaskClient, store: Store) -> None:
    sign_in(client, "admin")
    token = csrf_from(client, "/admin/akun")
    short = client.post(f"/admin/akun/{TPS_A}", data={"csrf_token": token, "action": "reset_pin",
                                                     "pin": "123"}, follow_redirects=True)
    assert "minimal 6" in short.get_data(as_text=True)
    _change(client, TPS_A, action="reset_pin", pin="baru-987654")
    assert sign_in(app.test_client(), TPS_A).status_code == 401  # old PIN no longer works
    assert sign_in(app.test_client(), TPS_A, "baru-987654").status_code == 302
    actions = [e["action"] for e in store.audit_entries(limit=50)]
    assert "account_reset_pin" in actions
    assert store.verify_audit().ok


def test_only_admin_manages_accounts(client: FlaskClient) -> None:
    sign_in(client, "ppk")
    assert client.get("/admin/akun").status_code == 403
