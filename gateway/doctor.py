"""`titik doctor`: is this box ready for election day? Each check is a plain function.

A check returns `Finding`s; nothing here prints or exits. Statuses: `ok`, `info`
(worth knowing, not a problem), `warn` (fix it before election day) and `fail` (the box
cannot do its job). The CLI exits 0, 1 (warnings) or 2 (failures).
"""

from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import logging
import os
import pwd
import shutil
import socket
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from gateway.config import BoxConfig, ConfigError, load_box_config
from sync.settings import TLSSettings

logger = logging.getLogger(__name__)

Status = Literal["ok", "info", "warn", "fail"]

CERT_WARN_DAYS = 14
# A Pi has no real-time clock: before NTP it may boot in 1970 or at its last shutdown.
EARLIEST_PLAUSIBLE_YEAR = 2024
# Files written a moment ago (the WAL) may be slightly ahead of a clock just corrected.
CLOCK_SLACK = timedelta(minutes=5)
MAX_FILES_SCANNED = 200_000
SERVICE_USER = "titik"


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    message: str
    fix: str = ""


@dataclass
class DoctorReport:
    config_path: Path
    box_id: str | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        statuses = {f.status for f in self.findings}
        return 2 if "fail" in statuses else 1 if "warn" in statuses else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": str(self.config_path),
            "box_id": self.box_id,
            "ok": self.exit_code == 0,
            "exit_code": self.exit_code,
            "findings": [asdict(f) for f in self.findings],
        }


def default_model_path() -> Path:
    """vision/models/digits.tflite of the installed vision package (not imported)."""
    spec = importlib.util.find_spec("vision")
    assert spec is not None and spec.submodule_search_locations is not None
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "digits.tflite"


def check_disk(data_dir: Path, min_free_mb: int) -> Finding:
    probe = data_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free_mb = shutil.disk_usage(probe).free // (1024 * 1024)
    where = str(data_dir)
    if probe != data_dir:
        where += f" (belum ada / not created yet; {probe})"
    if free_mb < min_free_mb:
        return Finding(
            "disk",
            "warn",
            f"sisa disk {free_mb} MB di {where}, kurang dari {min_free_mb} MB "
            f"(free disk {free_mb} MB, below paths.min_free_mb)",
            "kosongkan ruang atau pakai kartu/disk lebih besar; foto tidak pernah dihapus otomatis "
            "(free space or use a larger card; photos are never deleted automatically)",
        )
    return Finding("disk", "ok", f"sisa disk / free disk {free_mb} MB di {where}")


def _files(root: Path) -> Iterator[os.DirEntry[str]]:
    stack, seen = [root], 0
    while stack and seen < MAX_FILES_SCANNED:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    seen += 1
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        yield entry
        except OSError:
            continue  # unreadable sub-folder: the other checks report permissions


def newest_file(data_dir: Path) -> tuple[Path, datetime] | None:
    newest: tuple[float, str] | None = None
    for entry in _files(data_dir) if data_dir.is_dir() else iter(()):
        mtime = entry.stat(follow_symlinks=False).st_mtime
        if newest is None or mtime > newest[0]:
            newest = (mtime, entry.path)
    if newest is None:
        return None
    return Path(newest[1]), datetime.fromtimestamp(newest[0], UTC)


def check_clock(data_dir: Path, now: datetime | None = None) -> Finding:
    now = now or datetime.now(UTC)
    fix = (
        "sambungkan backhaul agar NTP menyetel jam, atau setel manual: "
        "`timedatectl set-time 'YYYY-MM-DD HH:MM'` (connect the backhaul for NTP or set it by hand)"
    )
    if now.year < EARLIEST_PLAUSIBLE_YEAR:
        return Finding(
            "clock", "fail", f"jam box salah / the clock is wrong: {now:%Y-%m-%d %H:%M} UTC", fix
        )
    newest = newest_file(data_dir)
    if newest is not None and newest[1] > now + CLOCK_SLACK:
        path, when = newest
        return Finding(
            "clock",
            "fail",
            f"jam box tertinggal / the clock is behind: {now:%Y-%m-%d %H:%M} UTC, but {path} "
            f"was written at {when:%Y-%m-%d %H:%M} UTC",
            fix,
        )
    return Finding("clock", "ok", f"jam / clock {now:%Y-%m-%d %H:%M:%S} UTC")


def _load_certificates(path: Path) -> list[Any]:
    from cryptography import x509

    return list(x509.load_pem_x509_certificates(path.read_bytes()))


def check_certificate_file(
    label: str, path: Path, now: datetime, warn_days: int = CERT_WARN_DAYS
) -> Finding:
    name = f"cert:{label}"
    if not path.is_file():
        return Finding(name, "fail", f"{path}: berkas tidak ada / no such file",
                       f"salin sertifikat ke {path} (copy the certificate there)")
    try:
        certs = _load_certificates(path)
    except ValueError as exc:
        return Finding(name, "fail", f"{path}: bukan sertifikat PEM / not a PEM certificate: {exc}",
                       "ganti dengan sertifikat PEM yang benar (replace with a valid PEM file)")
    soonest = min(certs, key=lambda c: c.not_valid_after_utc)
    until = soonest.not_valid_after_utc
    subject = soonest.subject.rfc4514_string()
    renew = f"perbarui sertifikat {path} (renew the certificate)"
    if any(c.not_valid_before_utc > now for c in certs):
        return Finding(name, "fail", f"{path}: belum berlaku / not valid yet ({subject}); "
                       "periksa juga jam box (check the box clock too)", renew)
    if until <= now:
        return Finding(name, "fail", f"{path}: kedaluwarsa / expired {until:%Y-%m-%d} ({subject})",
                       renew)
    days = (until - now).days
    if until - now < timedelta(days=warn_days):
        return Finding(name, "warn", f"{path}: kedaluwarsa dalam {days} hari / expires in {days} "
                       f"days, {until:%Y-%m-%d} ({subject})", renew)
    return Finding(name, "ok", f"{path}: berlaku sampai / valid until {until:%Y-%m-%d} ({subject})")


def _private_file(label: str, path: Path) -> Finding | None:
    """A secret file must be readable by its owner only, and by the service user."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Finding(label, "fail", f"{path}: izin {mode:o} terlalu longgar / readable by others",
                       f"chmod 600 {path}")
    try:
        service_uid = pwd.getpwnam(SERVICE_USER).pw_uid
    except KeyError:
        return None  # a developer machine: no service user to compare with
    if path.stat().st_uid != service_uid:
        return Finding(label, "warn", f"{path}: bukan milik / not owned by {SERVICE_USER}; "
                       "layanan tidak bisa membacanya (the service cannot read it)",
                       f"chown {SERVICE_USER}:{SERVICE_USER} {path}")
    return None


def check_tls(tls: TLSSettings | None, host: str, now: datetime) -> list[Finding]:
    if tls is None:
        if _is_loopback(host):
            return [Finding("cert", "info", "broker lokal tanpa TLS / local broker, plain TCP")]
        return [Finding("cert", "warn", f"broker {host} tanpa TLS / no TLS to a remote broker",
                        "isi [relay.broker.tls] dengan ca_file (add relay.broker.tls.ca_file)")]
    findings = [check_certificate_file("ca_file", tls.ca_file, now)]
    if tls.cert_file is not None:
        findings.append(check_certificate_file("cert_file", tls.cert_file, now))
    if tls.key_file is not None:
        if not tls.key_file.is_file():
            findings.append(Finding("cert:key_file", "fail", f"{tls.key_file}: tidak ada / missing",
                                    "salin kunci klien (copy the client key there)"))
        else:
            findings.append(_private_file("cert:key_file", tls.key_file)
                            or Finding("cert:key_file", "ok", f"{tls.key_file}: ada, izin 600"))
    return findings


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_broker(host: str, port: int, timeout_s: float = 3.0) -> Finding:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        return Finding(
            "broker",
            "warn",
            f"broker {host}:{port} tidak terjangkau / unreachable: {exc}; hasil tetap disimpan "
            "dan dikirim saat jalur kembali (results are kept and sent when the link returns)",
            "periksa backhaul (modem, kabel, APN) dan relay.broker.host/port",
        )
    return Finding("broker", "ok", f"broker {host}:{port} terjangkau / reachable (TCP)")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_model(model_path: Path) -> Finding:
    if not model_path.is_file():
        return Finding("model", "fail",
                       f"{model_path}: model angka tidak ada / digit model missing",
                       "jalankan `make model` atau pasang ulang paket (run `make model`)")
    actual = _sha256(model_path)
    expected_file = model_path.with_suffix(".sha256")
    if not expected_file.is_file():
        return Finding("model", "info",
                       f"{model_path}: sha256 {actual} (tanpa {expected_file.name} "
                       "untuk dibandingkan / nothing to compare with)")
    words = expected_file.read_text().split()
    expected = words[0].lower() if words else "(empty)"
    if expected != actual:
        return Finding("model", "fail",
                       f"{model_path}: sha256 {actual} berbeda dari / differs from "
                       f"{expected} ({expected_file.name})",
                       "pasang ulang model yang benar (reinstall the released model)")
    return Finding("model", "ok", f"{model_path}: sha256 cocok / matches {actual[:16]}...")


def check_signing_key(path: Path) -> Finding:
    from sync.signing import KeyFileError, load_signing_key, load_verify_key

    if not path.is_file():
        return Finding("signing_key", "fail",
                       f"{path}: kunci tanda tangan tidak ada / no signing key",
                       "buat dengan `titik keys generate` (make one), lalu daftarkan .pub di pusat")
    problem = _private_file("signing_key", path)
    if problem is not None:
        return problem
    try:
        key = load_signing_key(path)
        public = path.with_suffix(".pub")
        if public.is_file() and load_verify_key(public) != key.verify_key:
            return Finding("signing_key", "fail",
                           f"{public} bukan pasangan / does not match {path}",
                           "salin ulang pasangan kunci yang benar (restore the matching pair)")
    except KeyFileError as exc:
        return Finding("signing_key", "fail", str(exc), "buat ulang dengan `titik keys generate`")
    return Finding("signing_key", "ok", f"{path}: ada, izin 600 / present, mode 600")


def run_doctor(
    config_path: Path,
    data_dir: Path | None = None,
    *,
    model_path: Path | None = None,
    now: datetime | None = None,
    broker_timeout_s: float = 3.0,
) -> DoctorReport:
    """Every check, in the order an operator fixes things."""
    try:
        config: BoxConfig = load_box_config(config_path)
    except ConfigError as exc:
        report = DoctorReport(config_path, None)
        report.findings.append(Finding("config", "fail", str(exc),
                                       "perbaiki box.toml; `titik config check` mengulang cek ini"))
        return report
    report = DoctorReport(config_path, config.box.id)
    report.findings.append(Finding("config", "ok", f"{config_path}: valid ({len(config.tps)} TPS)"))
    data = (data_dir or config.paths.data_dir).resolve()
    now = now or datetime.now(UTC)
    broker = config.relay.broker
    report.findings += [
        check_disk(data, config.paths.min_free_mb),
        check_clock(data, now),
        *check_tls(broker.tls, broker.host, now),
        check_broker(broker.host, broker.port, broker_timeout_s),
        check_model(model_path or default_model_path()),
        check_signing_key(config.relay.signing_key_file),
    ]
    for f in report.findings:
        logger.debug("doctor %s %s: %s", f.check, f.status, f.message)
    return report
