"""Helpers the KPPS, PPK and API views share: access to uploads, form values, page views."""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from flask import abort

from gateway.web.accounts import Account
from gateway.web.labels import FIELD_RE, PAGE_FIELDS, field_label
from gateway.web.state import web_state

logger = logging.getLogger(__name__)

MAX_VALUE = 9999  # the year box has four digits
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
VIEW_MARGIN_MM = 15.0
WAITING_STATES = ("queued", "processing")


def can_see_tps(user: Account, tps: str) -> bool:
    return user.role != "kpps" or user.tps == tps


def upload_for(user: Account, upload_id: int) -> dict[str, Any]:
    """The upload when `user` may see it; 404 otherwise (a KPPS does not learn that another
    TPS's upload exists)."""
    upload = web_state().store.get_upload(upload_id)
    if upload is None or not can_see_tps(user, str(upload.get("tps"))):
        abort(404)
    return upload


def reading_of(upload: dict[str, Any]) -> dict[str, Any]:
    reading = upload.get("reading")
    return reading if isinstance(reading, dict) else {}


def field_rows(upload: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per field for the result table: label, what was read, current value, flag."""
    reading = reading_of(upload)
    fields: dict[str, Any] = reading.get("fields") or {}
    values: dict[str, Any] = upload.get("values") or {}
    page = upload.get("page") or reading.get("page")
    names = list(PAGE_FIELDS.get(int(page), [])) if page else []
    names += [n for n in fields if n not in names]
    names += [n for n in values if n not in names]
    rows = []
    for name in names:
        if not FIELD_RE.match(name):
            continue
        fr = fields.get(name) or {}
        entry = values.get(name)
        prov: dict[str, Any] = entry if isinstance(entry, dict) else {}
        current = prov.get("value") if isinstance(entry, dict) else entry
        if current is None and prov.get("source", "machine") == "machine":
            current = fr.get("value")
        rows.append(
            {
                "name": name,
                "label": field_label(name),
                "text": fr.get("text", ""),
                "read": fr.get("value"),
                "value": current,
                "confidence": fr.get("confidence"),
                "flagged": bool(fr.get("flagged")),
                "reason": fr.get("reason"),
                "box_mm": fr.get("box_mm"),
                **provenance(prov, upload),
            }
        )
    return rows


def provenance(entry: dict[str, Any], upload: dict[str, Any]) -> dict[str, Any]:
    """Who set a field's current value, when and why, and who confirmed or approved it.

    `source` is machine/kpps/ppk/manual (the last change wins); a machine value the officer
    left as read counts as confirmed by the officer, and a PPK approval covers every value
    of the page it did not type by hand.
    """
    source = str(entry.get("source") or "machine")
    approved = upload.get("state") == "reviewed" and source != "manual"
    return {
        "source": source,
        "actor": entry.get("actor"),
        "at": entry.get("at"),
        "note": entry.get("note"),
        "confirmed_by": upload.get("officer_confirmed_by") if source == "machine" else None,
        "confirmed_at": upload.get("officer_confirmed_at") if source == "machine" else None,
        "approved_by": upload.get("decided_by") if approved else None,
        "approved_at": upload.get("decided_at") if approved else None,
        "approved_note": upload.get("decision_reason") if approved else None,
    }


def failing_checks(upload: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in reading_of(upload).get("checks") or [] if not c.get("ok")]


def photo_notes(upload: dict[str, Any]) -> list[str]:
    """What the photo quality check warned about without refusing the photo (a slight blur,
    a folded sheet): the reading stands, and the officer learns what to do next time."""
    quality = reading_of(upload).get("quality") or {}
    return [str(c["message"]) for c in quality.values()
            if isinstance(c, dict) and c.get("message") and not c.get("ok")
            and not c.get("refuse")]


def parse_values(form: Any, names: list[str]) -> tuple[dict[str, int], list[str]]:
    """Values typed into `value-<field>` inputs; (values, names that are not 0..999)."""
    values: dict[str, int] = {}
    bad: list[str] = []
    for name in names:
        raw = str(form.get(f"value-{name}", "")).strip()
        if raw == "":
            continue
        if not raw.isdigit() or int(raw) > MAX_VALUE:
            bad.append(name)
            continue
        values[name] = int(raw)
    return values, bad


def corrections_from(form: Any, rows: list[dict[str, Any]]) -> tuple[dict[str, int], list[str]]:
    """Only the fields whose typed value differs from the value shown."""
    typed, bad = parse_values(form, [r["name"] for r in rows])
    changed = {
        name: value
        for name, value in typed.items()
        if value != next(r["value"] for r in rows if r["name"] == name)
    }
    return changed, bad


def missing_values(rows: list[dict[str, Any]], corrections: dict[str, int]) -> list[str]:
    """Labels of fields that would still have no number: a person must type them first,
    so an unreadable box never becomes final by a click."""
    return [r["label"] for r in rows if r["value"] is None and r["name"] not in corrections]


def rectified_bytes(upload: dict[str, Any]) -> bytes | None:
    """The straightened page JPEG of an upload, whichever way the store hands it over."""
    rect = upload.get("rectified_jpeg") or upload.get("rectified")
    if isinstance(rect, bytes):
        return rect or None
    path = upload.get("rectified_path") or (rect if isinstance(rect, str) else None)
    if path:
        try:
            with open(path, "rb") as fh:
                return fh.read() or None
        except FileNotFoundError:
            logger.warning("rectified image of upload %s is missing: %s", upload.get("id"), path)
    return None


def overlay_boxes(upload: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The straightened page's size in mm and where to print each value (beside its boxes),
    for an SVG whose units are millimetres; None without a straightened page."""
    reading = reading_of(upload)
    px_per_mm = float(reading.get("px_per_mm") or 0)
    rect = rectified_bytes(upload)
    if not rect or px_per_mm <= 0:
        return None
    from PIL import Image

    with Image.open(io.BytesIO(rect)) as img:  # reads the header only
        width_mm, height_mm = img.width / px_per_mm, img.height / px_per_mm
    labels = []
    for row in rows:
        box = row.get("box_mm")
        if not box or len(box) != 4 or float(box[2]) <= 0:
            row["box_mm"] = None
            continue
        x, y, w, h = (float(v) for v in box)
        labels.append(
            {
                "x": round(x + w + 1.5, 1),
                "y": round(y + 0.85 * h, 1),
                "size": round(max(h, 4.0), 1),
                "value": row["value"],
                "flagged": row["flagged"],
            }
        )
    view = {"x": 0.0, "y": 0.0, "w": round(width_mm, 1), "h": round(height_mm, 1)}
    if labels:
        # Show only the part of the page with the fields: on a phone the whole plano
        # sheet would make the numbers unreadably small.
        boxes = [[float(v) for v in r["box_mm"]] for r in rows if r.get("box_mm")]
        x0 = max(0.0, min(b[0] for b in boxes) - VIEW_MARGIN_MM)
        y0 = max(0.0, min(b[1] for b in boxes) - VIEW_MARGIN_MM)
        x1 = min(width_mm, max(lab["x"] + 3 * lab["size"] for lab in labels) + VIEW_MARGIN_MM)
        y1 = min(height_mm, max(b[1] + b[3] for b in boxes) + VIEW_MARGIN_MM)
        view = {"x": round(x0, 1), "y": round(y0, 1), "w": round(x1 - x0, 1),
                "h": round(y1 - y0, 1)}
    return {"width": round(width_mm, 1), "height": round(height_mm, 1), "labels": labels,
            "view": view}


def photo_bytes(upload: dict[str, Any]) -> bytes | None:
    """The photo as uploaded, from the content-addressed photo directory."""
    sha = str(upload.get("sha256") or "")
    if not SHA_RE.match(sha):
        return None
    path = web_state().data_dir / "photos" / sha[:2] / sha
    try:
        return path.read_bytes()
    except FileNotFoundError:
        logger.warning("photo of upload %s is missing: %s", upload.get("id"), path)
        return None


def tps_name(code: str) -> str:
    tps = web_state().config.tps_by_code(code)
    return f"TPS {code[10:]} {tps.desa}" if tps else code
