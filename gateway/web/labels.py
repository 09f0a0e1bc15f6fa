"""Short names of the form's fields as printed on C.Hasil, for officers (Bahasa Indonesia)."""

from __future__ import annotations

import re

PAGE_FIELDS: dict[int, list[str]] = {
    1: [
        *(f"pemilih_dpt_{s}" for s in "lpj"),
        *(f"pengguna_dpt_{s}" for s in "lpj"),
        *(f"pengguna_dptb_{s}" for s in "lpj"),
        *(f"pengguna_non_dpt_{s}" for s in "lpj"),
        *(f"pengguna_total_{s}" for s in "lpj"),
        "surat_suara_diterima",
        "surat_suara_digunakan",
        "surat_suara_rusak",
        "surat_suara_sisa",
        *(f"pengguna_disabilitas_{s}" for s in "lpj"),
    ],
    2: ["suara_paslon_1", "suara_paslon_2", "suara_paslon_3"],
    3: [
        "suara_sah",
        "suara_tidak_sah",
        "suara_total",
        "tanggal_hari",
        "tanggal_bulan",
        "tanggal_tahun",
    ],
}

_BASE = {
    "pemilih_dpt": "I.A Pemilih DPT",
    "pengguna_dpt": "I.B.1 Pengguna DPT",
    "pengguna_dptb": "I.B.2 Pengguna DPTb",
    "pengguna_non_dpt": "I.B.3 Pengguna DPK",
    "pengguna_total": "I.B.4 Jumlah pengguna",
    "pengguna_disabilitas": "III Pemilih disabilitas",
    "surat_suara_diterima": "II.1 Surat suara diterima",
    "surat_suara_digunakan": "II.2 Surat suara digunakan",
    "surat_suara_rusak": "II.3 Surat suara rusak",
    "surat_suara_sisa": "II.4 Surat suara sisa",
    "suara_paslon_1": "Paslon 01",
    "suara_paslon_2": "Paslon 02",
    "suara_paslon_3": "Paslon 03",
    "suara_sah": "V.A Suara sah",
    "suara_tidak_sah": "V.B Suara tidak sah",
    "suara_total": "V.C Jumlah suara",
    "tanggal_hari": "Tanggal",
    "tanggal_bulan": "Bulan",
    "tanggal_tahun": "Tahun",
}
_SUFFIX = {"l": "Laki-laki", "p": "Perempuan", "j": "Jumlah"}

FIELD_RE = re.compile(r"^[a-z0-9_]{1,40}$")


def field_label(name: str) -> str:
    if name in _BASE:
        return _BASE[name]
    stem, _, suffix = name.rpartition("_")
    if stem in _BASE and suffix in _SUFFIX:
        return f"{_BASE[stem]} ({_SUFFIX[suffix]})"
    return name

