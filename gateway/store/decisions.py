"""What people decide about an upload: confirm, review, discard, enter by hand.

The machine's reading is never overwritten: a correction is its own row with who,
when and why, and the current value of a field is the last correction over the
machine value. Each decision, its audit entry and its outbox messages commit in
one transaction.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from gateway.store import uploads
from gateway.store.context import Tx
from gateway.store.db import now_iso
from gateway.store.errors import Conflict, InvalidInput, NotFound

TEMPLATE_ID = "C.HASIL-PPWP-2024"
MAX_VALUE = 99_999

# The field names of each page (DEVELOPERS.md, "Field names").
PAGE_FIELDS: dict[int, tuple[str, ...]] = {
    1: tuple(
        f"{group}_{sex}"
        for group in (
            "pemilih_dpt", "pengguna_dpt", "pengguna_dptb", "pengguna_non_dpt", "pengguna_total",
        )
        for sex in ("l", "p", "j")
    )
    + (
        "surat_suara_diterima", "surat_suara_digunakan", "surat_suara_rusak", "surat_suara_sisa",
        "pengguna_disabilitas_l", "pengguna_disabilitas_p", "pengguna_disabilitas_j",
    ),
    2: ("suara_paslon_1", "suara_paslon_2", "suara_paslon_3"),
    3: (
        "suara_sah", "suara_tidak_sah", "suara_total",
        "tanggal_hari", "tanggal_bulan", "tanggal_tahun",
    ),
}

CONFIRMABLE = (uploads.READ, uploads.NEEDS_REVIEW)
REVIEWABLE = (uploads.READ, uploads.NEEDS_REVIEW, uploads.REJECTED, uploads.CONFIRMED)


def _load(tx: Tx, upload_id: int) -> sqlite3.Row:
    found = uploads.row(tx.conn, upload_id)
    if found is None:
        raise NotFound(f"Unggahan {upload_id} tidak ada / upload {upload_id} does not exist")
    return found


def _check_page(page: Any) -> int:
    if page not in PAGE_FIELDS:
        raise InvalidInput(f"Halaman harus 1, 2 atau 3 / page must be 1, 2 or 3 (got {page!r})")
    return int(page)


def _check_values(page: int, values: dict[str, int], extra: set[str]) -> None:
    allowed = set(PAGE_FIELDS[page]) | extra
    for name, value in values.items():
        if name not in allowed:
            raise InvalidInput(
                f"Kolom {name!r} tidak ada di halaman {page} / no field {name!r} on page {page}"
            )
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VALUE:
            raise InvalidInput(
                f"Nilai {name} harus bilangan bulat 0..{MAX_VALUE} / "
                f"{name} must be a whole number 0..{MAX_VALUE} (got {value!r})"
            )


def _require_reason(reason: str | None, what: str) -> str:
    if reason is None or not reason.strip():
        raise InvalidInput(f"Alasan wajib diisi untuk {what} / a reason is required to {what}")
    return reason.strip()


def _record_corrections(
    tx: Tx, upload: sqlite3.Row, corrections: dict[str, int], *, source: str, actor: str,
    reason: str | None,
) -> list[dict[str, Any]]:
    """Store each changed field as its own row; unchanged 'corrections' are not recorded."""
    current = uploads.current_values(tx.conn, upload["id"])
    at = now_iso()
    changed = []
    for name, value in sorted(corrections.items()):
        old = current.get(name)
        if old == value and name in current:
            continue
        tx.conn.execute(
            "INSERT INTO corrections (upload_id, field, old_value, new_value, source, actor,"
            " reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (upload["id"], name, old, value, source, actor, reason, at),
        )
        changed.append({"field": name, "old": old, "new": value, "source": source,
                        "actor": actor, "at": at, "reason": reason})
    if changed:
        subject = f"upload:{upload['id']}"
        tx.audit(actor, "correction", subject, {c["field"]: c["old"] for c in changed},
                 {c["field"]: c["new"] for c in changed}, tps=upload["tps"], page=upload["page"])
        payload = {"upload_id": upload["id"], "tps": upload["tps"], "page": upload["page"],
                   "corrections": changed}
        tx.emit("correction", tps=upload["tps"], page=upload["page"], payload=payload,
                photo_sha256=upload["sha256"])
    return changed


def _final_for_page(tx: Tx, tps: str, page: int, other_than: int) -> sqlite3.Row | None:
    found: sqlite3.Row | None = tx.conn.execute(
        "SELECT * FROM uploads WHERE tps = ? AND page = ? AND state IN (?, ?) AND id != ?"
        " ORDER BY id DESC LIMIT 1",
        (tps, page, *uploads.FINAL_STATES, other_than),
    ).fetchone()
    return found


def _supersede(tx: Tx, old: sqlite3.Row, new_id: int, actor: str) -> None:
    uploads.set_state(tx.conn, old["id"], uploads.SUPERSEDED, superseded_by=new_id)
    tx.audit(actor, "supersede", f"upload:{old['id']}", {"state": old["state"]},
             {"state": uploads.SUPERSEDED, "superseded_by": new_id},
             tps=old["tps"], page=old["page"])


def _result_payload(tx: Tx, upload_id: int) -> dict[str, Any]:
    upload = uploads.row(tx.conn, upload_id)
    assert upload is not None
    values = uploads.values_with_provenance(
        uploads.reading_of(tx.conn, upload_id), uploads.corrections_of(tx.conn, upload_id)
    )
    return {
        "upload_id": upload_id,
        "tps": upload["tps"],
        "page": upload["page"],
        "template": upload["template"],
        "state": upload["state"],
        "photo_sha256": upload["sha256"],
        "values": {name: v["value"] for name, v in values.items()},
        "provenance": {name: v["source"] for name, v in values.items()},
    }


def confirm(
    tx: Tx, upload_id: int, *, actor: str, corrections: dict[str, int], reason: str | None
) -> dict[str, Any]:
    """The officer confirms what was read, correcting fields if needed.

    A page read cleanly becomes `confirmed`. A page flagged for review stays in the PPK's
    queue with the officer's confirmation and corrections attached: a person at the
    kecamatan still approves it, so a doubtful number never passes on one click.
    """
    upload = _load(tx, upload_id)
    if upload["state"] not in CONFIRMABLE:
        raise Conflict(
            f"Unggahan {upload_id} berstatus {upload['state']} dan tidak dapat dikonfirmasi / "
            f"upload {upload_id} is {upload['state']} and cannot be confirmed"
        )
    page = _check_page(upload["page"])
    reading_fields = set((uploads.reading_of(tx.conn, upload_id) or {}).get("fields") or {})
    _check_values(page, corrections, reading_fields)
    old_final = _final_for_page(tx, upload["tps"], page, upload_id)
    if upload["state"] == uploads.READ and old_final is not None and not upload["replace"]:
        raise Conflict(
            f"Halaman {page} TPS {upload['tps']} sudah dikonfirmasi (unggahan {old_final['id']});"
            " kirim ulang dengan pilihan 'ganti' / page already confirmed; upload again with"
            " replace to change it"
        )
    changed = _record_corrections(tx, upload, corrections, source="kpps", actor=actor,
                                  reason=reason)
    at = now_iso()
    if upload["state"] == uploads.READ:
        if old_final is not None:
            _supersede(tx, old_final, upload_id, actor)
        uploads.set_state(tx.conn, upload_id, uploads.CONFIRMED, officer_confirmed_by=actor,
                          officer_confirmed_at=at)
    else:
        uploads.set_state(tx.conn, upload_id, uploads.NEEDS_REVIEW, officer_confirmed_by=actor,
                          officer_confirmed_at=at)
    payload = _result_payload(tx, upload_id)
    payload.update(actor=actor, at=at, reason=reason, corrected=[c["field"] for c in changed],
                   supersedes=old_final["id"] if old_final is not None and
                   upload["state"] == uploads.READ else None)
    tx.audit(actor, "confirm", f"upload:{upload_id}", {"state": upload["state"]},
             {"state": payload["state"], "values": payload["values"]}, tps=upload["tps"], page=page)
    tx.emit("confirmation", tps=upload["tps"], page=page, payload=payload,
            photo_sha256=upload["sha256"])
    return payload


def review(
    tx: Tx, upload_id: int, *, actor: str, approve: bool, corrections: dict[str, int], reason: str
) -> dict[str, Any]:
    """The PPK approves (with corrections) or sets aside an upload; a reason is required."""
    upload = _load(tx, upload_id)
    reason = _require_reason(reason, "meninjau / review")
    if upload["state"] not in REVIEWABLE:
        raise Conflict(
            f"Unggahan {upload_id} berstatus {upload['state']} dan tidak dapat ditinjau / "
            f"upload {upload_id} is {upload['state']} and cannot be reviewed"
        )
    at = now_iso()
    old_final = None
    if approve:
        page = _check_page(upload["page"])
        reading_fields = set((uploads.reading_of(tx.conn, upload_id) or {}).get("fields") or {})
        _check_values(page, corrections, reading_fields)
        _record_corrections(tx, upload, corrections, source="ppk", actor=actor, reason=reason)
        old_final = _final_for_page(tx, upload["tps"], page, upload_id)
        if old_final is not None:
            _supersede(tx, old_final, upload_id, actor)
        uploads.set_state(tx.conn, upload_id, uploads.REVIEWED, decided_by=actor, decided_at=at,
                          decision_reason=reason)
    else:
        if corrections:
            raise InvalidInput("Koreksi hanya untuk persetujuan / corrections need approve")
        uploads.set_state(tx.conn, upload_id, uploads.DISCARDED, decided_by=actor,
                          decided_at=at, decision_reason=reason)
    payload = _result_payload(tx, upload_id)
    payload.update(actor=actor, at=at, reason=reason, approve=approve, manual=False,
                   supersedes=old_final["id"] if old_final is not None else None)
    tx.audit(actor, "review", f"upload:{upload_id}", {"state": upload["state"]},
             {"state": payload["state"], "approve": approve, "values": payload["values"]},
             tps=upload["tps"], page=upload["page"])
    tx.emit("review", tps=upload["tps"], page=upload["page"], payload=payload,
            photo_sha256=upload["sha256"])
    return payload


def discard(tx: Tx, upload_id: int, *, actor: str, reason: str) -> None:
    """Set an upload aside; it is kept, with who and why."""
    upload = _load(tx, upload_id)
    reason = _require_reason(reason, "menyisihkan / discard")
    if upload["state"] in (uploads.DISCARDED, uploads.SUPERSEDED):
        raise Conflict(
            f"Unggahan {upload_id} sudah {upload['state']} / upload {upload_id} is already "
            f"{upload['state']}"
        )
    uploads.set_state(tx.conn, upload_id, uploads.DISCARDED, decided_by=actor,
                      decided_at=now_iso(), decision_reason=reason)
    tx.audit(actor, "discard", f"upload:{upload_id}", {"state": upload["state"]},
             {"state": uploads.DISCARDED, "reason": reason}, tps=upload["tps"],
             page=upload["page"])


def manual_entry(
    tx: Tx, *, tps: str, page: int, values: dict[str, int], actor: str, reason: str,
    upload_id: int | None,
) -> dict[str, Any]:
    """The PPK types a page's values (photo unreadable, or no photo at all)."""
    page = _check_page(page)
    reason = _require_reason(reason, "entri manual / manual entry")
    _check_values(page, values, set())
    at = now_iso()
    if upload_id is None:
        cur = tx.conn.execute(
            "INSERT INTO uploads (sha256, tps, source, actor, received_at, updated_at, state,"
            " page, template, status) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            (tps, uploads.MANUAL, actor, at, at, uploads.REVIEWED, page, TEMPLATE_ID),
        )
        upload_id = int(cur.lastrowid or 0)
        before_state = None
    else:
        existing = _load(tx, upload_id)
        if existing["tps"] != tps:
            raise InvalidInput(
                f"Unggahan {upload_id} milik TPS {existing['tps']}, bukan {tps} / "
                f"upload {upload_id} belongs to TPS {existing['tps']}"
            )
        if existing["state"] in (uploads.DISCARDED, uploads.SUPERSEDED):
            raise Conflict(f"Unggahan {upload_id} sudah {existing['state']} / upload is "
                           f"{existing['state']}")
        before_state = existing["state"]
        uploads.set_state(tx.conn, upload_id, before_state, page=page, template=TEMPLATE_ID)
    upload = _load(tx, upload_id)
    _record_corrections(tx, upload, values, source=uploads.MANUAL, actor=actor, reason=reason)
    old_final = _final_for_page(tx, tps, page, upload_id)
    if old_final is not None:
        _supersede(tx, old_final, upload_id, actor)
    uploads.set_state(tx.conn, upload_id, uploads.REVIEWED, decided_by=actor, decided_at=at,
                      decision_reason=reason)
    payload = _result_payload(tx, upload_id)
    payload.update(actor=actor, at=at, reason=reason, approve=True, manual=True,
                   supersedes=old_final["id"] if old_final is not None else None)
    tx.audit(actor, "manual_entry", f"upload:{upload_id}", {"state": before_state},
             {"state": uploads.REVIEWED, "values": payload["values"]}, tps=tps, page=page)
    tx.emit("review", tps=tps, page=page, payload=payload, photo_sha256=upload["sha256"])
    return payload
