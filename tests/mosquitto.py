"""A real mosquitto broker for tests: free port, persistence off, kill -9 and restart.

    broker = MosquittoBroker(tmp_path)      # or with extra_conf / listener_conf for TLS+ACL
    broker.start()
    broker.kill()                           # SIGKILL, like a power cut
    broker.start()                          # same port again
    broker.stop()

Used as a context manager it stops the broker on exit. Other areas import it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MosquittoBroker:
    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        listener_conf: str = "allow_anonymous true\n",
        extra_conf: str = "",
        full_conf: str | None = None,
    ) -> None:
        """`listener_conf` goes under the listener (TLS, ACL, auth); `extra_conf` at the top.

        `full_conf` replaces the whole file (e.g. a production config with its listener
        moved to `port`); then persistence and logging are whatever it says.
        """
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.conf = self.dir / f"mosquitto-{self.port}.conf"
        self.log = self.dir / f"mosquitto-{self.port}.log"
        # As root mosquitto would drop to user "mosquitto", who cannot read a 0700 tmp_path.
        user = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(
            user + "persistence false\n"
            "per_listener_settings true\n"
            f"log_dest file {self.log}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            "max_queued_messages 100000\n"
            f"{extra_conf}\n"
            f"listener {self.port} 127.0.0.1\n"
            f"{listener_conf}\n"
        )
        if full_conf is not None:
            self.conf.write_text(user + full_conf)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @staticmethod
    def tls_listener(ca: Path, cert: Path, key: Path, *, acl_file: Path | None = None,
                     require_certificate: bool = True) -> str:
        """listener_conf for TLS; with client certificates the CN is the user name."""
        conf = f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        if require_certificate:
            conf += "require_certificate true\nuse_identity_as_username true\n"
        conf += "allow_anonymous false\n" if require_certificate else "allow_anonymous true\n"
        if acl_file is not None:
            conf += f"acl_file {acl_file}\n"
        return conf

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        if self.running:
            return
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.starts += 1
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log = self.log.read_text() if self.log.exists() else ""
                raise RuntimeError(f"mosquitto exited at start: {err}\n{log}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout_s} s")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, in-memory sessions and messages are gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
