"""The form's arithmetic: rule checks, the search over alternative readings, TPS checks.

A rule reads `sum(lhs) op sum(rhs) + rhs_const + params[rhs_param]` (DEVELOPERS.md). A rule
is skipped, not failed, when one of its fields has no value or its parameter is unknown:
a missing number is flagged on the field itself.

The safety argument: the model's confidence alone can be wrong, and so can arithmetic that
happens to balance. A field is accepted only when it is confident and every rule it takes
part in holds. When the rules fail, the runner-up labels of the doubtful boxes are tried;
a single, well-supported combination that makes every rule hold may replace the first
reading (marked as corrected), anything else goes to a person with the failing rules named.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from vision.fields import (
    CONFIDENT,
    REASON_LOW_CONFIDENCE,
    BoxCandidates,
    parse_labels,
    read_field,
)
from vision.reading import Check, FieldReading
from vision.template import Rule

logger = logging.getLogger(__name__)

TPS_RULES_PATH = Path(__file__).parent / "templates" / "tps_rules.json"

OPS = {
    "eq": lambda a, b: a == b,
    "le": lambda a, b: a <= b,
    "lt": lambda a, b: a < b,
    "ge": lambda a, b: a >= b,
    "gt": lambda a, b: a > b,
}
# The relation that actually holds between the two sides when the rule fails.
OP_SYMBOLS = {"eq": "≠", "le": ">", "lt": "≥", "ge": "<", "gt": "≤"}
OP_WORDS = {
    "eq": "tidak sama dengan",
    "le": "melebihi",
    "lt": "tidak kurang dari",
    "ge": "kurang dari",
    "gt": "tidak lebih dari",
}

# Boxes the model is at least this sure of are not second-guessed.
BOX_SURE = 0.98
# Runner-up labels below this probability are not worth trying.
ALT_MIN = 0.02
# Alternative values kept per field, and the bound on combinations across fields.
ALTS_PER_FIELD = 4
MAX_COMBINATIONS = 4096
# A consistent alternative within this factor of the best one makes the reading ambiguous.
AMBIGUOUS_RATIO = 0.2
# A correction must be at least this likely relative to the first reading.
CORRECTION_MIN_RATIO = 0.1
# A doubtful field that the arithmetic confirms is accepted only above this confidence.
CONFIRM_MIN = 0.5
# ...or above this one when two equalities (its row and its column) hold on it: a wrong
# number balancing two independent sums by chance is far less likely than a doubtful pen.
CONFIRM_MIN_TWO_EQ = 0.2
# A corrected field passes without a person only when this many equalities check it: one
# balanced sum can be luck, two independent ones (its row and its column) are evidence...
CORRECTION_MIN_EQ_RULES = 2
# ...or when an equality with a constant alone settles it (the year: 2024) and the model
# itself gave each corrected box this much probability. Sure partners are not enough: the
# 23 read as 73 at 0.992 was "sure", and a correction balancing a sum with it was wrong.
SETTLED_ALT_MIN = 0.1

# A field no equality checks (dates, page 2 without its bubbles) is accepted on the model's
# word only when every box is within 5 steps of the int8 softmax's ceiling (1/256 each:
# 0.97 is a coarse "probably", the 23 -> 73 misreading had it) and no runner-up has more
# than 3 steps. Measured on synthetic photos, even saturated boxes are wrong now and then,
# so this bounds the risk; only an equality (or the bubbles) removes it.
UNCHECKED_BOX_MIN = 251 / 256
# Bounds that leave this few numbers (the day of the count: 14 or 15) check a field whose
# doubtful boxes have no rival reading inside them.
WINDOW_VALUES = 2
UNCHECKED_RIVAL_MAX = 3 / 256

REASON_UNVERIFIED = "tidak dapat diperiksa dengan aritmetika ({rules}), mohon periksa"
REASON_UNCHECKED = "tidak ada aturan yang memeriksa dan tulisan kurang pasti"
REASON_CORRECTED = "dikoreksi oleh aritmetika (terbaca {read})"
REASON_CORRECTED_CHECK = "dikoreksi oleh aritmetika (terbaca {read}), mohon periksa"
REASON_CONFIRMED = "dikuatkan oleh aritmetika"
REASON_AMBIGUOUS = "beberapa bacaan memenuhi aturan ({options})"
REASON_RULE_FAILS = "aturan tidak terpenuhi: {rules}"


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


# --- alternative readings -------------------------------------------------------------


@dataclass(frozen=True)
class _Alternative:
    value: int | None
    labels: tuple[str, ...]
    score: float


@dataclass
class Resolution:
    """Fields after the arithmetic has had its say, the checks on them, page-level reasons."""

    fields: dict[str, FieldReading]
    checks: list[Check]
    reasons: list[str] = field(default_factory=list)


def _field_alternatives(boxes: Sequence[BoxCandidates]) -> list[_Alternative]:
    """Distinct values the doubtful boxes of one field could spell, most likely first."""
    options: list[list[tuple[str, float]]] = []
    for candidates in boxes:
        if not candidates:
            options.append([("", 0.0)])
            continue
        top_label, top_p = candidates[0]
        if top_p >= BOX_SURE:
            options.append([(top_label, top_p)])
            continue
        options.append([(lbl, p) for lbl, p in candidates[:3] if p >= ALT_MIN] or [candidates[0]])
    by_value: dict[int | None, _Alternative] = {}
    totals: dict[int | None, float] = {}
    for combo in itertools.product(*options):
        labels = tuple(label for label, _ in combo)
        parsed = parse_labels(labels)
        if parsed.error is not None:
            continue
        score = math.prod(p for _, p in combo)
        totals[parsed.value] = totals.get(parsed.value, 0.0) + score
        best = by_value.get(parsed.value)
        if best is None or score > best.score:
            by_value[parsed.value] = _Alternative(parsed.value, labels, score)
    alts = [replace(alt, score=totals[alt.value]) for alt in by_value.values()]
    alts.sort(key=lambda a: a.score, reverse=True)
    return alts[:ALTS_PER_FIELD]


def _texts(labels: Sequence[str]) -> str:
    return parse_labels(labels).text


def resolve_fields(
    boxes: Mapping[str, Sequence[BoxCandidates]],
    rules: Iterable[Rule],
    *,
    params: Mapping[str, int | None] | None = None,
    box_mm: Mapping[str, tuple[float, float, float, float]] | None = None,
    confident: float = CONFIDENT,
) -> Resolution:
    """Read every field, then let the rules confirm, correct or flag them."""
    params = dict(params or {})
    box_mm = box_mm or {}
    fields = {
        name: read_field(cands, box_mm=box_mm.get(name, (0.0, 0.0, 0.0, 0.0)), confident=confident)
        for name, cands in boxes.items()
    }
    active = [r for r in rules if r.applies(params) and all(f in fields for f in r.fields)]
    reasons: list[str] = []
    if active:
        _search_alternatives(fields, boxes, active, params, reasons)
    values = {name: f.value for name, f in fields.items()}
    checks = check_rules(active, values, params)
    failing = [c for c in checks if not c.ok]
    for check in failing:
        for name in check.fields:
            f = fields[name]
            if not f.flagged or f.reason in (None, REASON_CONFIRMED):
                fields[name] = replace(
                    f, flagged=True, reason=REASON_RULE_FAILS.format(rules=check.rule)
                )
            elif check.rule not in (f.reason or ""):
                fields[name] = replace(f, reason=f"{f.reason}; {check.rule}")
        if check.message:
            reasons.append(check.message)
    _require_arithmetic(fields, boxes, active, params)
    return Resolution(fields, checks, reasons)


def _search_alternatives(
    fields: dict[str, FieldReading],
    boxes: Mapping[str, Sequence[BoxCandidates]],
    active: Sequence[Rule],
    params: Mapping[str, int | None],
    reasons: list[str],
) -> None:
    """Confirm, correct or flag the doubtful fields of `active` rules, in place."""
    first = {name: f.value for name, f in fields.items()}
    eq_count: dict[str, int] = {}
    for rule in active:
        if rule.op == "eq":
            for name in set(rule.fields):
                eq_count[name] = eq_count.get(name, 0) + 1

    # Fields worth searching: those in rules whose reading is doubtful or malformed.
    ruled = sorted({name for r in active for name in r.fields})
    alternatives = {name: _field_alternatives(boxes[name]) for name in ruled}
    doubtful = [
        name
        for name in ruled
        if len(alternatives[name]) > 1 or fields[name].value != _top_value(alternatives[name])
    ]
    doubtful.sort(key=lambda n: fields[n].confidence)
    searched: list[str] = []
    count = 1
    for name in doubtful:
        n = max(1, len(alternatives[name]))
        if count * n > MAX_COMBINATIONS:
            logger.info("alternatives search bounded: %s not searched", name)
            continue
        count *= n
        searched.append(name)

    consistent = _consistent_assignments(active, first, searched, alternatives, params)
    first_ok = all(r.holds(first, params) is not False for r in active) and all(
        fields[n].reason is None or fields[n].value is not None for n in ruled
    )
    first_key = tuple(first[n] for n in searched)
    first_score = math.prod(fields[n].confidence for n in searched) if searched else 1.0

    if consistent and first_ok and first_key in consistent:
        rivals = {k: s for k, s in consistent.items() if k != first_key}
        best_rival = max(rivals.values(), default=0.0)
        if best_rival >= AMBIGUOUS_RATIO * consistent[first_key]:
            _flag_ambiguous(fields, searched, consistent, reasons)
        else:
            # Every ruled field, not only the searched ones: a pen the model doubts with no
            # runner-up worth trying (under ALT_MIN) is never searched, yet its sums hold.
            for name in ruled:
                f = fields[name]
                equalities = eq_count.get(name, 0)
                doubted = f.flagged and f.reason == REASON_LOW_CONFIDENCE
                if doubted and f.value is not None and _sums_settle(f.confidence, equalities):
                    fields[name] = replace(f, flagged=False, reason=REASON_CONFIRMED)
    elif consistent and not first_ok:
        ranked = sorted(consistent.items(), key=lambda kv: kv[1], reverse=True)
        best_key, best_score = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        changed = [n for n, v in zip(searched, best_key, strict=True) if v != first[n]]
        strong = (
            runner_up < AMBIGUOUS_RATIO * best_score
            and best_score >= CORRECTION_MIN_RATIO * first_score
            and all(eq_count.get(n, 0) > 0 for n in changed)
        )
        if strong:
            checked = all(eq_count.get(n, 0) >= CORRECTION_MIN_EQ_RULES for n in changed)
            for name, value in zip(searched, best_key, strict=True):
                alt = next(a for a in alternatives[name] if a.value == value)
                f = fields[name]
                if name in changed:
                    fields[name] = replace(
                        f,
                        value=value,
                        text=_texts(alt.labels),
                        confidence=min(alt.score, f.confidence),
                        flagged=not checked,
                        reason=(REASON_CORRECTED if checked else REASON_CORRECTED_CHECK).format(
                            read=f.text
                        ),
                        corrected=True,
                        read_text=f.text,
                    )
            for name in ruled if checked else ():
                # The doubted pens left as read, searched or not (no runner-up worth trying),
                # whose sums now hold.
                f = fields[name]
                if (
                    name not in changed
                    and f.reason == REASON_LOW_CONFIDENCE
                    and f.value is not None
                    and _sums_settle(f.confidence, eq_count.get(name, 0))
                ):
                    fields[name] = replace(f, flagged=False, reason=REASON_CONFIRMED)
            logger.info("arithmetic corrected %s", ", ".join(changed))
        else:
            _flag_ambiguous(fields, searched, consistent, reasons)


def _sums_settle(confidence: float, equalities: int) -> bool:
    """May holding sums clear a doubted pen? Half the model's confidence with one equality,
    CONFIRM_MIN_TWO_EQ with two or more (`_require_arithmetic` then wants both to vouch)."""
    if not equalities:
        return False
    return confidence >= (CONFIRM_MIN if equalities < 2 else CONFIRM_MIN_TWO_EQ)


def vouching_rules(
    fields: Mapping[str, FieldReading],
    active: Iterable[Rule],
    params: Mapping[str, int | None],
) -> dict[str, list[str]]:
    """Per field, the equalities that really check it.

    An equality checks a field when it was evaluated (no value of it missing), holds, and
    no other field in it took its value from the alternatives search: a corrected field
    absorbs whatever error the others carry, so its balance says nothing about them.
    Inequalities (`le`, `<= 300`) hold for most wrong numbers too and check nothing.
    """
    values = {name: f.value for name, f in fields.items()}
    out: dict[str, list[str]] = {}
    for rule in active:
        if rule.op != "eq" or rule.holds(values, params) is not True:
            continue
        for name in dict.fromkeys(rule.fields):
            if any(fields[o].corrected for o in rule.fields if o != name):
                continue
            out.setdefault(name, []).append(rule.id)
    return out


def _require_arithmetic(
    fields: dict[str, FieldReading],
    boxes: Mapping[str, Sequence[BoxCandidates]],
    active: Sequence[Rule],
    params: Mapping[str, int | None],
) -> None:
    """Flag every accepted field the arithmetic did not actually check.

    A field whose equalities could not vouch for it (a partner unread, a partner corrected,
    a parameter unknown) is flagged: the page goes to a person anyway, who must know this
    number was not checked. A field the form gives no equality at all (dates, page 2 before
    its bubbles are read) stands on the model alone and must be sure in every box.
    """
    vouching = vouching_rules(fields, active, params)
    for name, f in fields.items():
        if (
            f.reason == REASON_LOW_CONFIDENCE
            and f.value is not None
            and f.confidence >= CONFIRM_MIN
            and _pinned_by_window(name, f.value, boxes[name], active)
            and all(r.holds({name: f.value}, params) for r in active if list(r.lhs) == [name])
        ):
            # The count's date bounds settle a doubtful box the way an equality would.
            fields[name] = f = replace(f, flagged=False, reason=REASON_CONFIRMED)
        settled = f.corrected and _settled_by_constant(name, fields, boxes, active, params)
        if settled and f.flagged and f.reason == REASON_CORRECTED_CHECK.format(read=f.read_text):
            fields[name] = f = replace(
                f, flagged=False, reason=REASON_CORRECTED.format(read=f.read_text)
            )
        if f.flagged or f.value is None:
            continue
        equalities = [r.id for r in active if r.op == "eq" and name in r.fields]
        count = len(vouching.get(name, ()))
        if f.corrected:
            if count < CORRECTION_MIN_EQ_RULES and not settled:
                reason = REASON_CORRECTED_CHECK.format(read=f.read_text)
                fields[name] = replace(f, flagged=True, reason=reason)
        elif f.reason == REASON_CONFIRMED and f.confidence < CONFIRM_MIN and count < 2:
            # Confirmed below CONFIRM_MIN on two equalities, and one of them did not vouch.
            fields[name] = replace(f, flagged=True, reason=REASON_LOW_CONFIDENCE)
        elif equalities and count == 0:
            reason = REASON_UNVERIFIED.format(rules=", ".join(equalities))
            fields[name] = replace(f, flagged=True, reason=reason)
        elif not equalities and not boxes_sure(boxes[name]) and not _pinned_by_window(
            name, f.value, boxes[name], active
        ):
            fields[name] = replace(f, flagged=True, reason=REASON_UNCHECKED)


def _settled_by_constant(
    name: str,
    fields: Mapping[str, FieldReading],
    boxes: Mapping[str, Sequence[BoxCandidates]],
    active: Sequence[Rule],
    params: Mapping[str, int | None],
) -> bool:
    """Is this corrected field fixed by an equality with a constant alone (`tahun = 2024`),
    each box the correction changed having the new label among the model's likely ones?"""
    f = fields[name]
    if f.read_text is None or len(f.read_text) != len(f.text):
        return False
    for i, (was, now) in enumerate(zip(f.read_text, f.text, strict=True)):
        if was != now:
            label = "" if now == "_" else now
            if next((p for lbl, p in boxes[name][i] if lbl == label), 0.0) < SETTLED_ALT_MIN:
                return False
    values = {name: f.value}
    return any(
        rule.op == "eq" and list(rule.lhs) == [name] and not rule.rhs and rule.rhs_param is None
        and rule.holds(values, params) is True
        for rule in active
    )


def _window(name: str, rules: Iterable[Rule]) -> tuple[int, int] | None:
    """The range constant bounds on `name` alone allow (the date's `>= 14`, `<= 15`)."""
    low, high = None, None
    for rule in rules:
        if list(rule.lhs) != [name] or rule.rhs or rule.rhs_param is not None:
            continue
        bound = rule.rhs_const
        if rule.op in ("ge", "gt"):
            bound += rule.op == "gt"
            low = bound if low is None else max(low, bound)
        elif rule.op in ("le", "lt"):
            bound -= rule.op == "lt"
            high = bound if high is None else min(high, bound)
    return None if low is None or high is None else (low, high)


def _pinned_by_window(
    name: str, value: int, boxes: Sequence[BoxCandidates], rules: Iterable[Rule]
) -> bool:
    """Do the form's bounds pin this field down without an equality?

    Yes when they leave at most WINDOW_VALUES numbers, the reading is one of them and no
    other reading the model gives any weight lies in the window: a `14` whose doubtful box
    could also be a `9` (19) is still 14, one that could be a `5` (15) is not settled.
    """
    window = _window(name, rules)
    if window is None or window[1] - window[0] + 1 > WINDOW_VALUES:
        return False
    if not window[0] <= value <= window[1]:
        return False
    rivals = [a.value for a in _field_alternatives(boxes) if a.value != value]
    return not any(v is not None and window[0] <= v <= window[1] for v in rivals)


def boxes_sure(boxes: Sequence[BoxCandidates]) -> bool:
    """Every box is marked, its first label near the model's ceiling, no rival in sight.

    An empty box is never sure: emptiness is decided by ink mass before the model, so a
    faint `1` and bare paper look alike (`_32` may be 132).
    """
    for candidates in boxes:
        if not candidates or candidates[0][0] == "":
            return False
        if candidates[0][1] < UNCHECKED_BOX_MIN:
            return False
        if len(candidates) > 1 and candidates[1][1] > UNCHECKED_RIVAL_MAX:
            return False
    return True


def _top_value(alts: Sequence[_Alternative]) -> int | None:
    return alts[0].value if alts else None


def _consistent_assignments(
    rules: Sequence[Rule],
    first: Mapping[str, int | None],
    searched: Sequence[str],
    alternatives: Mapping[str, Sequence[_Alternative]],
    params: Mapping[str, int | None],
) -> dict[tuple[int | None, ...], float]:
    """Value tuples (over `searched`) that make every rule hold, with their likelihood."""
    if not searched:
        ok = all(r.holds(first, params) is not False for r in rules)
        return {(): 1.0} if ok else {}
    values = dict(first)
    relevant = [r for r in rules if any(n in searched for n in r.fields)]
    fixed_ok = all(r.holds(first, params) is not False for r in rules if r not in relevant)
    if not fixed_ok:
        # A rule among fields with no doubt fails: no alternative can repair it.
        return {}
    found: dict[tuple[int | None, ...], float] = {}
    for combo in itertools.product(*(alternatives[n] for n in searched)):
        pairs = list(zip(searched, combo, strict=True))
        # An alternative may not escape the rules by turning a read number into nothing.
        if any(alt.value is None and first[name] is not None for name, alt in pairs):
            continue
        for name, alt in pairs:
            values[name] = alt.value
        if all(r.holds(values, params) is not False for r in relevant):
            key = tuple(a.value for a in combo)
            found[key] = math.prod(a.score for a in combo)
    return found


def _flag_ambiguous(
    fields: dict[str, FieldReading],
    searched: Sequence[str],
    consistent: Mapping[tuple[int | None, ...], float],
    reasons: list[str],
) -> None:
    """Several readings fit the arithmetic: flag every field on which they disagree."""
    if len(consistent) < 2:
        for name in searched:
            f = fields[name]
            if not f.flagged:
                fields[name] = replace(f, flagged=True, reason="bacaan tidak pasti")
        return
    keys = sorted(consistent, key=lambda k: consistent[k], reverse=True)[:3]
    for i, name in enumerate(searched):
        options = sorted({k[i] for k in keys}, key=lambda v: -1 if v is None else v)
        if len(options) > 1:
            text = " / ".join("kosong" if v is None else str(v) for v in options)
            fields[name] = replace(
                fields[name], flagged=True, reason=REASON_AMBIGUOUS.format(options=text)
            )
    names = [n for i, n in enumerate(searched) if len({k[i] for k in keys}) > 1]
    if names:
        reasons.append(f"Beberapa bacaan memenuhi aturan untuk {', '.join(names)}")
