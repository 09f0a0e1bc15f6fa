"""Read-only views for the officer's and the PPK's pages and for export."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from gateway.store import uploads

PAGES = (1, 2, 3)
# States that still count as "the latest upload of this page" for the officer.
LIVE_STATES = (
    uploads.QUEUED, uploads.PROCESSING, uploads.READ, uploads.NEEDS_REVIEW, uploads.REJECTED,
    uploads.CONFIRMED, uploads.REVIEWED,
)


def _one(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> sqlite3.Row | None:
    found: sqlite3.Row | None = conn.execute(sql, params).fetchone()
    return found


def final_upload(conn: sqlite3.Connection, tps: str, page: int) -> sqlite3.Row | None:
    return _one(
        conn,
        "SELECT * FROM uploads WHERE tps = ? AND page = ? AND state IN (?, ?)"
        " ORDER BY id DESC LIMIT 1",
        (tps, page, *uploads.FINAL_STATES),
    )


def page_states(
    conn: sqlite3.Connection, tps: str, relay: dict[tuple[str, int], str]
) -> list[dict[str, Any]]:
    """Pages 1..3 of one TPS: its latest live upload, the final one, and the relay state."""
    marks = ", ".join("?" for _ in LIVE_STATES)
    out = []
    for page in PAGES:
        latest = _one(
            conn,
            f"SELECT id, state FROM uploads WHERE tps = ? AND page = ? AND state IN ({marks})"
            " ORDER BY id DESC LIMIT 1",
            (tps, page, *LIVE_STATES),
        )
        final = final_upload(conn, tps, page)
        out.append({
            "page": page,
            "upload_id": latest["id"] if latest else None,
            "state": latest["state"] if latest else "missing",
            "final_upload_id": final["id"] if final else None,
            "final_state": final["state"] if final else None,
            "relay": relay.get((tps, page)),
        })
    return out


def unplaced_count(conn: sqlite3.Connection, tps: str) -> int:
    """Uploads of a TPS with no page yet (queued, processing, unreadable)."""
    found = _one(
        conn,
        "SELECT COUNT(*) AS n FROM uploads WHERE tps = ? AND page IS NULL"
        " AND state IN (?, ?, ?, ?)",
        (tps, uploads.QUEUED, uploads.PROCESSING, uploads.NEEDS_REVIEW, uploads.REJECTED),
    )
    return int(found["n"]) if found else 0


def overview(
    conn: sqlite3.Connection, tps_codes: list[str], relay: dict[tuple[str, int], str]
) -> list[dict[str, Any]]:
    """Per TPS: each page's state, pages received (final) out of three, what needs a person."""
    known = list(tps_codes)
    for r in conn.execute("SELECT DISTINCT tps FROM uploads ORDER BY tps"):
        if r["tps"] not in known:
            known.append(r["tps"])
    out = []
    for tps in known:
        pages = page_states(conn, tps, relay)
        counts = {
            r["state"]: r["n"]
            for r in conn.execute(
                "SELECT state, COUNT(*) AS n FROM uploads WHERE tps = ? GROUP BY state", (tps,)
            )
        }
        out.append({
            "tps": tps,
            "pages": pages,
            "expected": len(PAGES),
            "received": sum(1 for p in pages if p["final_upload_id"] is not None),
            "uploads": sum(counts.values()),
            "needs_review": counts.get(uploads.NEEDS_REVIEW, 0),
            "rejected": counts.get(uploads.REJECTED, 0),
            "unplaced": unplaced_count(conn, tps),
        })
    return out


def listing(
    conn: sqlite3.Connection, data_dir: Path, where: str, params: tuple[Any, ...],
    order: str = "id",
) -> list[dict[str, Any]]:
    return [
        uploads.describe(conn, data_dir, r)
        for r in conn.execute(f"SELECT * FROM uploads WHERE {where} ORDER BY {order}", params)
    ]


def export_results(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """One row per TPS page that has a confirmed/reviewed upload: final values and provenance."""
    out = []
    rows = conn.execute(
        "SELECT DISTINCT tps, page FROM uploads WHERE state IN (?, ?) ORDER BY tps, page",
        uploads.FINAL_STATES,
    ).fetchall()
    for key in rows:
        final = final_upload(conn, key["tps"], key["page"])
        assert final is not None
        values = uploads.values_with_provenance(
            uploads.reading_of(conn, final["id"]), uploads.corrections_of(conn, final["id"])
        )
        out.append({
            "tps": final["tps"],
            "page": final["page"],
            "template": final["template"],
            "upload_id": final["id"],
            "state": final["state"],
            "photo_sha256": final["sha256"],
            "source": final["source"],
            "confirmed_by": final["officer_confirmed_by"],
            "confirmed_at": final["officer_confirmed_at"],
            "decided_by": final["decided_by"],
            "decided_at": final["decided_at"],
            "decision_reason": final["decision_reason"],
            "values": {name: v["value"] for name, v in values.items()},
            "provenance": {
                name: {"source": v["source"], "actor": v["actor"], "at": v["at"],
                       "note": v["note"], "machine": v["machine"]}
                for name, v in values.items()
            },
        })
    return out


def final_values(conn: sqlite3.Connection, tps: str) -> dict[int, dict[str, int | None]]:
    """The final values of each page of a TPS that has one."""
    out: dict[int, dict[str, int | None]] = {}
    for page in PAGES:
        final = final_upload(conn, tps, page)
        if final is not None:
            out[page] = uploads.current_values(conn, final["id"])
    return out
