"""The systemd units in systemd/: what they promise, checked by systemd-analyze.

`systemd-analyze verify` insists that ExecStart= binaries exist. The units name
/opt/titik/.venv/bin/titik, the path on a provisioned box, which does not exist here,
so the test verifies a temporary copy whose commands point at this checkout's `titik`.
Everything else is verified as written, and any message at all fails the test
(verify exits 0 on unknown keys and bad values, and only prints them).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import build_cli

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "systemd"
BOX_SERVICES = ["titik-web.service", "titik-worker.service", "titik-relay.service"]
SERVICES = [*BOX_SERVICES, "titik-central.service"]
TITIK = "/opt/titik/.venv/bin/titik"

HARDENING = {
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "NoNewPrivileges": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectControlGroups": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "RestrictNamespaces": "yes",
}


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections -> (key, value) in order; systemd keys may repeat, so no configparser."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


def one(section: list[tuple[str, str]], key: str) -> str:
    found = values(section, key)
    assert len(found) == 1, f"{key}: {found}"
    return found[0]


@pytest.mark.parametrize("name", SERVICES)
def test_service_runs_as_titik_checked_and_hardened(name: str) -> None:
    unit = parse_unit(UNITS / name)
    service = unit["Service"]
    assert one(service, "User") == "titik"
    assert one(service, "DynamicUser") == "no"
    assert one(service, "Type") == "notify"
    assert int(one(service, "WatchdogSec")) > 0
    assert one(service, "Restart") == "on-failure"
    assert one(service, "EnvironmentFile").startswith("/etc/titik/")
    state = one(service, "StateDirectory")
    assert one(service, "ReadWritePaths") == f"/var/lib/{state}"
    pre = values(service, "ExecStartPre")
    assert len(pre) == 1 and pre[0].startswith(f"{TITIK} config check ")
    assert one(service, "ExecStart").startswith(f"{TITIK} ")
    for key, expected in HARDENING.items():
        assert one(service, key) == expected, key
    families = set(one(service, "RestrictAddressFamilies").split())
    assert families <= {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}
    caps = one(service, "CapabilityBoundingSet").split()
    assert caps in ([], ["CAP_NET_BIND_SERVICE"])
    assert "install" not in {k.lower() for k, _ in service}


def test_box_services_belong_to_the_target() -> None:
    target = parse_unit(UNITS / "titik.target")
    wanted = " ".join(values(target["Unit"], "Wants")).split()
    for name in BOX_SERVICES:
        assert name in wanted
        unit = parse_unit(UNITS / name)
        assert one(unit["Unit"], "PartOf") == "titik.target"
        assert one(unit["Install"], "WantedBy") == "titik.target"
        assert one(unit["Service"], "EnvironmentFile") == "/etc/titik/titik.env"
    assert "titik-central.service" not in wanted  # central runs on the central server
    assert one(target["Install"], "WantedBy") == "multi-user.target"


def test_relay_waits_for_the_network_and_worker_has_none() -> None:
    relay = parse_unit(UNITS / "titik-relay.service")["Unit"]
    assert "network-online.target" in one(relay, "After").split()
    assert "network-online.target" in one(relay, "Wants").split()
    worker = parse_unit(UNITS / "titik-worker.service")["Service"]
    assert one(worker, "RestrictAddressFamilies") == "AF_UNIX"
    assert one(worker, "PrivateNetwork") == "yes"


def test_the_worker_runs_with_the_malloc_settings_the_code_names() -> None:
    from gateway.worker import MALLOC_TUNABLES

    worker = parse_unit(UNITS / "titik-worker.service")["Service"]
    assert one(worker, "Environment") == f"GLIBC_TUNABLES={MALLOC_TUNABLES}"


def test_units_invoke_commands_the_cli_has() -> None:
    """Every ExecStart/ExecStartPre names a real `titik` subcommand with real options."""
    cli = build_cli()
    problems = []
    for name in SERVICES:
        service = parse_unit(UNITS / name)["Service"]
        for line in values(service, "ExecStartPre") + values(service, "ExecStart"):
            words = shlex.split(line)[1:]
            path = [w for w in words if not w.startswith(("-", "$"))]
            options = [w for w in words if w.startswith("--")]
            result = CliRunner().invoke(cli, [*path, "--help"])
            if result.exit_code != 0:
                problems.append(f"{name}: `titik {' '.join(path)}` does not exist")
                continue
            problems += [f"{name}: `titik {' '.join(path)}` has no {o}" for o in options
                         if o not in result.output]
    assert problems == []


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    real = Path(sys.executable).with_name("titik")
    for unit in UNITS.iterdir():
        text = unit.read_text().replace(TITIK, str(real))
        (tmp_path / unit.name).write_text(text)
    units = sorted(str(p) for p in tmp_path.iterdir())
    proc = subprocess.run(
        [analyze, "verify", "--man=no", *units],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0, output
    assert output == ""


def test_verify_does_catch_mistakes(tmp_path: Path) -> None:
    """The test above means something: verify reports a misspelt hardening value."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = (UNITS / "titik-relay.service").read_text()
    text = text.replace("ProtectSystem=strict", "ProtectSystem=strickt")
    unit = tmp_path / "titik-relay.service"
    unit.write_text(text.replace(TITIK, str(Path(sys.executable).with_name("titik"))))
    proc = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, check=False
    )
    assert "protect system" in (proc.stdout + proc.stderr).lower()


# Each service's libraries, exercised with writable+executable memory refused by the
# kernel (PR_SET_MDWE), the rule MemoryDenyWriteExecute=yes sets up.
MDWE_PRELUDE = textwrap.dedent(
    """
    import ctypes, mmap
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(65, 1, 0, 0, 0) == 0, "PR_SET_MDWE failed"
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        raise SystemExit("MDWE not in force")
    except PermissionError:
        pass
    """
)

STACKS = {
    "worker": """
        from pathlib import Path
        import numpy as np, cv2
        from ai_edge_litert.interpreter import Interpreter
        import vision
        model = Path(vision.__file__).parent / "models" / "digits.tflite"
        if model.exists():
            from vision.synthetic import synthetic_photo
            reading = vision.read_form(synthetic_photo(1, seed=3, width_px=1600).jpeg)
            print("read", reading.status)
        else:
            img = (np.random.default_rng(1).random((1200, 900)) * 255).astype(np.uint8)
            ok, jpeg = cv2.imencode(".jpg", cv2.GaussianBlur(img, (5, 5), 0))
            page = cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)
            cv2.warpPerspective(page, np.eye(3), (600, 900))
            dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_APRILTAG_36h10)
            cv2.aruco.ArucoDetector(dictionary).detectMarkers(page)
            print("no model yet: opencv and LiteRT import only")
    """,
    "web": """
        import io
        import flask, PIL.Image, segno
        app = flask.Flask("probe")
        app.add_url_rule("/", "index", lambda: "ok")
        assert app.test_client().get("/").data == b"ok"
        PIL.Image.new("RGB", (64, 64)).save(io.BytesIO(), "JPEG")
        segno.make("http://10.42.0.1/").save(io.BytesIO(), kind="png")
    """,
    "relay": """
        import sqlite3, ssl
        import nacl.signing, paho.mqtt.client as mqtt
        nacl.signing.SigningKey.generate().sign(b"hasil")
        mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        ssl.create_default_context()
        sqlite3.connect(":memory:").execute("pragma journal_mode=wal")
    """,
}


@pytest.mark.slow
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_service_libraries_survive_memory_deny_write_execute(stack: str) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_MDWE is Linux only")
    code = MDWE_PRELUDE + textwrap.dedent(STACKS[stack]) + "\nprint('OK')\n"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False,
        timeout=240,
    )
    if proc.returncode != 0 and "PR_SET_MDWE failed" in proc.stderr:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"^OK$", proc.stdout, flags=re.M)
