"""`titik config check | render | hash-pin | reference` as an operator uses them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from werkzeug.security import check_password_hash

from gateway.cli.config_cmd import config_group

TITIK = Path(sys.executable).with_name("titik")


def test_check_valid_file_prints_one_line_summary(demo_config_path: Path) -> None:
    # Through the installed entry point, exactly as the systemd units' ExecStartPre runs it.
    result = subprocess.run(
        [str(TITIK), "config", "check", str(demo_config_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"OK {demo_config_path}: box box-317101-demo")
    assert "6 TPS" in lines[0] and "9 akun/accounts (6 KPPS)" in lines[0]


def test_check_lists_every_problem_and_fails(demo_config_path: Path, tmp_path: Path) -> None:
    text = demo_config_path.read_text()
    text = text.replace("channel = 6", "channel = 0").replace("port = 8080", 'port = "web"')
    bad = tmp_path / "box.toml"
    bad.write_text(text)
    result = CliRunner().invoke(config_group, ["check", str(bad)])
    assert result.exit_code == 1
    assert f"Error: {bad}: 2 problem(s) in the configuration" in result.output
    assert "wifi.channel = 0: Input should be greater than or equal to 1" in result.output
    assert "web.port = 'web': Input should be a valid integer" in result.output


def test_check_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(config_group, ["check", str(tmp_path / "nope.toml")])
    assert result.exit_code == 1
    assert "nope.toml: no such file" in result.output


def test_render_writes_every_system_file(demo_config_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "etc"
    result = CliRunner().invoke(config_group, ["render", str(demo_config_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        ["hostapd.conf", "dnsmasq.conf", "nftables.conf", "titik.env", "titik-wifi.network"]
    )
    assert result.output.split() == [str(out / n) for n in
                                     ["hostapd.conf", "dnsmasq.conf", "nftables.conf",
                                      "titik.env", "titik-wifi.network"]]
    # The Wi-Fi passphrase is in hostapd.conf: readable by root only.
    assert (out / "hostapd.conf").stat().st_mode & 0o777 == 0o600
    assert (out / "dnsmasq.conf").stat().st_mode & 0o777 == 0o644
    assert not list(out.glob(".*.tmp"))


def test_render_refuses_an_invalid_config_and_writes_nothing(
    demo_config_path: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "box.toml"
    bad.write_text(demo_config_path.read_text().replace('interface = "wlan0"', 'interface = "w;0"'))
    out = tmp_path / "etc"
    result = CliRunner().invoke(config_group, ["render", str(bad), "--out", str(out)])
    assert result.exit_code == 1
    assert "wifi.interface = 'w;0'" in result.output
    assert not out.exists()


def test_render_into_a_file_path_is_a_clean_error(demo_config_path: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "etc"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(
        config_group, ["render", str(demo_config_path), "--out", str(blocker / "sub")]
    )
    assert result.exit_code == 1
    assert "cannot write" in result.output
    assert blocker.read_text() == "not a folder"


def test_hash_pin_asks_twice_without_echo() -> None:
    result = CliRunner().invoke(config_group, ["hash-pin"], input="246810\n246810\n")
    assert result.exit_code == 0, result.output
    hashed = result.output.strip().splitlines()[-1]
    assert hashed.startswith("scrypt:")
    assert check_password_hash(hashed, "246810")
    assert "246810" not in result.output.replace(hashed, "")


def test_hash_pin_mismatch_asks_again() -> None:
    result = CliRunner().invoke(
        config_group, ["hash-pin"], input="246810\n135791\nppk-gambir\nppk-gambir\n"
    )
    assert result.exit_code == 0, result.output
    hashed = result.output.strip().splitlines()[-1]
    assert check_password_hash(hashed, "ppk-gambir")
    assert not check_password_hash(hashed, "246810")


def test_hash_pin_from_stdin_and_usable_in_config(demo_config_path: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(TITIK), "config", "hash-pin", "--stdin"],
        input="rahasia-ppk-2024\n",
        capture_output=True,
        text=True,
        check=True,
    )
    hashed = result.stdout.strip()
    assert check_password_hash(hashed, "rahasia-ppk-2024")
    # The printed hash is accepted by the config loader as pin_hash.
    text = demo_config_path.read_text()
    start = text.index('pin_hash = "', text.index('login = "ppk"'))
    end = text.index('"', start + len('pin_hash = "'))
    box = tmp_path / "box.toml"
    box.write_text(text[:start] + f'pin_hash = "{hashed}' + text[end:])
    check = CliRunner().invoke(config_group, ["check", str(box)])
    assert check.exit_code == 0, check.output


def test_hash_pin_refuses_short_pin() -> None:
    result = CliRunner().invoke(config_group, ["hash-pin", "--stdin"], input="123\n")
    assert result.exit_code == 1
    assert "PIN terlalu pendek" in result.output
    assert "scrypt:" not in result.output


def test_reference_lists_nested_keys() -> None:
    result = CliRunner().invoke(config_group, ["reference"])
    assert result.exit_code == 0
    rows = [line for line in result.output.splitlines() if line.startswith("| `")]
    keys = [row.split("`")[1] for row in rows]
    assert "relay.broker.tls.ca_file" in keys
    assert "accounts[].pin_hash" in keys
    assert "wifi.passphrase" in keys
    assert all(row.count(" | ") == 3 for row in rows)
