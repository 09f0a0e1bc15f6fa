"""The store's link to `sync.outbox`: messages for central, in the writer's transaction.

`sync` is written by another engineer; until `sync.outbox` exists, the box keeps
working and results are only kept locally (logged once).
"""

from __future__ import annotations

import importlib
import logging
import sqlite3
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

_missing_logged = False


def outbox_module() -> ModuleType | None:
    global _missing_logged
    try:
        return importlib.import_module("sync.outbox")
    except ModuleNotFoundError as exc:
        if exc.name != "sync.outbox":
            raise
        if not _missing_logged:
            logger.warning("sync.outbox is not available: results are not queued for central")
            _missing_logged = True
        return None


def create_tables(db: Any) -> None:
    module = outbox_module()
    if module is not None:
        module.create_tables(db)


def enqueue(
    conn: sqlite3.Connection,
    *,
    box_id: str,
    kind: str,
    tps: str | None,
    page: int | None,
    payload: dict[str, Any],
    photo_sha256: str | None = None,
) -> int | None:
    """Queue one message inside the caller's open transaction; its seq, or None without sync."""
    module = outbox_module()
    if module is None:
        return None
    seq: int = module.enqueue(
        conn,
        box_id=box_id,
        kind=kind,
        tps=tps,
        page=page,
        payload=payload,
        photo_sha256=photo_sha256,
    )
    return seq


def page_states(db: Any) -> dict[tuple[str, int], str]:
    module = outbox_module()
    if module is None:
        return {}
    states: dict[tuple[str, int], str] = module.page_states(db)
    return states
