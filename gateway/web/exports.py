"""CSV and JSON export of the kecamatan's results (one row per TPS page)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from flask import Blueprint, Response

from gateway.web.auth import PPK_READERS, require_role
from gateway.web.labels import PAGE_FIELDS
from gateway.web.state import web_state

bp = Blueprint("exports", __name__, url_prefix="/ppk")

BASE_COLUMNS = ("tps", "page", "state", "upload_id", "source", "final_by", "final_at",
                "confirmed_by", "confirmed_at", "decided_by", "decided_at", "decision_reason",
                "photo_sha256")
# Beside each field's final value: what the machine read and who set the value, when, why
# (`source` machine/kpps/ppk/manual), as `<field>.<key>` columns after the values.
PROVENANCE_KEYS = ("machine", "source", "actor", "at", "note")


def _filename(ext: str) -> str:
    kec = web_state().config.kecamatan
    return f"titik-{kec.code}-hasil.{ext}"


def _cell(value: Any) -> Any:
    # A spreadsheet runs cells starting with = + - @ as formulas; exported text never does.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


@bp.route("/ekspor.csv")
@require_role(*PPK_READERS)
def csv_export() -> Response:
    rows = web_state().store.export_results()
    fields = [name for page in (1, 2, 3) for name in PAGE_FIELDS[page]]
    out = io.StringIO()
    writer = csv.writer(out)
    prov_columns = [f"{name}.{key}" for name in fields for key in PROVENANCE_KEYS]
    writer.writerow([*BASE_COLUMNS, *fields, *prov_columns])
    for row in rows:
        values = row.get("values") or {}
        flat = {k: (v.get("value") if isinstance(v, dict) else v) for k, v in values.items()}
        provenance = row.get("provenance") or {}
        base = {
            **row,
            "final_by": row.get("decided_by") or row.get("confirmed_by"),
            "final_at": row.get("decided_at") or row.get("confirmed_at"),
        }
        writer.writerow(
            [_cell(base.get(c)) for c in BASE_COLUMNS]
            + [flat.get(name, "") for name in fields]
            + [_cell((provenance.get(name) or {}).get(key)) for name in fields
               for key in PROVENANCE_KEYS]
        )
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{_filename("csv")}"'},
    )


@bp.route("/ekspor.json")
@require_role(*PPK_READERS)
def json_export() -> Response:
    state = web_state()
    doc = {
        "box": state.config.box.id,
        "kecamatan": state.config.kecamatan.code,
        "results": state.store.export_results(),
    }
    return Response(
        json.dumps(doc, ensure_ascii=False, indent=1, default=str),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{_filename("json")}"'},
    )
