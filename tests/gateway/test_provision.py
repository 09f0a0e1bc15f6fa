"""System files rendered from the box configuration, checked by the real tools.

hostapd has no syntax-check mode. We do two things: the keys are checked against the
list this template is allowed to use, and `hostapd -dd` is run on a copy whose
interface does not exist: hostapd parses the whole file first (reporting "unknown
configuration item" or "N errors found in configuration file") and only then fails to
open the driver, so reaching the driver step means the file parsed.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import BoxConfig, load_box_config
from gateway.provision import RenderedFile, render_system_files, write_system_files

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
NFT = shutil.which("nft") or "/usr/sbin/nft"
HOSTAPD = shutil.which("hostapd") or "/usr/sbin/hostapd"

HOSTAPD_KEYS = {
    "interface", "driver", "ctrl_interface", "ctrl_interface_group", "ssid", "utf8_ssid",
    "ignore_broadcast_ssid", "country_code", "ieee80211d", "hw_mode", "channel", "ieee80211n",
    "wmm_enabled", "auth_algs", "wpa", "wpa_key_mgmt", "wpa_pairwise", "rsn_pairwise",
    "wpa_passphrase", "ap_isolate", "macaddr_acl", "max_num_sta",
}


def _rendered(config: BoxConfig, path: Path) -> dict[str, str]:
    return {f.name: f.text for f in render_system_files(config, path)}


def _settings(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs.append((key.strip(), value.strip()))
    return pairs


@pytest.fixture()
def demo(demo_config_path: Path) -> BoxConfig:
    return load_box_config(demo_config_path)


@pytest.fixture()
def port80(demo_config_path: Path, tmp_path: Path) -> tuple[BoxConfig, Path]:
    """A box whose web app listens on port 80 itself, on another Wi-Fi network."""
    text = demo_config_path.read_text().replace("port = 8080", "port = 80")
    text = text.replace("10.42.0.", "192.168.77.").replace('"wlan0"', '"wlp1s0"')
    text = text.replace('data_dir = "../../.demo-data/box"', 'data_dir = "/srv/titik"')
    path = tmp_path / "box.toml"
    path.write_text(text)
    return load_box_config(path), path


def test_hostapd_is_wpa2_ccmp_isolated(demo: BoxConfig, demo_config_path: Path) -> None:
    settings = dict(_settings(_rendered(demo, demo_config_path)["hostapd.conf"]))
    assert set(settings) <= HOSTAPD_KEYS
    assert settings["interface"] == "wlan0"
    assert settings["ssid"] == "TITIK-GAMBIR"
    assert settings["wpa_passphrase"] == "pemilu-jujur-2024"
    assert settings["wpa"] == "2"
    assert settings["wpa_key_mgmt"] == "WPA-PSK"
    assert settings["rsn_pairwise"] == settings["wpa_pairwise"] == "CCMP"
    assert settings["ap_isolate"] == "1"
    assert settings["country_code"] == "ID"
    assert settings["channel"] == "6"
    assert settings["hw_mode"] == "g"


def test_hostapd_parses_the_file(demo: BoxConfig, demo_config_path: Path, tmp_path: Path) -> None:
    if not Path(HOSTAPD).exists():
        pytest.skip("hostapd is not installed")
    text = _rendered(demo, demo_config_path)["hostapd.conf"]
    probe = tmp_path / "hostapd.conf"
    probe.write_text(text.replace("interface=wlan0", "interface=titiknone0"))
    out = _run_hostapd(probe)
    assert "Configuration file:" in out
    assert "errors found in configuration file" not in out, out
    assert "unknown configuration item" not in out, out
    # The same probe does catch a broken file, so the check above means something.
    probe.write_text(probe.read_text() + "wpa_pairwise=WEP\nbogus_item=1\n")
    out = _run_hostapd(probe)
    assert "unknown configuration item 'bogus_item'" in out
    assert "errors found in configuration file" in out


def _run_hostapd(conf: Path) -> str:
    proc = subprocess.run(
        [HOSTAPD, "-dd", str(conf)], capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode != 0  # the interface does not exist: it must never come up here
    return proc.stdout + proc.stderr


def test_dnsmasq_serves_wifi_only_and_answers_every_name(
    demo: BoxConfig, demo_config_path: Path
) -> None:
    pairs = _settings(_rendered(demo, demo_config_path)["dnsmasq.conf"])
    keys = [k for k, _ in pairs]
    values = dict(pairs)
    assert values["interface"] == "wlan0"
    assert values["except-interface"] == "lo"
    assert "bind-dynamic" in keys or "bind-interfaces" in keys
    assert "no-resolv" in keys
    assert not any(k == "server" for k in keys)  # no upstream forwarding
    assert values["address"] == "/#/10.42.0.1"
    assert values["dhcp-range"] == "set:titikwifi,10.42.0.10,10.42.0.250,255.255.255.0,12h"
    options = [v for k, v in pairs if k == "dhcp-option"]
    assert "tag:titikwifi,option:router,10.42.0.1" in options
    assert "tag:titikwifi,option:dns-server,10.42.0.1" in options


def test_dnsmasq_accepts_the_file(
    demo: BoxConfig, demo_config_path: Path, port80: tuple[BoxConfig, Path], tmp_path: Path
) -> None:
    if not Path(DNSMASQ).exists():
        pytest.skip("dnsmasq is not installed")
    for i, (config, path) in enumerate([(demo, demo_config_path), port80]):
        conf = tmp_path / f"dnsmasq-{i}.conf"
        conf.write_text(_rendered(config, path)["dnsmasq.conf"])
        proc = subprocess.run(
            [DNSMASQ, "--test", "-C", str(conf)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        assert "syntax check OK" in proc.stderr + proc.stdout


def _nft_body(text: str) -> str:
    return "\n".join(line.split("#")[0].rstrip() for line in text.splitlines())


def test_nftables_wifi_input_forward_and_redirect(demo: BoxConfig, demo_config_path: Path) -> None:
    body = _nft_body(_rendered(demo, demo_config_path)["nftables.conf"])
    wifi_in = body[body.index("chain wifi_in"):body.index("chain forward")]
    accepted = re.findall(r"^\s*(.*) accept$", wifi_in, flags=re.M)
    assert accepted == [
        "ct state established,related",
        "udp dport 67",
        "udp dport 53",
        "tcp dport 53",
        "tcp dport 8080",
        "icmp type { echo-request, destination-unreachable, time-exceeded } limit rate 10/second",
        "icmpv6 type { echo-request, destination-unreachable, packet-too-big, time-exceeded, "
        "nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert }",
    ]
    assert wifi_in.rstrip().rstrip("}").rstrip().endswith("counter drop")
    assert 'iifname "wlan0" jump wifi_in' in body
    forward = body[body.index("chain forward"):]
    assert 'iifname "wlan0" counter drop' in forward
    assert 'oifname "wlan0" counter drop' in forward
    assert "accept" not in forward.replace("policy accept", "")
    assert 'iifname "wlan0" tcp dport 80 redirect to :8080' in body
    assert "eth0" not in body  # only the Wi-Fi side is filtered; the backhaul keeps its rules


def test_nftables_without_redirect_when_web_is_on_80(port80: tuple[BoxConfig, Path]) -> None:
    body = _nft_body(_rendered(*port80)["nftables.conf"])
    assert "redirect" not in body
    assert 'iifname "wlp1s0" jump wifi_in' in body
    assert "tcp dport 80 accept" in body


def test_nft_check_mode_accepts_the_files(
    demo: BoxConfig, demo_config_path: Path, port80: tuple[BoxConfig, Path], tmp_path: Path
) -> None:
    if not Path(NFT).exists():
        pytest.skip("nft is not installed")
    for i, (config, path) in enumerate([(demo, demo_config_path), port80]):
        conf = tmp_path / f"nftables-{i}.conf"
        conf.write_text(_rendered(config, path)["nftables.conf"])
        proc = subprocess.run(
            [NFT, "-c", "-f", str(conf)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0 and re.search(
            r"Operation not permitted|Permission denied|cache initialization failed", proc.stderr
        ):
            pytest.skip(f"nft cannot run its check here: {proc.stderr.strip()}")
        assert proc.returncode == 0, proc.stderr


def test_env_file_points_the_services_at_config_and_data(
    demo: BoxConfig, demo_config_path: Path, port80: tuple[BoxConfig, Path]
) -> None:
    env = dict(_settings(_rendered(demo, demo_config_path)["titik.env"]))
    assert env["TITIK_CONFIG"] == str(demo_config_path.resolve())
    assert env["TITIK_DATA"] == str(demo.paths.data_dir)
    assert Path(env["TITIK_CONFIG"]).is_absolute()
    env80 = dict(_settings(_rendered(*port80)["titik.env"]))
    assert env80["TITIK_DATA"] == "/srv/titik"


def test_network_file_gives_the_box_its_wifi_address(port80: tuple[BoxConfig, Path]) -> None:
    config, path = port80
    settings = dict(_settings(_rendered(config, path)["titik-wifi.network"]))
    assert settings["Name"] == "wlp1s0"
    assert ipaddress.ip_interface(settings["Address"]) == ipaddress.ip_interface(
        "192.168.77.1/24"
    )


def test_write_replaces_files_and_keeps_modes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "hostapd.conf").write_text("old")
    (out / "hostapd.conf").chmod(0o644)
    written = write_system_files(
        [RenderedFile("hostapd.conf", "new\n", 0o600), RenderedFile("a.env", "X=1\n", 0o640)], out
    )
    assert written == [out / "hostapd.conf", out / "a.env"]
    assert (out / "hostapd.conf").read_text() == "new\n"
    assert (out / "hostapd.conf").stat().st_mode & 0o777 == 0o600
    assert (out / "a.env").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in out.iterdir()) == ["a.env", "hostapd.conf"]


# The rendered firewall and DNS, running for real: a private network namespace holds the
# "box" (wlan0 10.42.0.1, eth0 backhaul), a "phone" namespace on the Wi-Fi side and an
# "internet" namespace behind the backhaul, joined by veth pairs. Nothing touches the
# machine's own network. The phone probes before and after the rules are loaded, so
# the test shows the rules (not the set-up) make the difference.
PROBE = r"""
import socket, struct, sys
def dns(name):
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + labels + b"\0\0\1\0\1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(query, ("10.42.0.1", 53))
        return socket.inet_ntoa(s.recv(512)[-4:])
def tcp(host, port):
    try:
        with socket.create_connection((host, port), timeout=1.5) as c:
            c.sendall(b"GET / HTTP/1.0\r\nHost: pemilu.example\r\n\r\n")
            return c.recv(100).split(b"\r\n")[0].decode() or "open"
    except OSError as exc:
        return "blocked:" + type(exc).__name__
for arg in sys.argv[1:]:
    if arg.startswith("dns:"):
        print(arg, dns(arg[4:]))
    else:
        host, port = arg.split(":")
        print(arg, tcp(host, int(port)))
"""

NETNS_SCRIPT = r"""
set -eu
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
cd "$WORK"
ip link set lo up
unshare -n sleep 120 & PHONE=$!
unshare -n sleep 120 & NET=$!
sleep 0.5
ip link add wlan0 type veth peer name eth0 netns $PHONE
ip link add eth0 type veth peer name eth0 netns $NET
ip addr add 10.42.0.1/24 dev wlan0 && ip link set wlan0 up
ip addr add 192.168.99.1/24 dev eth0 && ip link set eth0 up
sysctl -qw net.ipv4.ip_forward=1
nsenter -t $PHONE -n sh -c 'ip link set lo up; ip addr add 10.42.0.50/24 dev eth0;
  ip link set eth0 up; ip route add default via 10.42.0.1'
nsenter -t $NET -n sh -c 'ip link set lo up; ip addr add 192.168.99.2/24 dev eth0;
  ip link set eth0 up; ip route add default via 192.168.99.1'
nsenter -t $NET -n "$PY" -m http.server 9000 --bind 192.168.99.2 >/dev/null 2>&1 &
"$PY" -m http.server 8080 --bind 0.0.0.0 >/dev/null 2>&1 &
"$PY" -m http.server 2222 --bind 0.0.0.0 >/dev/null 2>&1 &
/usr/sbin/dnsmasq -C dnsmasq.conf -k -u root --pid-file="$WORK/dnsmasq.pid" \
  --log-facility="$WORK/dnsmasq.log" &
sleep 1.5
PROBES="10.42.0.1:8080 10.42.0.1:80 10.42.0.1:2222 192.168.99.2:9000"
echo "== open"
nsenter -t $PHONE -n "$PY" probe.py $PROBES
nft -f nftables.conf
echo "== rules"
nsenter -t $PHONE -n "$PY" probe.py dns:pemilu2024.kpu.go.id \
  dns:connectivitycheck.gstatic.com $PROBES
"""


def _probe_results(output: str, section: str) -> dict[str, str]:
    block = output.split(f"== {section}\n", 1)[1].split("== ", 1)[0]
    return dict(line.split(" ", 1) for line in block.splitlines() if line.strip())


@pytest.mark.slow
def test_phone_reaches_only_dns_and_the_web_app(
    demo: BoxConfig, demo_config_path: Path, tmp_path: Path
) -> None:
    if not (Path(DNSMASQ).exists() and Path(NFT).exists() and shutil.which("unshare")):
        pytest.skip("needs dnsmasq, nft and unshare")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False).returncode:
        pytest.skip("cannot create a network namespace here (needs root or user namespaces)")
    files = _rendered(demo, demo_config_path)
    (tmp_path / "nftables.conf").write_text(files["nftables.conf"])
    # The lease file is the only path outside tmp_path the rendered file names.
    (tmp_path / "dnsmasq.conf").write_text(
        files["dnsmasq.conf"].replace(
            "dhcp-leasefile=/var/lib/misc/titik-dnsmasq.leases",
            f"dhcp-leasefile={tmp_path / 'leases'}",
        )
    )
    (tmp_path / "probe.py").write_text(PROBE)
    proc = subprocess.run(
        ["unshare", "-n", "bash", "-c", NETNS_SCRIPT],
        env={"WORK": str(tmp_path), "PY": sys.executable, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    before = _probe_results(proc.stdout, "open")
    after = _probe_results(proc.stdout, "rules")
    # Without the rules the phone reaches everything (and port 80 has nothing on it).
    assert before["10.42.0.1:2222"].startswith("HTTP/1.0 200")
    assert before["192.168.99.2:9000"].startswith("HTTP/1.0 200")
    assert before["10.42.0.1:80"].startswith("blocked:")
    # With them: every name is the box, the web app answers on 8080 and on 80 ...
    assert after["dns:pemilu2024.kpu.go.id"] == "10.42.0.1"
    assert after["dns:connectivitycheck.gstatic.com"] == "10.42.0.1"
    assert after["10.42.0.1:8080"].startswith("HTTP/1.0 200")
    assert after["10.42.0.1:80"].startswith("HTTP/1.0 200")
    # ... and nothing else on the box, nor anything behind the backhaul.
    assert after["10.42.0.1:2222"].startswith("blocked:")
    assert after["192.168.99.2:9000"].startswith("blocked:")
