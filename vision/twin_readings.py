"""Could one hand's error, repeated, be what the model read? The check behind a partner that
shows a doubted box's confusion (`vouching._shows`): its balance is no witness only when
the twin reading, that confusion read the other way in both and in any other box showing
it, is a form the rules allow.

A twin that breaks a rule is no truth of any form the rules allow, so the sum's balance
keeps its weight. Seed 10105: P's `1` doubted against `7` (0.79 / 0.15) and J's `1` sure
with `7` at 0.004; 710 + 81 = 791 balances L + P = J as 110 + 81 = 191 does, but a TPS has
at most 300 voters, and the row settles P. A disability row ties nothing else (seed
912231: 8 + 0 = 8 as 2 + 0 = 2): its twin holds, and the partner stays no witness.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from itertools import combinations

from vision.fields import BoxCandidates, parse_labels
from vision.template import Rule

# Other boxes showing the same confusion tried read the other way too, at most this many
# (the likeliest runner-ups): the same hand's `2` may be in a third field the sums tie in.
MAX_ALSO = 4

Place = tuple[str, int]  # field name, box (0 = leftmost)


def twin_holds(
    name: str, partner: str, boxes: Mapping[str, Sequence[BoxCandidates]],
    confusions: Collection[tuple[str, str]], values: Mapping[str, int | None],
    rules: Sequence[Rule], params: Mapping[str, int | None],
) -> bool:
    """Does some reading hold every rule that turns a box of `name` and one of `partner`
    sharing one of `confusions` (label, runner-up) to the runner-up, and any of the other
    boxes of the rules' fields showing it too?"""
    tied = sorted({n for rule in rules for n in rule.fields if n in boxes})
    for i, own in enumerate(boxes[name]):
        pair = _pair(own)
        if pair is None or pair not in confusions:
            continue
        for j, other in enumerate(boxes[partner]):
            if _pair(other) != pair:
                continue
            base = {(name, i), (partner, j)}
            also = sorted(
                ((f, k) for f in tied for k, c in enumerate(boxes[f])
                 if (f, k) not in base and _pair(c) == pair),
                key=lambda place: -boxes[place[0]][place[1]][1][1],
            )[:MAX_ALSO]
            for size in range(len(also) + 1):
                for extra in combinations(also, size):
                    if _holds(base | set(extra), pair[1], boxes, values, rules, params):
                        return True
    return False


def _pair(candidates: BoxCandidates) -> tuple[str, str] | None:
    """A box's label and runner-up, when the model gave the runner-up any weight."""
    if len(candidates) < 2 or candidates[1][1] <= 0:
        return None
    return candidates[0][0], candidates[1][0]


def _holds(
    turned: Collection[Place], label: str, boxes: Mapping[str, Sequence[BoxCandidates]],
    values: Mapping[str, int | None], rules: Sequence[Rule], params: Mapping[str, int | None],
) -> bool:
    twin = dict(values)
    for field in {f for f, _ in turned}:
        labels = [c[0][0] if c else "" for c in boxes[field]]
        for f, k in turned:
            if f == field:
                labels[k] = label
        parsed = parse_labels(labels)
        if parsed.error is not None:
            return False  # `7X`: no number, no twin
        twin[field] = parsed.value
    return all(rule.holds(twin, params) is not False for rule in rules)
