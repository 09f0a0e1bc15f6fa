"""Alternative readings of doubtful boxes: the values a field could spell, and the value
combinations across fields that make every rule hold (`vision.rules` searches them).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from vision.fields import BoxCandidates, parse_labels
from vision.template import Rule

# Boxes the model is at least this sure of are not second-guessed.
BOX_SURE = 0.98
# Runner-up labels below this probability are not worth trying.
ALT_MIN = 0.02
# Alternative values kept per field.
ALTS_PER_FIELD = 4
# A rival reading the arithmetic cannot tell from the first: each box it changes reads the
# same other label for the same one (one officer's `1` read `7` in the hundreds of suara_sah
# and of suara_total: 735 + 2 = 737 held as 135 + 2 = 137 does). One hand's errors are not
# independent, so such a rival is as likely as its least likely box alone, not as their
# product; at least this share of the first reading's, the reading is ambiguous. So is any
# rival that changes two fields or more (`cancelling_ratio`): hunt TPS 1901932's 159 read 157
# (0.91) and 3 read 5 (0.87), 157 + 5 = 162 as 159 + 3, one photo's blur behind both errors,
# passed at a product of 1 in 80. Counted so, the benchmark's sets (9,900 photos) sent not
# one page more to a person.
TWIN_RATIO = 0.05


@dataclass(frozen=True)
class Alternative:
    value: int | None
    labels: tuple[str, ...]
    score: float


def field_alternatives(boxes: Sequence[BoxCandidates]) -> list[Alternative]:
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
    by_value: dict[int | None, Alternative] = {}
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
            by_value[parsed.value] = Alternative(parsed.value, labels, score)
    alts = [replace(alt, score=totals[alt.value]) for alt in by_value.values()]
    alts.sort(key=lambda a: a.score, reverse=True)
    return alts[:ALTS_PER_FIELD]


def top_value(alts: Sequence[Alternative]) -> int | None:
    return alts[0].value if alts else None


def consistent_assignments(
    rules: Sequence[Rule],
    first: Mapping[str, int | None],
    searched: Sequence[str],
    alternatives: Mapping[str, Sequence[Alternative]],
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
    # Depth first over `searched`, each rule checked as soon as its last searched field is
    # set: a branch that breaks a rule is cut there, not tried with every value of the fields
    # after it (a doubtful page 1 searched ~4,000 combinations in 11 ms).
    depth_of = {name: i for i, name in enumerate(searched)}
    checks: list[list[Rule]] = [[] for _ in searched]
    for rule in relevant:
        checks[max(depth_of[n] for n in rule.fields if n in depth_of)].append(rule)
    found: dict[tuple[int | None, ...], float] = {}

    def descend(depth: int, key: tuple[int | None, ...], score: float) -> None:
        name = searched[depth]
        for alt in alternatives[name]:
            # An alternative may not escape the rules by turning a read number into nothing.
            if alt.value is None and first[name] is not None:
                continue
            values[name] = alt.value
            if any(r.holds(values, params) is False for r in checks[depth]):
                continue
            if depth + 1 == len(searched):
                found[(*key, alt.value)] = score * alt.score
            else:
                descend(depth + 1, (*key, alt.value), score * alt.score)

    descend(0, (), 1.0)
    return found


def twin_ratio(
    first: Mapping[str, Alternative],
    rival: Mapping[str, Alternative],
    boxes: Mapping[str, Sequence[BoxCandidates]],
) -> float:
    """How likely `rival` is against `first` (per field, the readings of the fields it
    changes) when every box it changes, at least two, makes one and the same substitution:
    its least likely box's ratio alone. 0 for any other rival (the product model holds)."""
    return _twin(_changed_boxes(first, rival, boxes))


def cancelling_ratio(
    first: Mapping[str, Alternative],
    rival: Mapping[str, Alternative],
    boxes: Mapping[str, Sequence[BoxCandidates]],
) -> float:
    """How likely `rival` is against `first` when it changes boxes in two fields or more
    (errors that cancel in a sum): its least likely box's ratio alone. 0 for a rival that
    changes one field."""
    return _cancelling(_changed_boxes(first, rival, boxes), len(rival))


def rival_ratio(
    first: Mapping[str, Alternative],
    rival: Mapping[str, Alternative],
    boxes: Mapping[str, Sequence[BoxCandidates]],
) -> float:
    """The larger of `twin_ratio` and `cancelling_ratio`, from one walk over the boxes
    `rival` changes: the rival is ambiguous with `first` from TWIN_RATIO."""
    changes = _changed_boxes(first, rival, boxes)
    return max(_twin(changes), _cancelling(changes, len(rival)))


Change = tuple[tuple[str, str], float]  # (first's label, rival's label), their ratio


def _twin(changes: Sequence[Change]) -> float:
    swaps = {swap for swap, _ in changes}
    return min(r for _, r in changes) if len(swaps) == 1 and len(changes) >= 2 else 0.0


def _cancelling(changes: Sequence[Change], fields: int) -> float:
    return min(r for _, r in changes) if fields >= 2 and changes else 0.0


def _changed_boxes(
    first: Mapping[str, Alternative],
    rival: Mapping[str, Alternative],
    boxes: Mapping[str, Sequence[BoxCandidates]],
) -> list[Change]:
    """Each box `rival` reads otherwise than `first`: (first's label, rival's label) and the
    model's probability of the rival's label over first's."""
    out = []
    for name, alt in rival.items():
        for place, (was, now) in enumerate(zip(first[name].labels, alt.labels, strict=True)):
            if was != now:
                seen = dict(boxes[name][place])
                out.append(((was, now), seen.get(now, 0.0) / max(seen.get(was, 0.0), 1e-9)))
    return out
