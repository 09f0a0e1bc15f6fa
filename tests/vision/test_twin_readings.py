"""A partner showing a doubted box's confusion is no witness when the twin reading holds."""

from __future__ import annotations

from vision.checks import load_rules
from vision.twin_readings import twin_holds

SURE = 255 / 256
# A row and a total that must equal its J (as I.B.4 J = II.2 on page 1).
RULES = load_rules([
    {"id": "row", "lhs": ["j"], "op": "eq", "rhs": ["l", "p"]},
    {"id": "same", "lhs": ["t"], "op": "eq", "rhs": ["j"]},
    {"id": "max", "lhs": ["j"], "op": "le", "rhs_const": 300},
])


def boxes(t_runner: str) -> dict[str, list[list[tuple[str, float]]]]:
    zero = [("0", SURE)]
    return {"l": [zero, zero, [("8", 0.8), ("2", 0.19)]],
            "p": [zero, zero, zero],
            "j": [zero, zero, [("8", 0.99), ("2", 0.005)]],
            "t": [zero, zero, [("8", 0.996), (t_runner, 0.002)]]}


def test_the_twin_counts_the_same_confusion_in_a_third_field_the_sums_tie_in() -> None:
    # L and J read `2` as `8` break `t = j` unless T's `2` was read `8` too: one hand's
    # `2`s, three of them. That reading holds every rule, so J is no witness for L.
    values = {"l": 8, "p": 0, "j": 8, "t": 8}
    assert twin_holds("l", "j", boxes("2"), {("8", "2")}, values, RULES, {})
    # T's runner-up another digit: the only twin breaks `t = j`, and J's balance stands.
    assert not twin_holds("l", "j", boxes("3"), {("8", "2")}, values, RULES, {})


def test_a_twin_past_a_bound_is_no_form_at_all() -> None:
    sure, one = [("1", SURE)], [("1", 0.79), ("7", 0.15)]
    read = {"l": [[("X", SURE)], [("8", SURE)], sure],
            "p": [one, sure, [("0", SURE)]],
            "j": [[("1", 0.992), ("7", 0.004)], [("9", SURE)], sure],
            "t": [[("1", SURE)], [("9", SURE)], sure]}
    values = {"l": 81, "p": 110, "j": 191, "t": 191}
    rules = [r for r in RULES if r.id != "same"]
    # 710 + 81 = 791: the row balances, the bound does not.
    assert not twin_holds("p", "j", read, {("1", "7")}, values, rules, {})
    assert twin_holds("p", "j", read, {("1", "7")}, values, rules[:1], {})
