"""One TPS's true numbers, what its officer writes in each field's boxes, and the seeded
random streams every synthetic photo is drawn from.

``tps_values(seed)`` gives a TPS's three pages of counts, consistent with every rule of the
form; ``box_texts`` turns a page's values into the characters written in its boxes,
right-aligned, with the leading boxes filled the way officers do it (``X``, left empty or
``0``, mostly one habit per officer). Box texts use ``_`` for an empty box, one character per
box, as ``FieldReading.text`` does: ``"X32"``, ``"_32"``, ``"032"``.

Randomness: ``stream_rng(seed, page, stream)`` keeps the numbers, the handwriting, the camera
and the other documents in separate streams, so changing how one is drawn leaves the others
(and the same seed's JPEG bytes elsewhere) as they were. ``vision.synthetic`` draws the
photos; ``vision.synthetic.tps_values`` is this module's ``tps_values``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from vision.template import Template

ELECTION_DAY = (14, 2, 2024)
DATE_FIELDS = ("tanggal_hari", "tanggal_bulan", "tanggal_tahun")
# Share of TPS whose ballots received differ from DPT + 2% (the soft reserve rule fails).
OFF_RESERVE_SHARE = 0.15

# Streams of the seed sequence: numbers, handwriting, camera, other documents.
VALUES_STREAM, HAND_STREAM, CAMERA_STREAM, OTHER_STREAM, PEN_STREAM = 1, 2, 3, 4, 5


def stream_rng(seed: int, page: int, stream: int) -> np.random.Generator:
    """The generator of one stream (``*_STREAM``) for ``seed`` and ``page`` (0: no page)."""
    return np.random.default_rng([int(seed), int(page), stream])


# --- ground truth numbers -------------------------------------------------------------------


def tps_values(seed: int, dpt: int | None = None) -> dict[int, dict[str, int]]:
    """One TPS's three pages of numbers, consistent with every rule of the form.

    ``dpt`` (the TPS's voter list, at most 300) is drawn when not given.
    """
    rng = stream_rng(seed, 0, VALUES_STREAM)
    if dpt is None:
        dpt = int(rng.integers(120, 301))
    if not 1 <= dpt <= 300:
        raise ValueError(f"DPT must be 1..300 voters per TPS, not {dpt}")
    dpt_l = int(rng.binomial(dpt, rng.uniform(0.45, 0.55)))
    listed = {"l": dpt_l, "p": dpt - dpt_l}
    turnout = rng.uniform(0.55, 0.92)
    p1: dict[str, int] = {}
    for sex in ("l", "p"):
        used = int(rng.binomial(listed[sex], turnout))
        # Extra voters (DPTb, DPK) only fill places left by the listed ones: total <= DPT.
        room = listed[sex] - used
        dptb = min(room, int(rng.poisson(1.5)))
        non_dpt = min(room - dptb, int(rng.poisson(2.0)))
        total = used + dptb + non_dpt
        p1 |= {f"pemilih_dpt_{sex}": listed[sex], f"pengguna_dpt_{sex}": used,
               f"pengguna_dptb_{sex}": dptb, f"pengguna_non_dpt_{sex}": non_dpt,
               f"pengguna_total_{sex}": total,
               f"pengguna_disabilitas_{sex}": min(total, int(rng.poisson(0.8)))}
    for row in ("pemilih_dpt", "pengguna_dpt", "pengguna_dptb", "pengguna_non_dpt",
                "pengguna_total", "pengguna_disabilitas"):
        p1[f"{row}_j"] = p1[f"{row}_l"] + p1[f"{row}_p"]
    voters = p1["pengguna_total_j"]
    received = dpt + math.ceil(dpt * 0.02)  # the DPT plus KPU's 2% reserve
    spoiled = min(received - voters, int(rng.poisson(0.7)))
    p1 |= {"surat_suara_diterima": received, "surat_suara_digunakan": voters,
           "surat_suara_rusak": spoiled, "surat_suara_sisa": received - voters - spoiled}

    invalid = min(voters, int(rng.poisson(3.0)))
    valid = voters - invalid
    shares = rng.dirichlet([3.0, 6.0, 4.0])[rng.permutation(3)]
    votes = rng.multinomial(valid, shares)
    p2 = {f"suara_paslon_{i + 1}": int(v) for i, v in enumerate(votes)}
    day, month, year = ELECTION_DAY
    # Drawn last, so the other numbers of a seed stay as they were: a count that ran past
    # midnight is dated the next day.
    day += int(rng.random() < 0.2)
    p3 = {"suara_sah": valid, "suara_tidak_sah": invalid, "suara_total": voters,
          "tanggal_hari": day, "tanggal_bulan": month, "tanggal_tahun": year}
    if rng.random() < OFF_RESERVE_SHARE:
        # Not every TPS gets exactly DPT + 2%: ballots lent to a neighbour, a short delivery.
        # The form's own sum still holds; only the usual reserve (a soft rule) does not.
        floor = voters + spoiled - received
        delta = int(rng.choice([d for d in range(-3, 6) if d and d >= floor] or [1]))
        p1["surat_suara_diterima"] = received + delta
        p1["surat_suara_sisa"] += delta
    return {1: p1, 2: p2, 3: p3}


# --- what the officer writes in the boxes ---------------------------------------------------


def _filler_habit(rng: np.random.Generator) -> str:
    """The officer's way of filling unused leading boxes: X (as KPU asks), empty, or 0."""
    return str(rng.choice(["X", "_", "0"], p=[0.6, 0.25, 0.15]))


def box_text(value: int | None, n_boxes: int, filler: str, *, date: bool = False) -> str:
    """The characters written in a field's boxes, right-aligned, ``_`` for an empty box."""
    if value is None:
        return "_" * n_boxes
    if value < 0:
        raise ValueError(f"a count cannot be negative: {value}")
    digits = str(value).zfill(n_boxes) if date else str(value)
    if len(digits) > n_boxes:
        raise ValueError(f"{value} does not fit in {n_boxes} boxes")
    return filler * (n_boxes - len(digits)) + digits


def box_texts(template: Template, values: Mapping[str, int | None],
              rng: np.random.Generator) -> dict[str, str]:
    """What one officer writes in each field of the page (every field, empty ones ``_``)."""
    habit = _filler_habit(rng)
    texts = {}
    for spec in template.fields:
        # One habit per officer, with the odd lapse.
        filler = _filler_habit(rng) if rng.random() < 0.1 else habit
        value = values.get(spec.name)
        text = box_text(value, len(spec.boxes_mm), filler, date=spec.name in DATE_FIELDS)
        if value == 0 and filler == "X" and rng.random() < 0.3:
            text = "X" * len(spec.boxes_mm)  # KPU's own example of zero
        texts[spec.name] = text
    return texts


def check_values(template: Template, values: Mapping[str, int | None]) -> None:
    """Refuse values for fields the page does not have, or too long for their boxes."""
    unknown = sorted(set(values) - set(template.field_names))
    if unknown:
        raise ValueError(f"page {template.page} has no fields {', '.join(unknown)}")
    for spec in template.fields:
        value = values.get(spec.name)
        if value is not None and not 0 <= value < 10 ** len(spec.boxes_mm):
            raise ValueError(f"{spec.name}={value} does not fit in {len(spec.boxes_mm)} boxes")

