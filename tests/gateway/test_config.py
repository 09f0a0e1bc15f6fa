"""The box configuration: the demo file loads; every bad value is named with its fix."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, load_box_config


def _demo_data(demo_config_path: Path) -> dict[str, Any]:
    with demo_config_path.open("rb") as fh:
        return tomllib.load(fh)


def _write_toml(path: Path, data: dict[str, Any]) -> Path:
    """A tiny TOML writer for the shapes the box file uses (tables, arrays of tables)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        return repr(v)

    def table(prefix: str, d: dict[str, Any], out: list[str]) -> None:
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict | list)}
        out.extend(f"{k} = {value(v)}" for k, v in scalars.items())
        for k, v in d.items():
            name = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                out.append(f"\n[{name}]")
                table(name, v, out)
            elif isinstance(v, list):
                for item in v:
                    out.append(f"\n[[{name}]]")
                    table(name, item, out)

    lines: list[str] = []
    table("", data, lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _problems(tmp_path: Path, data: dict[str, Any]) -> str:
    path = _write_toml(tmp_path / "box.toml", data)
    with pytest.raises(ConfigError) as info:
        load_box_config(path)
    return str(info.value)


def test_demo_config_loads(demo_config_path: Path) -> None:
    config = load_box_config(demo_config_path)
    assert config.box.id == "box-317101-demo"
    assert len(config.tps) == 6
    assert config.wifi.host_address == "10.42.0.1"
    # Relative paths are relative to the file, not to the working directory.
    assert config.relay.signing_key_file.is_absolute()
    assert config.relay.signing_key_file.parent == demo_config_path.parent.resolve() / "keys"


def test_round_trip_writer_matches_demo(demo_config_path: Path, tmp_path: Path) -> None:
    data = _demo_data(demo_config_path)
    again = tomllib.loads(_write_toml(tmp_path / "copy.toml", data).read_text())
    assert again == data


def test_missing_file_and_bad_toml_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_box_config(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[box\nid = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_box_config(bad)


def test_every_field_problem_names_file_key_value_and_fix(
    demo_config_path: Path, tmp_path: Path
) -> None:
    data = _demo_data(demo_config_path)
    data["wifi"]["channel"] = 14
    data["web"]["port"] = 0
    data["tps"][1]["dpt"] = 301
    data["wifi"]["passphrase"] = "short"
    data["box"]["colour"] = "red"
    del data["kecamatan"]["name"]
    text = _problems(tmp_path, data)
    lines = text.splitlines()
    assert lines[0] == f"{tmp_path / 'box.toml'}: 6 problem(s) in the configuration"
    assert "  wifi.channel = 14: Input should be less than or equal to 13" in lines
    assert "  web.port = 0: Input should be greater than or equal to 1" in lines
    assert "  tps[1].dpt = 301: Input should be less than or equal to 300" in lines
    assert "  kecamatan.name = (missing): add this key" in lines
    assert "  box.colour = 'red': remove this key or check its spelling" in lines
    # The passphrase is named but never printed.
    assert any(line.startswith("  wifi.passphrase = (hidden): ") for line in lines)
    assert "short" not in text


def test_cross_section_problems_are_all_listed(demo_config_path: Path, tmp_path: Path) -> None:
    data = _demo_data(demo_config_path)
    data["tps"][5]["code"] = "3171021003001"  # another kecamatan
    data["tps"][4]["code"] = data["tps"][3]["code"]  # listed twice
    data["accounts"][7]["login"] = "ppk"  # the admin now clashes with the ppk account
    text = _problems(tmp_path, data)
    assert "tps[5].code = '3171021003001': TPS 3171021003001 is not in kecamatan 317101" in text
    assert "tps[4].code = '3171011002001': already listed as tps[3]" in text
    assert "accounts[7].login = 'ppk': account login listed twice (also accounts[6])" in text
    # Accounts of the removed TPS codes point nowhere now.
    assert "accounts[4].tps = '3171011002002'" in text
    assert "accounts[5].tps = '3171011003001'" in text
    assert text.splitlines()[0].endswith(": 5 problem(s) in the configuration")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("interface", "wlan0\ninterface=eth0", "interface name is 1 to 15"),
        ("backhaul_interface", "wlan0", "must be different interfaces"),
        ("ssid", "TITIK\nwpa=0", "control characters"),
        ("ssid", "Kecamatan Gambir Kota Jakarta Pusat", "at most 32 characters"),
        ("ssid", "TPS-ÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄ", "longer than 32 bytes"),
        ("passphrase", "pemilu\u00a0jujur2024", "printable ASCII"),
        ("dhcp_start", "10.42.1.10", "outside the Wi-Fi network"),
        ("dhcp_start", "10.42.0.1", "the box's own address 10.42.0.1"),
        ("dhcp_end", "10.42.0.255", "broadcast address"),
        ("dhcp_end", "10.42.0.5", "must not come after"),
    ],
)
def test_wifi_values_that_would_break_system_files_are_refused(
    demo_config_path: Path, tmp_path: Path, key: str, value: str, message: str
) -> None:
    data = _demo_data(demo_config_path)
    data["wifi"][key] = value
    assert message in _problems(tmp_path, data)


def test_section_rules_each_report(demo_config_path: Path, tmp_path: Path) -> None:
    data = _demo_data(demo_config_path)
    data["relay"]["backoff_min_s"] = 300.0
    data["kecamatan"]["kabkota_code"] = "9999"
    text = _problems(tmp_path, data)
    assert "relay = (section): backoff_min_s must not be larger than backoff_max_s" in text
    assert "kecamatan = (section): kabkota_code '9999' must be the first 4 digits" in text


def test_account_rules(demo_config_path: Path, tmp_path: Path) -> None:
    data = _demo_data(demo_config_path)
    del data["accounts"][0]["tps"]
    data["accounts"][6]["tps"] = "3171011001001"
    data["accounts"][7]["pin_hash"] = "246810246810246810246810"
    text = _problems(tmp_path, data)
    assert "a kpps account needs tps" in text
    assert "only kpps accounts have a tps" in text
    assert "run `titik config hash-pin`" in text
    assert "246810246810" not in text


def test_web_timezone_defaults_to_wib_and_refuses_unknown_zones(
    demo_config_path: Path, tmp_path: Path
) -> None:
    assert load_box_config(demo_config_path).web.timezone == "Asia/Jakarta"
    data = _demo_data(demo_config_path)
    data["web"]["timezone"] = "Asia/Makassar"
    assert load_box_config(_write_toml(tmp_path / "wita.toml", data)).web.timezone == (
        "Asia/Makassar")
    data["web"]["timezone"] = "WIB+7"
    assert "  web.timezone = 'WIB+7': unknown time zone 'WIB+7'" in _problems(tmp_path, data)
