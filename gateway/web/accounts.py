"""Accounts: the box configuration's list, plus what the admin changed on the box.

The configuration file is the provisioning source and is never rewritten by the web
app. The admin can reset a PIN and lock or unlock an account; those changes live in
`<data_dir>/accounts-state.json` (written atomically, 0600) and win over the file.
Each change bumps the account's `version`, which signs out its open sessions.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from gateway.config import BoxConfig

logger = logging.getLogger(__name__)

STATE_FILE = "accounts-state.json"
MIN_PIN_LEN = 6
# Compared against when the login is unknown, so a wrong login costs as much as a wrong PIN.
_DUMMY_HASH = generate_password_hash("titik-no-such-account")


@dataclass(frozen=True)
class Account:
    login: str
    role: str
    name: str
    tps: str | None
    pin_hash: str
    locked: bool
    version: int


class AccountError(Exception):
    """An account change that cannot be made; `key` is the i18n message."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class Accounts:
    def __init__(self, config: BoxConfig, data_dir: Path) -> None:
        self._config = config
        self._path = data_dir / STATE_FILE
        self._lock = threading.Lock()
        self._state: dict[str, dict[str, Any]] = self._read()

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self._path.exists():
            return {}
        data = json.loads(self._path.read_text(encoding="utf-8"))
        return {str(k): dict(v) for k, v in data.items()}

    def _write(self) -> None:
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self._state, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._path)

    def get(self, login: str) -> Account | None:
        base = self._config.account(login)
        if base is None:
            return None
        over = self._state.get(login, {})
        return Account(
            login=base.login,
            role=base.role,
            name=base.name,
            tps=base.tps,
            pin_hash=str(over.get("pin_hash", base.pin_hash)),
            locked=bool(over.get("locked", False)),
            version=int(over.get("version", 0)),
        )

    def all(self) -> list[Account]:
        return [a for a in (self.get(c.login) for c in self._config.accounts) if a is not None]

    def verify(self, login: str, pin: str) -> Account | None:
        """The account when `pin` is right (locked or not: the caller decides); else None."""
        account = self.get(login)
        if account is None:
            check_password_hash(_DUMMY_HASH, pin)
            return None
        return account if check_password_hash(account.pin_hash, pin) else None

    def _change(self, login: str, **changes: Any) -> Account:
        if self._config.account(login) is None:
            raise AccountError("err_no_account")
        with self._lock:
            entry = self._state.setdefault(login, {})
            entry.update(changes)
            entry["version"] = int(entry.get("version", 0)) + 1
            self._write()
        account = self.get(login)
        assert account is not None
        return account

    def reset_pin(self, login: str, new_pin: str) -> Account:
        if len(new_pin) < MIN_PIN_LEN:
            raise AccountError("err_pin_short")
        logger.info("PIN reset for account %s", login)
        return self._change(login, pin_hash=generate_password_hash(new_pin))

    def set_locked(self, login: str, locked: bool) -> Account:
        logger.info("account %s %s", login, "locked" if locked else "unlocked")
        return self._change(login, locked=locked)

