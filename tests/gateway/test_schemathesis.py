"""Property-based API test: schemathesis generates requests from /api/openapi.json and sends
them through the WSGI app, signed in as a KPPS officer and as the PPK. No request may
crash the app (500) and every response must match the document."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.store import Store
from tests.gateway.test_web_support import (
    PIN,
    TPS_A,
    finish_next_job,
    jpeg_photo,
    page_reading,
)

pytest_plugins = ["tests.gateway.test_web_support"]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _sign_in(app: Flask, store: Store, login: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    token = client.get("/api/csrf").json["csrf_token"]  # type: ignore[index]
    response = client.post("/api/session", json={"login": login, "pin": PIN[login]},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 200
    # Something to find: upload 1 is a read page of TPS A.
    store.save_upload(jpeg_photo(seed=31), tps=TPS_A, actor=TPS_A, source="kpps")
    finish_next_job(store, page_reading(2, {"suara_paslon_1": 1, "suara_paslon_2": 2,
                                            "suara_paslon_3": 3}))
    return client, str(response.json["csrf_token"])  # type: ignore[index]


@pytest.fixture()
def as_kpps(app: Flask, store: Store) -> tuple[FlaskClient, str]:
    return _sign_in(app, store, TPS_A)


@pytest.fixture()
def as_ppk(app: Flask, store: Store) -> tuple[FlaskClient, str]:
    return _sign_in(app, store, "ppk")


FUZZ = settings(max_examples=10, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def fuzz_every_operation(app: Flask, client: FlaskClient, token: str) -> int:
    """Run generated requests for each operation of the document; return how many ran."""
    # The schemathesis pytest plugin's lazy loader does not work with pytest 9, so the
    # strategies are drawn through Hypothesis directly.
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err raises: schema broken

        @FUZZ
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal sent
            case.call_and_validate(session=client, headers={"X-CSRFToken": token},
                                   checks=CHECKS)
            sent += 1

        run()
    return sent


@pytest.mark.slow
def test_api_never_crashes_for_kpps(app: Flask, as_kpps: tuple[FlaskClient, str]) -> None:
    assert fuzz_every_operation(app, *as_kpps) >= 8


@pytest.mark.slow
def test_api_never_crashes_for_ppk(app: Flask, as_ppk: tuple[FlaskClient, str]) -> None:
    assert fuzz_every_operation(app, *as_ppk) >= 8
