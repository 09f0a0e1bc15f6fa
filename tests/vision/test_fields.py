"""Digit boxes -> field value, by the KPU rule for writing numbers in boxes."""

from __future__ import annotations

import pytest

from vision.fields import CONFIDENT, parse_labels, read_field


def sure(*labels: str, p: float = 0.999) -> list[list[tuple[str, float]]]:
    return [[(label, p)] for label in labels]


@pytest.mark.parametrize(
    ("labels", "value", "text"),
    [
        (["X", "3", "2"], 32, "X32"),
        (["", "3", "2"], 32, "_32"),
        (["0", "3", "2"], 32, "032"),
        (["1", "5", "2"], 152, "152"),
        (["X", "X", "7"], 7, "XX7"),
        (["X", "1", "0"], 10, "X10"),
        (["2", "0", "0"], 200, "200"),
    ],
)
def test_leading_boxes_may_hold_x_blank_or_zero(labels: list[str], value: int, text: str) -> None:
    parsed = parse_labels(labels)
    assert (parsed.value, parsed.text, parsed.error) == (value, text, None)


def test_all_x_means_zero() -> None:
    assert parse_labels(["X", "X", "X"]).value == 0
    assert parse_labels(["X", "X", "0"]).value == 0
    field = read_field(sure("X", "X", "X"))
    assert field.value == 0 and not field.flagged


def test_x_after_a_digit_is_an_error_never_a_number() -> None:
    parsed = parse_labels(["3", "X", "2"])
    assert parsed.value is None and parsed.error == "tanda X setelah angka"
    field = read_field(sure("3", "X", "2"))
    assert field.value is None and field.flagged and field.reason == "tanda X setelah angka"
    assert field.text == "3X2"


def test_blank_after_a_digit_is_an_error() -> None:
    parsed = parse_labels(["4", "", "1"])
    assert parsed.value is None and parsed.error == "kotak kosong di antara angka"
    assert read_field(sure("X", "4", "")).flagged


def test_all_blank_is_no_value_and_flagged_never_invented() -> None:
    field = read_field(sure("", "", ""))
    assert field.value is None
    assert field.flagged and field.reason == "kotak kosong"
    assert field.text == "___"


def test_confidence_is_the_product_of_box_confidences() -> None:
    field = read_field([[("1", 0.99)], [("5", 0.98)], [("2", 0.97)]])
    assert field.value == 152
    assert field.confidence == pytest.approx(0.99 * 0.98 * 0.97)
    assert not field.flagged


def test_one_doubtful_box_flags_the_field() -> None:
    field = read_field([[("6", 0.55), ("1", 0.40)], [("5", 0.99)], [("2", 0.99)]])
    assert field.value == 652
    assert field.confidence < CONFIDENT
    assert field.flagged and field.reason == "tulisan kurang jelas"


def test_box_position_is_carried_through() -> None:
    field = read_field(sure("X", "1"), box_mm=(10.0, 20.0, 30.0, 8.0))
    assert field.box_mm == (10.0, 20.0, 30.0, 8.0)


def test_unknown_labels_are_a_programming_error() -> None:
    with pytest.raises(ValueError):
        parse_labels(["A"])


@pytest.mark.parametrize(
    ("labels", "truth"),
    [
        (["X", "", "3"], "X23: the faint 2 taken for paper"),
        (["X", "X", ""], "XX1: the faint 1 taken for paper"),
        (["", "X", ""], "XX1 with the first X faint too"),
        (["0", "", "5"], "015"),
    ],
)
def test_an_empty_box_after_an_x_or_0_is_a_faint_digit_never_a_number(
    labels: list[str], truth: str
) -> None:
    parsed = parse_labels(labels)
    assert parsed.value is None, truth
    assert parsed.error == "kotak kosong setelah tanda X/0 (tulisan samar?)"
    field = read_field(sure(*labels))
    assert field.value is None and field.flagged


def test_empty_boxes_may_lead_even_before_an_x() -> None:
    # A faint leading X is missed the same way, but that leaves the number itself intact.
    assert parse_labels(["", "X", "3"]).value == 3
    assert parse_labels(["", "", "7"]).value == 7
