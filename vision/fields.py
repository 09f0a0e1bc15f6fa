"""Digit boxes -> a field value, by the KPU's rule for filling a number in boxes.

The officer writes the number right-aligned; unused leading boxes hold `X` (or are left
empty, or hold `0`). So `X32` and `_32` and `032` are 32, and `XXX` is 0. Anything after
the first significant digit must be a digit: `3X2` or `3_2` is an error, never a number.
All boxes empty means the field was not filled: value None, never an invented number.

Empty boxes may only lead (`_32`, `_X3`): a right-aligned number always marks its last box,
and an officer who started with `X` does not skip a box. `XX_` or `X_3` is what a faint
digit the box reader took for paper looks like (the true `XX1`, `X23`), so it is an error,
never 0 or 3.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vision.reading import FieldReading

BLANK = ""
CROSS = "X"
DIGITS = frozenset("0123456789")
LABELS = frozenset(DIGITS | {BLANK, CROSS})

# Below this a field is not trusted on the model's word alone.
CONFIDENT = 0.90

REASON_EMPTY = "kotak kosong"
REASON_BLANK_AFTER_DIGIT = "kotak kosong di antara angka"
REASON_BLANK_AFTER_FILLER = "kotak kosong setelah tanda X/0 (tulisan samar?)"
REASON_LOW_CONFIDENCE = "tulisan kurang jelas"
# Low confidence because a box's writing runs on past the box (`page_boxes.partly_seen`).
REASON_PAST_THE_BOX = "tulisan melewati kotak"

# A box's candidate labels from the classifier, most likely first: [("3", 0.91), ("8", 0.06)].
BoxCandidates = Sequence[tuple[str, float]]


class FieldFormatError(ValueError):
    """The boxes do not spell a number by the KPU rule; the message is for the officer."""


@dataclass(frozen=True)
class ParsedField:
    value: int | None
    text: str
    error: str | None


def box_text(label: str) -> str:
    return "_" if label == BLANK else label


def parse_labels(labels: Sequence[str]) -> ParsedField:
    """Labels of one field's boxes (left to right) -> value, display text and any error."""
    text = "".join(box_text(label) for label in labels)
    unknown = [label for label in labels if label not in LABELS]
    if unknown:
        raise ValueError(f"unknown box labels {unknown!r}")
    if all(label == BLANK for label in labels):
        return ParsedField(None, text, None)
    started = marked = False
    digits: list[str] = []
    for label in labels:
        if label == BLANK and marked and not started:
            return ParsedField(None, text, REASON_BLANK_AFTER_FILLER)
        marked = marked or label != BLANK
        if not started:
            if label in DIGITS and label != "0":
                started = True
                digits.append(label)
            continue
        if label == CROSS:
            return ParsedField(None, text, "tanda X setelah angka")
        if label == BLANK:
            return ParsedField(None, text, REASON_BLANK_AFTER_DIGIT)
        digits.append(label)
    # Only X / 0 / blank in the leading boxes: the officer wrote zero.
    value = int("".join(digits)) if digits else 0
    return ParsedField(value, text, None)


def field_confidence(probabilities: Sequence[float]) -> float:
    """Every box must be right for the number to be right: the product of box confidences."""
    return math.prod(probabilities) if probabilities else 0.0


def read_field(
    boxes: Sequence[BoxCandidates],
    *,
    box_mm: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
    confident: float = CONFIDENT,
) -> FieldReading:
    """One field from its boxes' top candidates; flagged when malformed, empty or unsure.

    An empty field is flagged too: on a filled page every field carries a number (0 is
    written as `X`s), so an empty one needs a person. Whether the whole page is empty is
    the caller's decision.
    """
    if not boxes:
        raise ValueError("a field needs at least one box")
    labels = [candidates[0][0] if candidates else BLANK for candidates in boxes]
    probs = [candidates[0][1] if candidates else 0.0 for candidates in boxes]
    parsed = parse_labels(labels)
    confidence = field_confidence(probs)
    reason: str | None = None
    if parsed.error is not None:
        reason = parsed.error
    elif parsed.value is None:
        reason = REASON_EMPTY
    elif confidence < confident:
        reason = REASON_LOW_CONFIDENCE
    return FieldReading(
        value=parsed.value,
        text=parsed.text,
        confidence=confidence,
        flagged=reason is not None,
        reason=reason,
        box_mm=box_mm,
    )
