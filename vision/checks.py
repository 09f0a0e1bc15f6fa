"""Rule checks: which of the form's rules hold on a set of values, each failing one named in
a sentence the officer reads, with its numbers; and the cross-page rules over a TPS's pages.

A rule reads `sum(lhs) op sum(rhs) + rhs_const + params[rhs_param]` (DEVELOPERS.md). A rule
is skipped, not failed, when one of its fields has no value or its parameter is unknown:
a missing number is flagged on the field itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from vision.reading import Check
from vision.template import Rule

TPS_RULES_PATH = Path(__file__).parent / "templates" / "tps_rules.json"

# The relation that actually holds between the two sides when the rule fails.
OP_SYMBOLS = {"eq": "≠", "le": ">", "lt": "≥", "ge": "<", "gt": "≤"}
OP_WORDS = {
    "eq": "tidak sama dengan",
    "le": "melebihi",
    "lt": "tidak kurang dari",
    "ge": "kurang dari",
    "gt": "tidak lebih dari",
}


def load_rules(data: Iterable[Rule | Mapping[str, Any]]) -> list[Rule]:
    """Rules from JSON dicts, or the templates' own Rule objects."""
    return [item if isinstance(item, Rule) else Rule.from_dict(item) for item in data]


@lru_cache(maxsize=1)
def load_tps_rules() -> tuple[Rule, ...]:
    data = json.loads(TPS_RULES_PATH.read_text(encoding="utf-8"))
    return tuple(load_rules(data["rules"]))


def _side_text(names: Sequence[str], const: int = 0, param: str | None = None) -> str:
    parts = list(names)
    if param is not None:
        parts.append(param.upper())
    if const or not parts:
        parts.append(str(const))
    return " + ".join(parts)


def rule_message(rule: Rule, values: Mapping[str, int | None], params: Mapping[str, Any]) -> str:
    """A plain Bahasa Indonesia sentence saying which rule fails, with the numbers."""
    sides = rule.sides(values, params)
    numbers = ""
    if sides is not None:
        # Numbers in the sentence's order: sums are stated "parts not equal to total".
        first, second = (sides[1], sides[0]) if rule.op == "eq" else sides
        numbers = f" ({first} {OP_SYMBOLS[rule.op]} {second})"
    if rule.message:
        return f"{rule.message}{numbers}"
    row = _lpj_row(rule)
    if row is not None:
        return f"Jumlah L + P tidak sama dengan J pada baris {row}{numbers}"
    lhs = _side_text(rule.lhs)
    rhs = _side_text(rule.rhs, rule.rhs_const, rule.rhs_param)
    if rule.op == "eq":
        return f"Jumlah {rhs} tidak sama dengan {lhs}{numbers}"
    return f"{lhs} {OP_WORDS[rule.op]} {rhs}{numbers}"


def _lpj_row(rule: Rule) -> str | None:
    """`x_j = x_l + x_p`: the rows of the voter tables, worth naming the officer's way."""
    if rule.op != "eq" or len(rule.lhs) != 1 or len(rule.rhs) != 2 or rule.rhs_param:
        return None
    total = rule.lhs[0]
    if not total.endswith("_j"):
        return None
    row = total[:-2]
    return row if sorted(rule.rhs) == [f"{row}_l", f"{row}_p"] else None


def check_rules(
    rules: Iterable[Rule],
    values: Mapping[str, int | None],
    params: Mapping[str, int | None] | None = None,
) -> list[Check]:
    """Every rule that can be evaluated, with a message on the failing ones."""
    params = params or {}
    checks = []
    for rule in rules:
        ok = rule.holds(values, params)
        if ok is None:
            continue
        message = None if ok else rule_message(rule, values, params)
        checks.append(Check(rule=rule.id, ok=ok, fields=list(rule.fields), message=message))
    return checks


def check_tps(
    pages: Mapping[int, Mapping[str, int | None]], *, dpt: int | None = None
) -> list[Check]:
    """Cross-page rules over one TPS's values (keyed by page number)."""
    values: dict[str, int | None] = {}
    for page in sorted(pages):
        values.update(pages[page])
    return check_rules(load_tps_rules(), values, {"dpt": dpt})
