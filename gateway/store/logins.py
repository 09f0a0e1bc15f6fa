"""Sign-in attempts, kept in the database so a lockout survives a restart."""

from __future__ import annotations

import sqlite3
import time

from gateway.store.context import Tx

MAX_FAILURES = 5
LOCKOUT_S = 300.0


def record(tx: Tx, login: str, ok: bool, ip: str | None) -> None:
    tx.conn.execute(
        "INSERT INTO logins (login, ok, ip, at) VALUES (?, ?, ?, ?)",
        (login, int(ok), ip, time.time()),
    )
    tx.audit(login, "login" if ok else "login_failed", f"account:{login}", None, {"ip": ip})


def locked_for(conn: sqlite3.Connection, login: str) -> float:
    """Seconds until `login` may try again: MAX_FAILURES failures in a row lock it for a while."""
    recent = conn.execute(
        "SELECT ok, at FROM logins WHERE login = ? ORDER BY id DESC LIMIT ?",
        (login, MAX_FAILURES),
    ).fetchall()
    if len(recent) < MAX_FAILURES or any(r["ok"] for r in recent):
        return 0.0
    remaining = LOCKOUT_S - (time.time() - float(recent[0]["at"]))
    return max(0.0, remaining)
