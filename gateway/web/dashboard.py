"""What the PPK dashboard computes from the store: progress, relay link, box health."""

from __future__ import annotations

import importlib
import logging
import shutil
import time
from typing import Any

from gateway.web.state import web_state

logger = logging.getLogger(__name__)

PAGES = (1, 2, 3)
AUDIT_CHECK_S = 60.0
# A page counts as received once a photo of it has been read, whatever happens next.
RECEIVED_STATES = ("read", "needs_review", "confirmed", "reviewed")


def _page_map(entry: dict[str, Any]) -> dict[int, dict[str, Any]]:
    pages = entry.get("pages") or []
    if isinstance(pages, dict):
        return {int(k): dict(v or {}) for k, v in pages.items()}
    return {int(p["page"]): dict(p) for p in pages if p.get("page") is not None}


def overview_rows() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per TPS (pages 1..3 with state and relay state) and kecamatan totals."""
    state = web_state()
    by_tps = {str(e.get("tps")): e for e in state.store.kecamatan_overview()}
    rows = []
    received = final = 0
    for tps in state.config.tps:
        pages = _page_map(by_tps.get(tps.code, {}))
        cells = []
        for n in PAGES:
            page = pages.get(n, {})
            page_state = page.get("state") or "missing"
            is_final = page.get("final_upload_id") is not None
            received += is_final or page_state in RECEIVED_STATES
            final += is_final
            cells.append(
                {
                    "page": n,
                    "state": page_state,
                    "upload_id": page.get("upload_id"),
                    "final": is_final,
                    "relay": page.get("relay"),
                }
            )
        checks = None  # cross-page rules run once the three pages are final
        if all(c["final"] for c in cells):
            results = state.store.tps_checks(tps.code, tps.dpt)
            checks = {"failed": sum(1 for c in results if not c.get("ok")), "total": len(results)}
        rows.append({"code": tps.code, "desa": tps.desa, "number": tps.number, "pages": cells,
                     "checks": checks})
    expected = len(PAGES) * len(state.config.tps)
    totals = {
        "expected": expected,
        "received": received,
        "final": final,
        "received_pct": round(100 * received / expected) if expected else 0,
        "final_pct": round(100 * final / expected) if expected else 0,
    }
    return rows, totals


def relay_status() -> dict[str, Any] | None:
    """`sync.outbox.status` of the box database, or None before the relay exists."""
    try:
        outbox = importlib.import_module("sync.outbox")
    except ModuleNotFoundError:
        return None
    # Our own short-lived connection: the store's one is serialised by the store's lock.
    conn = outbox.connect(str(web_state().store.path))
    try:
        status: dict[str, Any] = outbox.status(conn)
    finally:
        conn.close()
    return status


def audit_check() -> tuple[bool, int]:
    """(chain intact, rows checked), recomputed at most every AUDIT_CHECK_S: the whole chain
    is hashed, and the dashboard refreshes itself on every PPK screen."""
    state = web_state()
    now = time.monotonic()
    if state.audit_cache is None or now - state.audit_cache[0] > AUDIT_CHECK_S:
        verification = state.store.verify_audit()
        state.audit_cache = (now, bool(verification.ok), int(verification.checked))
    return state.audit_cache[1], state.audit_cache[2]


def health() -> dict[str, Any]:
    state = web_state()
    usage = shutil.disk_usage(state.data_dir)
    free_mb = usage.free // (1024 * 1024)
    audit_ok, audit_checked = audit_check()
    jobs = state.store.job_counts()
    return {
        "free_mb": free_mb,
        "total_mb": usage.total // (1024 * 1024),
        "disk_low": free_mb < state.config.paths.min_free_mb,
        "audit_ok": audit_ok,
        "audit_checked": audit_checked,
        "to_read": int(jobs.get("queued", 0)) + int(jobs.get("running", 0)),
        "failed_jobs": int(jobs.get("failed", 0)),
    }


def tps_checks(code: str) -> list[dict[str, Any]] | None:
    """Cross-page checks of a TPS, or None while it does not have its three pages."""
    tps = web_state().config.tps_by_code(code)
    checks = web_state().store.tps_checks(code, tps.dpt if tps else None)
    return checks or None
