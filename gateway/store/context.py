"""What every write needs: the open transaction, the box id, audit and outbox in one place."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.store import audit
from sync import outbox


@dataclass
class Tx:
    """One open `BEGIN IMMEDIATE` transaction of the store."""

    conn: sqlite3.Connection
    box_id: str
    data_dir: Path

    def audit(
        self,
        actor: str,
        action: str,
        subject: str,
        before: Any = None,
        after: Any = None,
        *,
        tps: str | None = None,
        page: int | None = None,
    ) -> int:
        return audit.append(
            self.conn,
            box_id=self.box_id,
            actor=actor,
            action=action,
            subject=subject,
            before=before,
            after=after,
            tps=tps,
            page=page,
        )

    def emit(
        self,
        kind: str,
        *,
        tps: str | None,
        page: int | None,
        payload: dict[str, Any],
        photo_sha256: str | None = None,
    ) -> int:
        return outbox.enqueue(
            self.conn,
            box_id=self.box_id,
            kind=kind,
            tps=tps,
            page=page,
            payload=payload,
            photo_sha256=photo_sha256,
        )
