"""The form's arithmetic over a page's readings: the search over alternative readings.

A rule reads `sum(lhs) op sum(rhs) + rhs_const + params[rhs_param]` (DEVELOPERS.md). A rule
is skipped, not failed, when one of its fields has no value or its parameter is unknown:
a missing number is flagged on the field itself.

The safety argument: the model's confidence alone can be wrong, and so can arithmetic that
happens to balance. A field is accepted only when it is confident and every rule it takes
part in holds. When the rules fail, the runner-up labels of the doubtful boxes are tried
(`vision.alternatives`); a single, well-supported combination that makes every rule hold may
replace the first reading (marked as corrected), anything else goes to a person with the
failing rules named. What then really checked each field is `vision.vouching`'s to say;
whether a rule holds on given values, and the sentence naming it, `vision.checks`'.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from vision.alternatives import (
    TWIN_RATIO,
    Alternative,
    consistent_assignments,
    field_alternatives,
    rival_ratio,
    top_value,
)
from vision.checks import check_rules
from vision.fields import (
    CONFIDENT,
    REASON_LOW_CONFIDENCE,
    BoxCandidates,
    parse_labels,
    read_field,
)
from vision.reading import Check, FieldReading
from vision.template import Rule
from vision.vouching import (
    CORRECTION_MIN_EQ_RULES,
    REASON_CONFIRMED,
    REASON_CORRECTED,
    REASON_CORRECTED_CHECK,
    require_arithmetic,
    settling_equalities,
    share_failures,
    sums_settle,
    unsure_boxes,
    yields_to_failure,
)

logger = logging.getLogger(__name__)

# The bound on combinations of alternatives across fields. The search cuts a branch at the
# first broken rule, so it costs far less than this; raised to 65,536 and 1,000,000 on 50
# page-1 photos written small (8 of them hit this bound), every reading stayed the same.
MAX_COMBINATIONS = 4096
# A consistent alternative within this factor of the best one makes the reading ambiguous.
AMBIGUOUS_RATIO = 0.2
# A correction must be at least this likely relative to the first reading.
CORRECTION_MIN_RATIO = 0.1
REASON_AMBIGUOUS = "beberapa bacaan memenuhi aturan ({options})"
REASON_RULE_FAILS = "aturan tidak terpenuhi: {rules}"


# --- alternative readings -------------------------------------------------------------


@dataclass
class Resolution:
    """Fields after the arithmetic has had its say, the checks on them, page-level reasons."""

    fields: dict[str, FieldReading]
    checks: list[Check]
    reasons: list[str] = field(default_factory=list)


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
    usable = [r for r in rules if r.applies(params) and all(f in fields for f in r.fields)]
    # Soft rules never fail a page: they are not searched for or checked, only counted as
    # a possible second check (`eq_count`) and, where they hold, vouch (`require_arithmetic`).
    active = [r for r in usable if not r.soft]
    reasons: list[str] = []
    for group in rule_groups(usable):
        # Each group of fields the rules tie together is searched on its own: a doubt in the
        # day of the count says nothing of the year, and must not stop the year's correction
        # (nor one disability row's ambiguity a correction of the voters' sums).
        group_active = [r for r in active if r in group]
        if group_active:
            _search_alternatives(fields, boxes, group_active, params, reasons, counted=group)
    values = {name: f.value for name, f in fields.items()}
    checks = check_rules(active, values, params)
    failing = [c for c in checks if not c.ok]
    for check in failing:
        for name in check.fields:
            f = fields[name]
            if yields_to_failure(f):
                fields[name] = replace(
                    f, flagged=True, reason=REASON_RULE_FAILS.format(rules=check.rule)
                )
            elif check.rule not in (f.reason or ""):
                fields[name] = replace(f, reason=f"{f.reason}; {check.rule}")
        if check.message:
            reasons.append(check.message)
    share_failures(fields, active, params, (c.fields for c in failing))
    require_arithmetic(fields, boxes, usable, params)
    for name, f in fields.items():
        fields[name] = replace(f, unsure_boxes=unsure_boxes(boxes[name]))
    return Resolution(fields, checks, reasons)


def rule_groups(rules: Sequence[Rule]) -> list[list[Rule]]:
    """`rules` split into groups no field links: two rules sharing a field are in one group
    (a soft rule links its fields too). In the rules' order, by each group's first rule."""
    owner: dict[str, int] = {}
    groups: list[list[Rule]] = []
    for rule in rules:
        joined = sorted({owner[n] for n in rule.fields if n in owner})
        if joined:
            into = joined[0]
            for other in joined[1:]:
                groups[into] += groups[other]
                for n, g in owner.items():
                    if g == other:
                        owner[n] = into
                groups[other] = []
        else:
            into = len(groups)
            groups.append([])
        groups[into].append(rule)
        for n in rule.fields:
            owner[n] = into
    order = {id(rule): i for i, rule in enumerate(rules)}
    return [sorted(g, key=lambda r: order[id(r)]) for g in groups if g]


def _search_alternatives(
    fields: dict[str, FieldReading],
    boxes: Mapping[str, Sequence[BoxCandidates]],
    active: Sequence[Rule],
    params: Mapping[str, int | None],
    reasons: list[str],
    counted: Sequence[Rule] = (),
) -> None:
    """Confirm, correct or flag the doubtful fields of `active` rules, in place. `counted`:
    the rules a field's possible checks are counted on (`active` and the soft ones)."""
    first = {name: f.value for name, f in fields.items()}
    eq_count: dict[str, int] = {}
    for rule in counted or active:
        if rule.op == "eq":
            for name in set(rule.fields):
                eq_count[name] = eq_count.get(name, 0) + 1

    # Fields worth searching: those in rules whose reading is doubtful or malformed.
    ruled = sorted({name for r in active for name in r.fields})
    alternatives = {name: field_alternatives(boxes[name]) for name in ruled}
    doubtful = [
        name
        for name in ruled
        if len(alternatives[name]) > 1 or fields[name].value != top_value(alternatives[name])
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

    consistent = consistent_assignments(active, first, searched, alternatives, params)
    first_ok = all(r.holds(first, params) is not False for r in active) and all(
        fields[n].reason is None or fields[n].value is not None for n in ruled
    )
    first_key = tuple(first[n] for n in searched)
    first_score = math.prod(fields[n].confidence for n in searched) if searched else 1.0

    if consistent and first_ok and first_key in consistent:
        rivals = {k: s for k, s in consistent.items() if k != first_key}
        best_rival = max(rivals.values(), default=0.0)
        twins = _twins(searched, first_key, rivals, alternatives, boxes)
        if best_rival >= AMBIGUOUS_RATIO * consistent[first_key] or twins:
            _flag_ambiguous(fields, searched, consistent, reasons, twins)
        else:
            # Every ruled field, not only the searched ones: a pen the model doubts with no
            # runner-up worth trying (under ALT_MIN) is never searched, yet its sums hold.
            settling = settling_equalities(fields, ruled, counted or active, boxes, params)
            for name in ruled:
                f = fields[name]
                doubted = f.flagged and f.reason == REASON_LOW_CONFIDENCE
                if doubted and f.value is not None and sums_settle(f.confidence, settling[name]):
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
            # Per field: a correction its row and column both check passes (if both still
            # vouch for it once every correction is made: `require_arithmetic`), whatever
            # another correction in the same search needs.
            for name, value in zip(searched, best_key, strict=True):
                alt = next(a for a in alternatives[name] if a.value == value)
                f = fields[name]
                checked = eq_count.get(name, 0) >= CORRECTION_MIN_EQ_RULES
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
            settling = settling_equalities(fields, ruled, counted or active, boxes, params)
            for name in ruled:
                # The doubted pens left as read, searched or not (no runner-up worth trying),
                # whose sums now hold; `require_arithmetic` then drops every sum a flagged
                # or unanchored correction takes part in.
                f = fields[name]
                if (
                    name not in changed
                    and f.reason == REASON_LOW_CONFIDENCE
                    and f.value is not None
                    and sums_settle(f.confidence, settling[name])
                ):
                    fields[name] = replace(f, flagged=False, reason=REASON_CONFIRMED)
            logger.info("arithmetic corrected %s", ", ".join(changed))
        else:
            _flag_ambiguous(fields, searched, consistent, reasons)


def _twins(
    searched: Sequence[str],
    first_key: tuple[int | None, ...],
    rivals: Mapping[tuple[int | None, ...], float],
    alternatives: Mapping[str, Sequence[Alternative]],
    boxes: Mapping[str, Sequence[BoxCandidates]],
) -> list[tuple[int | None, ...]]:
    """The rivals of the first reading made by one substitution repeated, or changing two
    fields or more, at least TWIN_RATIO as likely as it (`alternatives.rival_ratio`)."""
    def reading(name: str, value: int | None) -> Alternative:
        return next(a for a in alternatives[name] if a.value == value)

    first = {n: reading(n, v) for n, v in zip(searched, first_key, strict=True)}
    out = []
    for key in rivals:
        changed = {n: reading(n, v) for n, v, w in zip(searched, key, first_key, strict=True)
                   if v != w}
        if rival_ratio(first, changed, boxes) >= TWIN_RATIO:
            out.append(key)
    return out


def _flag_ambiguous(
    fields: dict[str, FieldReading],
    searched: Sequence[str],
    consistent: Mapping[tuple[int | None, ...], float],
    reasons: list[str],
    also: Sequence[tuple[int | None, ...]] = (),
) -> None:
    """Several readings fit the arithmetic: flag every field on which they disagree (the
    three likeliest and `also`)."""
    if len(consistent) < 2:
        for name in searched:
            f = fields[name]
            if not f.flagged:
                fields[name] = replace(f, flagged=True, reason="bacaan tidak pasti")
        return
    keys = sorted(consistent, key=lambda k: consistent[k], reverse=True)[:3]
    keys += [k for k in also if k not in keys]
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
