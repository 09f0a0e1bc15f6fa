"""Secrets from the box configuration never reach the log output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import BoxConfig, load_box_config
from gateway.logredact import MASK, install_log_redaction, redact


@pytest.fixture()
def config(demo_config_path: Path) -> BoxConfig:
    return load_box_config(demo_config_path)


@pytest.fixture()
def demo_pins(demo_config_path: Path) -> dict[str, str]:
    accounts = json.loads((demo_config_path.parent / "demo-accounts.json").read_text())
    return {a["login"]: a["pin"] for a in accounts}


@pytest.fixture()
def captured(config: BoxConfig) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger with a real stream handler in the project's format, redaction installed."""
    from gateway.cli import LOG_FORMAT

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger("titik.test.redact")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    install_log_redaction(config, logger=logger)
    yield logger, stream
    logger.removeHandler(handler)


def test_passphrase_from_the_config_is_masked_anywhere(
    config: BoxConfig, captured: tuple[logging.Logger, io.StringIO]
) -> None:
    logger, stream = captured
    passphrase = config.wifi.passphrase
    logger.info("hostapd started on %s with %s", config.wifi.interface, passphrase)
    logger.warning("wifi settings %s", {"ssid": config.wifi.ssid, "passphrase": passphrase})
    out = stream.getvalue()
    assert passphrase not in out
    assert f"hostapd started on wlan0 with {MASK}" in out
    assert "TITIK-GAMBIR" in out  # the SSID is not a secret


def test_pins_and_pin_hashes_are_masked(
    config: BoxConfig, demo_pins: dict[str, str], captured: tuple[logging.Logger, io.StringIO]
) -> None:
    logger, stream = captured
    pin = demo_pins["3171011001001"]
    logger.info("login attempt login=%s pin=%s", "3171011001001", pin)
    logger.info('form body {"login": "ppk", "pin": "%s"}', demo_pins["ppk"])
    logger.info("POST /masuk login=3171011001002&pin=%s&next=/", demo_pins["3171011001002"])
    ppk_hash = next(a.pin_hash for a in config.accounts if a.login == "ppk")
    logger.debug("account %s hash %s", "ppk", ppk_hash)
    out = stream.getvalue()
    for secret in [pin, demo_pins["ppk"], demo_pins["3171011001002"]]:
        assert secret not in out
    assert "scrypt:" not in out
    assert f"login attempt login=3171011001001 pin={MASK}" in out
    assert f'"pin": "{MASK}"' in out
    assert f"pin={MASK}&next=/" in out


def test_tracebacks_are_masked_too(
    config: BoxConfig, captured: tuple[logging.Logger, io.StringIO]
) -> None:
    logger, stream = captured
    try:
        raise RuntimeError(f"hostapd refused passphrase={config.wifi.passphrase}")
    except RuntimeError:
        logger.exception("access point failed")
    out = stream.getvalue()
    assert "Traceback" in out and "RuntimeError" in out
    assert config.wifi.passphrase not in out


def test_ordinary_lines_are_untouched(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.info("TPS %s page %d read: %s", "3171011001001", 2, "needs_review")
    logger.info("PIN salah / wrong PIN for %s", "3171011001001")
    logger.info("signing_key_file=%s", "/var/lib/titik/keys/box.key")
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("TPS 3171011001001 page 2 read: needs_review")
    assert lines[1].endswith("PIN salah / wrong PIN for 3171011001001")
    assert lines[2].endswith("signing_key_file=/var/lib/titik/keys/box.key")


def test_install_is_idempotent_and_reaches_every_handler() -> None:
    logger = logging.getLogger("titik.test.redact.twice")
    streams = [io.StringIO(), io.StringIO()]
    handlers = [logging.StreamHandler(s) for s in streams]
    for h in handlers:
        logger.addHandler(h)
    logger.propagate = False
    first = install_log_redaction(logger=logger)
    second = install_log_redaction(logger=logger)
    assert first is second
    assert all(h.filters.count(first) == 1 for h in handlers)
    first.add_secrets(["rahasia-ppk-2024", "1234"])
    logger.warning("typed rahasia-ppk-2024 and 1234")
    for s in streams:
        assert s.getvalue() == f"typed {MASK} and 1234\n"  # too short to mask blindly
    for h in handlers:
        logger.removeHandler(h)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("passphrase: pemilu-jujur-2024 done", f"passphrase: {MASK} done"),
        ("mqtts://box:s3cret@central:8883", f"mqtts://box:{MASK}@central:8883"),
        ("PASSWORD='x y z'", f"PASSWORD='{MASK}'"),
        ("secret_key=abcdef0123", f"secret_key={MASK}"),
        ("wifi.passphrase = (hidden): too short", "wifi.passphrase = (hidden): too short"),
        (
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----",
            f"-----PRIVATE KEY {MASK}-----",
        ),
    ],
)
def test_redact_patterns(text: str, expected: str) -> None:
    assert redact(text) == expected
