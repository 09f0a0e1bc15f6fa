"""Page 2's bubble columns fused with the boxes' reading of the same vote count.

Agreement makes the field more certain; disagreement sends it to a person, both readings
named; an unknown column (none filled, two filled) neither helps nor hurts, unless what it
holds speaks against the box (a faint fill on another digit, a stroke run down from a box
read empty). The columns themselves are read by `vision.omr`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from vision.fields import BLANK, CONFIDENT, CROSS, REASON_LOW_CONFIDENCE
from vision.omr import FILL_MIN, ColumnReading, faint_digit
from vision.reading import FieldReading, Reading
from vision.vouching import REASON_UNCHECKED, box_stands_alone

# How often a clearly read column is wrong, for raising a box's confidence on agreement.
OMR_ERROR = 0.05

REASON_OMR_CONFIRMED = "dikuatkan oleh bulatan"
REASON_CROSSED = "coretan dari kotak sampai ke bulatan"


def _speaks_against(label: str, column: ColumnReading) -> str | None:
    """What a column not read "ok" says against its box's label, if anything: a faint fill
    on another digit, two filled bubbles neither of which is the label's, or a stroke coming
    down from a box read as empty or `X`."""
    if column.crossed and label in (BLANK, CROSS):
        return REASON_CROSSED
    if column.state == "none":
        faint = faint_digit(column.read_fill)
        if faint is not None and not _agrees(label, faint):
            return f"bulatan samar {faint}"
    elif column.state == "multiple":
        filled = [d for d, f in enumerate(column.read_fill) if f >= FILL_MIN]
        if not any(_agrees(label, d) for d in filled):
            return "bulatan " + " dan ".join(str(d) for d in filled)
    return None


def _agrees(label: str, digit: int) -> bool:
    # A leading X or empty box is a zero the officer may or may not have bubbled as 0.
    if label in (BLANK, CROSS):
        return digit == 0
    return label == str(digit)


def fuse_field(
    field: FieldReading,
    labels: Sequence[str],
    probs: Sequence[float],
    columns: Sequence[ColumnReading],
    sure: Sequence[bool] | None = None,
) -> FieldReading:
    """Combine a field read from its boxes with its bubble columns.

    A column read "ok" on another digit than its box, or one that speaks against it
    (`_speaks_against`: a faint fill elsewhere, two filled bubbles neither the box's), flags
    the field with both readings. `labels`/`probs` are the boxes as finally read (after any
    arithmetic correction); `sure`: per box, whether the model's reading of it alone clears
    the bar a field with no rule to check it must clear (`vision.vouching.box_stands_alone`).
    """
    known = [c for c in columns if c.state == "ok" and c.digit is not None and c.box < len(labels)]
    against = {c.box: f"bulatan {c.digit}" for c in known
               if not _agrees(labels[c.box], c.digit or 0)}
    for c in columns:
        # Columns read "ok" were compared above; `_speaks_against` says nothing of them.
        said = _speaks_against(labels[c.box], c) if c.box < len(labels) else None
        if said is not None:
            against[c.box] = said
    if against:
        detail = ", ".join(f"kotak {box + 1}: {labels[box] or 'kosong'} / {said}"
                           for box, said in sorted(against.items()))
        reason = f"angka di kotak tidak sama dengan bulatan ({detail})"
        if field.reason and not field.reason.startswith("dikuatkan"):
            reason = f"{field.reason}; {reason}"
        return replace(field, flagged=True, reason=reason)
    if not known:
        return field
    boosted = list(probs)
    for c in known:
        boosted[c.box] = 1.0 - (1.0 - probs[c.box]) * OMR_ERROR
    confidence = float(np.prod(boosted))
    # Every box must be vouched for: a digit by its bubble, a leading X or empty box by a
    # 0 bubble or a column left empty. An empty box may be a faint digit the box reader took
    # for paper (a thin 1), and only an empty column says the officer wrote nothing there.
    # A digit whose bubbles were left empty (officers skip them) stands on the model alone,
    # by the same bar as a field no rule checks.
    states = {c.box: c for c in columns}
    sure = list(sure) if sure is not None else [False] * len(labels)
    all_digits_checked = all(
        any(c.box == i for c in known)
        or (label in (BLANK, CROSS) and i in states and states[i].state == "none"
            and not states[i].crossed)
        or (label not in (BLANK, CROSS) and i < len(sure) and sure[i])
        for i, label in enumerate(labels)
    )
    if field.value is None or field.corrected:
        return replace(field, confidence=max(field.confidence, confidence))
    # Only doubt about the handwriting is cleared; a malformed or failing field keeps its flag.
    if (
        field.flagged
        and field.reason in (REASON_LOW_CONFIDENCE, REASON_UNCHECKED)
        and all_digits_checked
        and confidence >= CONFIDENT
    ):
        return replace(field, confidence=confidence, flagged=False, reason=REASON_OMR_CONFIRMED)
    return replace(field, confidence=confidence)


def fuse_bubbles(
    reading: Reading,
    columns: dict[str, list[Any]],
    candidates: dict[str, list[list[tuple[str, float]]]],
) -> None:
    """Each page 2 field read again with its bubble columns (`fuse_field`), in place; the
    columns as read go into `reading.omr` for the reviewer."""
    report: dict[str, Any] = {}
    for name, read in columns.items():
        report[name] = [c.to_dict() for c in read]
        field = reading.fields[name]
        labels, probs = _final_labels(field, candidates[name])
        # The model alone vouches for a box only when it read it as written (not corrected).
        sure = [
            box_stands_alone(cands) and cands[0][0] == label
            for label, cands in zip(labels, candidates[name], strict=True)
        ]
        reading.fields[name] = fuse_field(field, labels, probs, read, sure)
    reading.omr = report


def _final_labels(
    field: FieldReading, boxes: list[list[tuple[str, float]]]
) -> tuple[list[str], list[float]]:
    """The labels behind the field's value (corrected ones included) and their probabilities."""
    labels = ["" if ch == "_" else ch for ch in field.text]
    probs = []
    for label, cands in zip(labels, boxes, strict=True):
        probs.append(next((p for lbl, p in cands if lbl == label), 0.0))
    return labels, probs
