"""A TPS's pages checked together on the box (`vision.tps_vouching`).

Page 2 has no sum of its own; page 3's `suara_sah` is its sum. When a page read alone went to
the PPK only because nothing on it could check a doubted field, and the cross-page rules
vouch for every such field once the other pages are in, the page goes back to its officer
as read, to confirm like any other. The machine's reading stays as it was in `readings`; the
vouching is its own row here, and `uploads.reading_of` lays it over the reading.

The other pages count as they stand: a person's values (confirmed or reviewed) as sure; a
page only read, as the machine read it alone (never with an earlier vouching laid over it,
so one sum is not made to vouch twice). It runs after every change to a TPS's pages. A page
read but not yet confirmed goes to the PPK when its TPS's pages disagree (a cross-page rule
fails on one of its fields: page 2 read 31 surely where page 3's `suara_sah` says 131), or
when the vouching it stood on loses its support (a page replaced, a value corrected); it comes
back when the rules hold again. A page its officer has already confirmed or corrected is a
person's matter and is left alone.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING, Any

from gateway.store import uploads
from gateway.store.context import Tx
from gateway.store.db import dumps, loads, now_iso
from vision.reading import FieldReading, Reading

if TYPE_CHECKING:
    from vision.tps_vouching import TpsReading

logger = logging.getLogger(__name__)

ACTOR = "lintas-halaman"
# The upload that stands for a page: the latest in one of these states.
CURRENT_STATES = (uploads.READ, uploads.NEEDS_REVIEW, uploads.CONFIRMED, uploads.REVIEWED)
REASON_WITHDRAWN = "aturan lintas halaman tidak lagi menguatkan halaman ini"


def vouch(tx: Tx, tps: str, dpt: int | None) -> list[int]:
    """Vouch for, hold, withdraw from or release the pages of `tps` not yet confirmed, as the
    cross-page rules now say (one page alone meets the DPT's bounds); the uploads whose state
    changed."""
    current = _current_uploads(tx.conn, tps)
    if not current:
        return []
    # Loaded on first use: the rules are not needed to open the store.
    from vision.tps_vouching import vouch_tps

    result = vouch_tps({page: _as_read(tx.conn, row) for page, row in current.items()}, dpt=dpt)
    changed = []
    for page, row in current.items():
        accepted = result.pages[page].status == "accepted"
        if row["state"] == uploads.NEEDS_REVIEW and accepted and _untouched(tx.conn, row):
            _grant(tx, row, page, result, current)
            changed.append(int(row["id"]))
        elif row["state"] == uploads.READ and not accepted:
            in_force = uploads.cross_page_of(tx.conn, row["id"]) is not None
            _hold(tx, row, result.pages[page].reasons, withdraw=in_force)
            changed.append(int(row["id"]))
    return changed


def _current_uploads(conn: sqlite3.Connection, tps: str) -> dict[int, sqlite3.Row]:
    marks = ", ".join("?" for _ in CURRENT_STATES)
    out: dict[int, sqlite3.Row] = {}
    for row in conn.execute(
        f"SELECT * FROM uploads WHERE tps = ? AND page IS NOT NULL AND state IN ({marks})"
        " ORDER BY id", (tps, *CURRENT_STATES),
    ):
        out[int(row["page"])] = row  # the latest wins
    return out


def _as_read(conn: sqlite3.Connection, row: sqlite3.Row) -> Reading:
    """A page as the cross-page rules take it: a person's values as sure, else the machine's
    reading of the page alone."""
    machine = uploads.machine_reading_of(conn, row["id"]) or {"status": "rejected"}
    reading = Reading.from_dict(machine)
    if row["state"] not in uploads.FINAL_STATES:
        return reading
    values = uploads.current_values(conn, row["id"])
    fields = {
        name: FieldReading(value=value, text="" if value is None else str(value),
                           confidence=1.0, flagged=False, reason="disahkan petugas")
        for name, value in values.items()
    }
    return Reading(template=reading.template, page=int(row["page"]), status="accepted",
                   fields=fields)


def _untouched(conn: sqlite3.Connection, row: sqlite3.Row) -> bool:
    """No person has acted on the page yet: no confirmation, no correction."""
    if row["officer_confirmed_by"] is not None:
        return False
    found = conn.execute("SELECT 1 FROM corrections WHERE upload_id = ?", (row["id"],))
    return found.fetchone() is None


def _grant(tx: Tx, row: sqlite3.Row, page: int, result: TpsReading,
           current: dict[int, sqlite3.Row]) -> None:
    after = result.pages[page]
    vouched = {n: rules for n, rules in result.vouched.items() if n in after.fields}
    partners = {str(p): int(r["id"]) for p, r in current.items() if p != page}
    tx.conn.execute(
        "INSERT INTO cross_page (upload_id, at, vouched, fields, checks, partners)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (row["id"], now_iso(), dumps(vouched),
         dumps({n: after.fields[n].to_dict() for n in vouched}),
         dumps([c.to_dict() for c in result.checks]), dumps(partners)),
    )
    uploads.set_state(tx.conn, row["id"], uploads.READ, status="accepted", reasons=[])
    logger.info("upload %s: the cross-page rules vouch for %s", row["id"],
                ", ".join(vouched) or "the page again")
    # A page held for a failing cross-page rule is released when the rules hold again.
    action = "cross_page_vouch" if vouched else "cross_page_release"
    tx.audit(ACTOR, action, f"upload:{row['id']}",
             {"state": row["state"], "reasons": loads(row["reasons"]) or []},
             {"state": uploads.READ, "vouched": vouched, "partners": partners},
             tps=row["tps"], page=page)
    _emit(tx, row, uploads.READ, "accepted")


def _hold(tx: Tx, row: sqlite3.Row, reasons: list[str], *, withdraw: bool) -> None:
    """A page read (or vouched for) whose TPS's pages now disagree, or whose vouching lost its
    support, goes to the PPK before its officer confirms it."""
    if withdraw:
        tx.conn.execute(
            "UPDATE cross_page SET withdrawn_at = ? WHERE upload_id = ? AND withdrawn_at IS NULL",
            (now_iso(), row["id"]),
        )
        reasons = [REASON_WITHDRAWN, *reasons]
    uploads.set_state(tx.conn, row["id"], uploads.NEEDS_REVIEW, status="needs_review",
                      reasons=reasons)
    logger.info("upload %s: held for the PPK by the cross-page rules", row["id"])
    tx.audit(ACTOR, "cross_page_withdraw" if withdraw else "cross_page_hold",
             f"upload:{row['id']}", {"state": row["state"]},
             {"state": uploads.NEEDS_REVIEW, "reasons": reasons}, tps=row["tps"],
             page=row["page"])
    _emit(tx, row, uploads.NEEDS_REVIEW, "needs_review")


def _emit(tx: Tx, row: sqlite3.Row, state: str, status: str) -> None:
    """Central hears of the page's new state as of a new reading of it."""
    reading: dict[str, Any] = uploads.reading_of(tx.conn, row["id"]) or {}
    payload = {
        "upload_id": row["id"], "tps": row["tps"], "page": row["page"],
        "template": row["template"], "status": status, "state": state,
        "photo_sha256": row["sha256"], "reading": reading,
    }
    tx.emit("reading", tps=row["tps"], page=row["page"], payload=payload,
            photo_sha256=row["sha256"])
