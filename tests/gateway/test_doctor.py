"""`titik doctor` on real files: certificates it generates, sockets, keys, a model file."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.cli.doctor_cmd import doctor_command
from gateway.doctor import (
    check_broker,
    check_certificate_file,
    check_clock,
    check_disk,
    check_model,
    check_signing_key,
    run_doctor,
)
from sync.signing import generate_key_pair

NOW = datetime.now(UTC)


def make_cert(path: Path, *, not_before: datetime, not_after: datetime, cn: str = "broker") -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = path.with_suffix(".key")
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return path


@pytest.fixture()
def listening() -> Iterator[int]:
    """A real TCP listener on a free local port."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.fixture()
def closed_port() -> int:
    """A port that was free a moment ago, with nothing listening now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_certificates_expired_expiring_not_yet_valid_and_good(tmp_path: Path) -> None:
    day = timedelta(days=1)
    expired = make_cert(tmp_path / "old.pem", not_before=NOW - 400 * day, not_after=NOW - day)
    soon = make_cert(tmp_path / "soon.pem", not_before=NOW - 300 * day, not_after=NOW + 5 * day)
    future = make_cert(tmp_path / "new.pem", not_before=NOW + 30 * day, not_after=NOW + 400 * day)
    good = make_cert(tmp_path / "good.pem", not_before=NOW - day, not_after=NOW + 365 * day)

    finding = check_certificate_file("ca_file", expired, NOW)
    assert finding.status == "fail"
    assert "expired" in finding.message and "CN=broker" in finding.message
    finding = check_certificate_file("ca_file", soon, NOW)
    assert finding.status == "warn"
    assert re.search(r"expires in [45] days", finding.message)
    assert check_certificate_file("ca_file", future, NOW).status == "fail"
    finding = check_certificate_file("ca_file", good, NOW)
    assert finding.status == "ok"
    assert (NOW + 365 * day).strftime("%Y-%m-%d") in finding.message

    # A bundle is judged by its earliest expiry.
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(good.read_bytes() + soon.read_bytes())
    assert check_certificate_file("ca_file", bundle, NOW).status == "warn"


def test_certificate_missing_or_garbage(tmp_path: Path) -> None:
    assert check_certificate_file("ca_file", tmp_path / "none.pem", NOW).status == "fail"
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    finding = check_certificate_file("ca_file", junk, NOW)
    assert finding.status == "fail" and "not a PEM certificate" in finding.message


def test_disk_threshold(tmp_path: Path) -> None:
    assert check_disk(tmp_path, 1).status == "ok"
    huge = check_disk(tmp_path, 1 << 40)  # a million terabytes
    assert huge.status == "warn"
    assert "paths.min_free_mb" in huge.message and huge.fix
    not_yet = check_disk(tmp_path / "data" / "box", 1)
    assert not_yet.status == "ok" and "not created yet" in not_yet.message


def test_clock_before_2024_or_behind_the_newest_file(tmp_path: Path) -> None:
    assert check_clock(tmp_path, datetime(1970, 1, 1, tzinfo=UTC)).status == "fail"
    photos = tmp_path / "photos" / "ab"
    photos.mkdir(parents=True)
    photo = photos / ("ab" + "0" * 62)
    photo.write_bytes(b"jpeg")
    assert check_clock(tmp_path, NOW).status == "ok"
    # The file says it was written tomorrow: the clock went backwards (no RTC, no NTP yet).
    tomorrow = time.time() + 86400
    os.utime(photo, (tomorrow, tomorrow))
    finding = check_clock(tmp_path, NOW)
    assert finding.status == "fail"
    assert "behind" in finding.message and str(photo) in finding.message
    assert "timedatectl" in finding.fix


def test_broker_reachability(listening: int, closed_port: int) -> None:
    assert check_broker("127.0.0.1", listening, 2.0).status == "ok"
    down = check_broker("127.0.0.1", closed_port, 2.0)
    assert down.status == "warn"
    assert f"127.0.0.1:{closed_port}" in down.message and "backhaul" in down.fix


def test_model_hash(tmp_path: Path) -> None:
    model = tmp_path / "digits.tflite"
    assert check_model(model).status == "fail"
    model.write_bytes(b"TFL3 pretend model bytes")
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    info = check_model(model)
    assert info.status == "info" and digest in info.message
    model.with_suffix(".sha256").write_text(f"{digest}  digits.tflite\n")
    assert check_model(model).status == "ok"
    model.write_bytes(b"TFL3 tampered")
    bad = check_model(model)
    assert bad.status == "fail" and digest in bad.message


def test_signing_key_presence_permissions_and_pair(tmp_path: Path) -> None:
    pair = generate_key_pair(tmp_path / "keys", "box-317101-demo")
    assert check_signing_key(pair.private).status == "ok"
    assert check_signing_key(tmp_path / "keys" / "absent.key").status == "fail"
    pair.private.chmod(0o644)
    loose = check_signing_key(pair.private)
    assert loose.status == "fail" and loose.fix == f"chmod 600 {pair.private}"
    pair.private.chmod(0o600)
    other = generate_key_pair(tmp_path / "other", "box-317101-demo")
    pair.public.write_text(other.public.read_text())
    mismatch = check_signing_key(pair.private)
    assert mismatch.status == "fail" and "does not match" in mismatch.message
    pair.private.write_text("not base64 at all\n")
    assert check_signing_key(pair.private).status == "fail"


def _box(tmp_path: Path, demo_config_path: Path, *, port: int, tls: str = "",
         extra: str = "") -> Path:
    """A complete box configuration with every file it names inside tmp_path."""
    generate_key_pair(tmp_path / "keys", "box-317101-demo")
    text = demo_config_path.read_text()
    text = text.replace('data_dir = "../../.demo-data/box"', f'data_dir = "data"{extra}')
    text = text.replace("port = 1883", f"port = {port}{tls}")
    path = tmp_path / "box.toml"
    path.write_text(text)
    return path


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "digits.tflite"
    model.write_bytes(b"TFL3 model")
    model.with_suffix(".sha256").write_text(hashlib.sha256(b"TFL3 model").hexdigest() + "\n")
    return model


def test_healthy_box_exits_zero(tmp_path: Path, demo_config_path: Path, listening: int) -> None:
    make_cert(tmp_path / "ca.pem", not_before=NOW - timedelta(days=1),
              not_after=NOW + timedelta(days=700))
    tls = '\n\n[relay.broker.tls]\nca_file = "ca.pem"\n'
    config = _box(tmp_path, demo_config_path, port=listening, tls=tls)
    result = CliRunner().invoke(
        doctor_command, ["--config", str(config), "--model", str(_model(tmp_path)), "--json"]
    )
    report = json.loads(result.output)
    assert result.exit_code == 0, result.output
    assert report["ok"] is True and report["box_id"] == "box-317101-demo"
    checks = {f["check"]: f["status"] for f in report["findings"]}
    assert checks == {
        "config": "ok", "disk": "ok", "clock": "ok", "cert:ca_file": "ok", "broker": "ok",
        "model": "ok", "signing_key": "ok",
    }


def test_problems_are_listed_with_fixes_and_exit_two(
    tmp_path: Path, demo_config_path: Path, closed_port: int
) -> None:
    make_cert(tmp_path / "ca.pem", not_before=NOW - timedelta(days=400),
              not_after=NOW - timedelta(days=2))
    tls = '\n\n[relay.broker.tls]\nca_file = "ca.pem"\n'
    config = _box(tmp_path, demo_config_path, port=closed_port, tls=tls,
                  extra="\nmin_free_mb = 1000000000")
    # The min_free_mb already in the demo file would now be a duplicate key: drop it.
    config.write_text(config.read_text().replace("min_free_mb = 500\n", ""))
    result = CliRunner().invoke(
        doctor_command, ["--config", str(config), "--model", str(tmp_path / "none.tflite")]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"titik doctor: box box-317101-demo ({config})"
    assert any(line.startswith("[PERINGATAN/WARN] disk:") for line in lines)
    assert any(line.startswith("[  GAGAL/FAIL   ] cert:ca_file:") for line in lines)
    assert any(line.startswith("[PERINGATAN/WARN] broker:") for line in lines)
    assert any(line.startswith("[  GAGAL/FAIL   ] model:") for line in lines)
    assert result.output.count("perbaiki / fix:") == 4
    assert lines[-1] == "PERLU DIPERBAIKI / NEEDS FIXING: 2 gagal/failed, 2 peringatan/warnings"


def test_warnings_only_exit_one(tmp_path: Path, demo_config_path: Path, closed_port: int) -> None:
    config = _box(tmp_path, demo_config_path, port=closed_port)
    report = run_doctor(config, model_path=_model(tmp_path), broker_timeout_s=1.0)
    assert [f.check for f in report.findings if f.status != "ok"] == ["cert", "broker"]
    assert report.exit_code == 1


def test_broken_config_stops_at_the_config(tmp_path: Path, demo_config_path: Path) -> None:
    bad = tmp_path / "box.toml"
    bad.write_text(demo_config_path.read_text().replace("channel = 6", "channel = 99"))
    result = CliRunner().invoke(doctor_command, ["--config", str(bad), "--json"])
    assert result.exit_code == 2
    report = json.loads(result.output)
    assert [f["check"] for f in report["findings"]] == ["config"]
    assert "wifi.channel = 99" in report["findings"][0]["message"]


def test_data_option_overrides_the_data_dir(
    tmp_path: Path, demo_config_path: Path, listening: int
) -> None:
    config = _box(tmp_path, demo_config_path, port=listening)
    data = tmp_path / "elsewhere"
    (data / "photos").mkdir(parents=True)
    future = (data / "photos" / "late.jpg")
    future.write_bytes(b"x")
    later = time.time() + 3 * 86400
    os.utime(future, (later, later))
    report = run_doctor(config, data, model_path=_model(tmp_path))
    clock = next(f for f in report.findings if f.check == "clock")
    assert clock.status == "fail" and str(future) in clock.message
