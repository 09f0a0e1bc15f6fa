"""What the measuring tool cannot see on the raster: field names, labels and page rules.

Field order is the reading order of the digit-box runs on each page (top to bottom, then left
to right), so `measure_pdf.assign_fields` can name what it measured. Rules use the
DEVELOPERS.md rule format; cross-page rules live in `vision/templates/tps_rules.json`.
"""

from __future__ import annotations

from typing import Any

TEMPLATE_ID = "C.HASIL-PPWP-2024"
TAG_IDS = {1: 101, 2: 102, 3: 103}

_LPJ = (("l", "Laki-laki"), ("p", "Perempuan"), ("j", "Jumlah"))


def _lpj(stem: str, label: str) -> list[dict[str, Any]]:
    return [
        {"name": f"{stem}_{s}", "label": f"{label} ({name})", "n_boxes": 3} for s, name in _LPJ
    ]


def _lpj_sum_rules(stem: str, label: str) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{stem}_lpj",
            "description": f"{label}: L + P = J",
            "lhs": [f"{stem}_j"],
            "op": "eq",
            "rhs": [f"{stem}_l", f"{stem}_p"],
        }
    ]


_P1_ROWS = [
    ("pemilih_dpt", "I.A Pemilih dalam DPT"),
    ("pengguna_dpt", "I.B.1 Pengguna hak pilih DPT"),
    ("pengguna_dptb", "I.B.2 Pengguna hak pilih DPTb"),
    ("pengguna_non_dpt", "I.B.3 Pengguna hak pilih DPK"),
    ("pengguna_total", "I.B.4 Jumlah pengguna hak pilih"),
]
_P1_BALLOTS = [
    ("surat_suara_diterima", "II.1 Surat suara diterima (termasuk cadangan 2%)"),
    ("surat_suara_digunakan", "II.2 Surat suara digunakan"),
    ("surat_suara_rusak", "II.3 Surat suara dikembalikan (rusak/keliru coblos)"),
    ("surat_suara_sisa", "II.4 Surat suara tidak digunakan/sisa"),
]

_P1_RULES: list[dict[str, Any]] = [
    rule
    for stem, label in [*_P1_ROWS, ("pengguna_disabilitas", "III Pemilih disabilitas")]
    for rule in _lpj_sum_rules(stem, label)
]
_P1_RULES += [
    {
        "id": f"pengguna_total_{s}",
        "description": f"I.B.4 = I.B.1 + I.B.2 + I.B.3 ({s.upper()})",
        "lhs": [f"pengguna_total_{s}"],
        "op": "eq",
        "rhs": [f"pengguna_dpt_{s}", f"pengguna_dptb_{s}", f"pengguna_non_dpt_{s}"],
    }
    for s, _ in _LPJ
]
_P1_RULES += [
    {
        "id": f"pengguna_dpt_le_pemilih_{s}",
        "description": f"I.B.1 <= I.A ({s.upper()}): pengguna DPT tidak melebihi pemilih DPT",
        "lhs": [f"pengguna_dpt_{s}"],
        "op": "le",
        "rhs": [f"pemilih_dpt_{s}"],
    }
    for s, _ in _LPJ
]
_P1_RULES += [
    {
        "id": "surat_suara_diterima",
        "description": "II.1 = II.2 + II.3 + II.4",
        "lhs": ["surat_suara_diterima"],
        "op": "eq",
        "rhs": ["surat_suara_digunakan", "surat_suara_rusak", "surat_suara_sisa"],
    },
    {
        "id": "surat_suara_digunakan_eq_pengguna",
        "description": "II.2 = I.B.4 (J): satu surat suara per pengguna hak pilih",
        "lhs": ["surat_suara_digunakan"],
        "op": "eq",
        "rhs": ["pengguna_total_j"],
    },
    {
        "id": "disabilitas_le_pengguna",
        "description": "III (J) <= I.B.4 (J)",
        "lhs": ["pengguna_disabilitas_j"],
        "op": "le",
        "rhs": ["pengguna_total_j"],
    },
    {
        "id": "dpt_max",
        "description": "I.A (J) <= 300 pemilih per TPS (Pemilu 2024)",
        "lhs": ["pemilih_dpt_j"],
        "op": "le",
        "rhs_const": 300,
    },
    {
        "id": "pengguna_le_dpt",
        "description": "I.B.4 (J) <= DPT TPS dari konfigurasi",
        "lhs": ["pengguna_total_j"],
        "op": "le",
        "rhs_param": "dpt",
    },
    {
        "id": "pemilih_dpt_sama_dpt",
        "description": "I.A (J) = DPT TPS dari konfigurasi",
        "message": (
            "Jumlah pemilih DPT (I.A J) tidak sama dengan DPT TPS ini menurut daftar TPS di kotak"
        ),
        "lhs": ["pemilih_dpt_j"],
        "op": "eq",
        "rhs_param": "dpt",
    },
]

PAGE_LAYOUTS: dict[int, dict[str, Any]] = {
    1: {
        "title": "Data pemilih, pengguna hak pilih, surat suara, disabilitas",
        "fields": [
            *(f for stem, label in _P1_ROWS for f in _lpj(stem, label)),
            *({"name": n, "label": label, "n_boxes": 3} for n, label in _P1_BALLOTS),
            *_lpj("pengguna_disabilitas", "III Pemilih disabilitas"),
        ],
        "rules": _P1_RULES,
    },
    2: {
        "title": "IV. Perolehan suara pasangan calon",
        "fields": [
            {"name": f"suara_paslon_{n}", "label": f"IV.{n} Suara pasangan calon {n}", "n_boxes": 3}
            for n in (1, 2, 3)
        ],
        "rules": [],
    },
    3: {
        "title": "V. Suara sah dan tidak sah",
        "fields": [
            {"name": "suara_sah", "label": "V.A Jumlah seluruh suara sah", "n_boxes": 3},
            {"name": "suara_tidak_sah", "label": "V.B Jumlah suara tidak sah", "n_boxes": 3},
            {"name": "suara_total", "label": "V.C Jumlah suara sah dan tidak sah", "n_boxes": 3},
            {"name": "tanggal_hari", "label": "Tanggal", "n_boxes": 2},
            {"name": "tanggal_bulan", "label": "Bulan", "n_boxes": 2},
            {"name": "tanggal_tahun", "label": "Tahun", "n_boxes": 4},
        ],
        "rules": [
            {
                "id": "suara_total",
                "description": "V.C = V.A + V.B",
                "lhs": ["suara_total"],
                "op": "eq",
                "rhs": ["suara_sah", "suara_tidak_sah"],
            },
            {
                "id": "tanggal_hari_min",
                "description": "Tanggal >= 14 (hari pemungutan suara, 14 Februari 2024)",
                "message": "Tanggal sebelum hari pemungutan suara 14 Februari 2024",
                "lhs": ["tanggal_hari"],
                "op": "ge",
                "rhs_const": 14,
            },
            {
                "id": "tanggal_hari_max",
                "description": "Tanggal <= 15 (penghitungan boleh selesai keesokan hari)",
                "message": (
                    "Tanggal lebih dari sehari sesudah pemungutan suara 14 Februari 2024 "
                    "(pemungutan suara ulang? mohon periksa)"
                ),
                "lhs": ["tanggal_hari"],
                "op": "le",
                "rhs_const": 15,
            },
            {
                "id": "tanggal_bulan",
                "description": "Bulan = 2 (Februari)",
                "message": "Bulan bukan Februari (02)",
                "lhs": ["tanggal_bulan"],
                "op": "eq",
                "rhs_const": 2,
            },
            {
                "id": "tanggal_tahun",
                "description": "Tahun = 2024",
                "lhs": ["tanggal_tahun"],
                "op": "eq",
                "rhs_const": 2024,
            },
        ],
    },
}
