"""What really checks a field: the equalities that vouch for it, and the bar a field must
clear when none does (`vision.rules` applies it after its search).

The safety argument: a field is accepted only when it is confident and an equality that ran
holds on it without another field having been changed to make it hold; a field no equality
covers must be near-certain in every box (or pinned by narrow bounds, as the date).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from vision.alternatives import field_alternatives
from vision.fields import REASON_LOW_CONFIDENCE, BoxCandidates
from vision.reading import FieldReading
from vision.template import Rule
from vision.twin_readings import twin_holds

# A doubtful field that the arithmetic confirms is accepted only above this confidence:
# half, less the int8 softmax's rounding. Its ceiling is 255/256, never 1, so a field with one
# box at even odds (the model's 1-or-7, or a blank box doubted for a faint mark:
# `faint.DOUBT_SHARE`) and two sure boxes is 0.5 x (255/256)^2 = 0.496; at 0.5 such a field
# could never be settled by its sum, only by two.
CONFIRM_MIN = 0.49
# ...or above this one when two equalities (its row and its column) hold on it: a wrong
# number balancing two independent sums by chance is far less likely than a doubtful pen.
CONFIRM_MIN_TWO_EQ = 0.2
# A corrected field passes without a person only when this many equalities check it: one
# balanced sum can be luck, two independent ones (its row and its column) are evidence...
CORRECTION_MIN_EQ_RULES = 2
# ...or when an equality with a constant alone settles it (the year: 2024) and the model
# itself gave each corrected box this much probability (a field first read as that value:
# each box). Sure partners are not enough: the 23 read as 73 at 0.992 was "sure", and a
# correction balancing a sum with it was wrong.
SETTLED_ALT_MIN = 0.1

# A field no equality checks (dates, page 2 without its bubbles) is accepted on the model's
# word only when every box is within 5 steps of the int8 softmax's ceiling (1/256 each:
# 0.97 is a coarse "probably", the 23 -> 73 misreading had it) and no runner-up has more
# than 3 steps. Measured on synthetic photos, even saturated boxes are wrong now and then,
# so this bounds the risk; only an equality (or the bubbles) removes it.
UNCHECKED_BOX_MIN = 251 / 256
UNCHECKED_RIVAL_MAX = 3 / 256
# ...and, where nothing at all checks it (no equality, no bubble: `box_stands_alone`), with
# no rival the model gave even one step. Whole-TPS hunts found page 2 read alone without
# its bubbles passing 5 sure misreads: `X27` for 21, `X65` for 63 and `X75` for 76 with the
# truth one step behind (a `7` at 255/256 for a `1`, `5` for `3`, `5` for `6`), `X79` for 29
# and `X14` for 44. This bar flags the first four; the last, every box saturated, still
# passes alone (and is flagged once its TPS is read together). Its price
# (2026-12-08): the 150 page 2 photos with no bubble filled go to a person 51.3 -> 64.7% read
# alone; their TPS read together 22.7 -> 26.0% (`bench_tps`); pages with bubbles the same.
ALONE_RIVAL_MAX = 0.5 / 256
# A doubted box's runner-up at least this likely is a confusion worth looking for in the
# partners that would settle it (`_confusions`): the alternatives' own floor.
CONFUSION_MIN = 0.02
# Bounds that leave this few numbers (the day of the count: 14 or 15) check a field whose
# doubtful boxes have no rival reading inside them.
WINDOW_VALUES = 2

REASON_UNVERIFIED = "tidak dapat diperiksa dengan aritmetika ({rules}), mohon periksa"
REASON_UNCHECKED = "tidak ada aturan yang memeriksa dan tulisan kurang pasti"
REASON_CORRECTED = "dikoreksi oleh aritmetika (terbaca {read})"
REASON_CORRECTED_CHECK = "dikoreksi oleh aritmetika (terbaca {read}), mohon periksa"
REASON_CONFIRMED = "dikuatkan oleh aritmetika"
REASON_EQUALS_FAILING = "sama dengan {partner} ({rule}), yang aturannya tidak terpenuhi"


def sums_settle(confidence: float, equalities: int) -> bool:
    """May holding sums clear a doubted pen? Half the model's confidence with one equality,
    CONFIRM_MIN_TWO_EQ with two or more (`_require_arithmetic` then wants both to vouch)."""
    if not equalities:
        return False
    return confidence >= (CONFIRM_MIN if equalities < 2 else CONFIRM_MIN_TWO_EQ)


def yields_to_failure(f: FieldReading) -> bool:
    """Does a failing rule's reason replace this field's own? Yes when it has none, or was
    only confirmed by sums (one of which now fails); a reason of its own is kept."""
    return not f.flagged or f.reason in (None, REASON_CONFIRMED)


def settling_equalities(
    fields: Mapping[str, FieldReading], ruled: Sequence[str], rules: Sequence[Rule],
    boxes: Mapping[str, Sequence[BoxCandidates]], params: Mapping[str, int | None],
) -> dict[str, int]:
    """Per field, the equalities that may settle the model's doubt about it: one holding
    sum settles one doubt, not two, so an equality counts only when no other field in it is
    doubted too (each would be settled on the other: 131 + 5 = 136 holds as 191 + 5 = 196
    would, and nothing but the doubted boxes says which). Nor when a partner shows one of
    the field's confusions (`_confusions`, `_shows`) and the two read the other way would
    break no rule (`twin_readings`)."""
    doubts = {n for n in ruled if fields[n].reason == REASON_LOW_CONFIDENCE}
    confusions = {name: _confusions(boxes[name]) for name in ruled}
    hard = [r for r in rules if not r.soft]
    values = {n: f.value for n, f in fields.items()}

    def settles(rule: Rule, name: str) -> bool:
        others = set(rule.fields) - {name}
        if others & doubts:
            return False
        return not any(
            _shows(boxes[o], confusions[name])
            and twin_holds(name, o, boxes, confusions[name], values, hard, params)
            for o in others
        )

    return {
        name: sum(1 for r in rules if r.op == "eq" and name in r.fields and settles(r, name))
        for name in ruled
    }


def _confusions(boxes: Sequence[BoxCandidates]) -> set[tuple[str, str]]:
    """(label, runner-up) of each box of a field the model doubts, its runner-up at least
    CONFUSION_MIN likely."""
    return {(c[0][0], c[1][0]) for c in boxes
            if len(c) > 1 and not box_sure(c) and c[1][1] >= CONFUSION_MIN}


def _shows(partner: Sequence[BoxCandidates], confusions: set[tuple[str, str]]) -> bool:
    """Does a partner's box read one of these labels with its runner-up as its own, at any
    weight? One hand's errors go together: seed 912231's marker `2`s in a disability row's L
    and J read `8`, L 0.992 (`2` 0.008) and J 0.82 (`2` 0.18); L + P = J held at 8 + 0 = 8,
    and the nearly sure L settled the doubted J."""
    return any(len(c) > 1 and c[1][1] > 0 and (c[0][0], c[1][0]) in confusions
               for c in partner)


def share_failures(
    fields: dict[str, FieldReading],
    active: Iterable[Rule],
    params: Mapping[str, int | None],
    failing: Iterable[Iterable[str]],
) -> None:
    """Flag, in place, every field a holding equality of two fields (`x = y`) ties to a field
    of a failing rule, and so on along such equalities.

    The form says the two are one number, so the rule failing on one fails on the other:
    seed 903894 lost the officer's leading `1` in I.B.4 J and in II.2 alike (148 read 48).
    J's own row (86 + 62 = 148) failed, II.2 = J held at 48 = 48, and II.2 was checked by
    II.1 = II.2 + II.3 + II.4, which the same lost `1` in II.1 balanced (85 = 48 + 1 + 36).
    Flagged, II.2 then vouches for no other field of that sum (`vouching_rules`).
    `failing`: the fields of each failing rule.
    """
    values = {name: f.value for name, f in fields.items()}
    pairs = [
        r for r in active
        if r.op == "eq" and len(r.lhs) == 1 and len(r.rhs) == 1 and not r.rhs_const
        and not r.rhs_pct and r.rhs_param is None and r.holds(values, params) is True
    ]
    implicated = {name for names in failing for name in names}
    frontier = sorted(implicated)
    while frontier:
        name = frontier.pop()
        for rule in pairs:
            if name not in rule.fields:
                continue
            (partner,) = [o for o in rule.fields if o != name]
            if partner in implicated:
                continue
            implicated.add(partner)
            frontier.append(partner)
            f = fields[partner]
            if yields_to_failure(f):
                reason = REASON_EQUALS_FAILING.format(partner=name, rule=rule.id)
                fields[partner] = replace(f, flagged=True, reason=reason)


def vouching_rules(
    fields: Mapping[str, FieldReading],
    active: Iterable[Rule],
    params: Mapping[str, int | None],
) -> dict[str, list[str]]:
    """Per field, the equalities that really check it.

    An equality checks a field when it was evaluated (no value of it missing), holds, and
    no other field in it took its value from the alternatives search: a corrected field
    absorbs whatever error the others carry, so its balance says nothing about them. Nor
    is any other field in it flagged: a sum holding on a doubtful partner says only that
    both may be wrong alike (one officer's `1` read `7` in P and in J: 0 + 7 = 7 held, and
    J's 7 passed on it). Inequalities (`le`, `<= 300`) hold for most wrong numbers too and
    check nothing.
    """
    values = {name: f.value for name, f in fields.items()}
    holding = [r for r in active if r.op == "eq" and r.holds(values, params) is True]
    base = _vouching(fields, holding, {})
    return _vouching(fields, holding, _anchors(fields, base))


def _vouching(
    fields: Mapping[str, FieldReading], holding: Sequence[Rule], anchors: Mapping[str, set[str]]
) -> dict[str, list[str]]:
    """Per field, the holding equalities in which every other corrected field is anchored
    by some other equality (`_anchors`) and no other field is flagged."""
    out: dict[str, list[str]] = {}
    for rule in holding:
        for name in dict.fromkeys(rule.fields):
            if any(
                (fields[o].corrected and not anchors.get(o, set()) - {rule.id})
                or (fields[o].flagged and not fields[o].corrected)
                for o in rule.fields
                if o != name
            ):
                continue
            out.setdefault(name, []).append(rule.id)
    return out


def _anchors(
    fields: Mapping[str, FieldReading], base: Mapping[str, list[str]]
) -> dict[str, set[str]]:
    """Corrected fields the other fields fix twice over: per field, the equalities free of
    other corrections that hold on it, when there are at least two.

    Such a field is as good as read: each of those equalities pins its value, so an error in
    one equality's other fields would have to be matched by one in another's for both to
    hold, the same coincidence a plain equality needs. `II.2` corrected to equal a checked
    `I.B.4 (J)` and balancing `II.1 = II.2 + II.3 + II.4` still checks II.1, II.3 and II.4;
    a correction on one sum alone anchors nothing.
    """
    return {
        name: set(base.get(name, ()))
        for name, f in fields.items()
        if f.corrected and len(base.get(name, ())) >= CORRECTION_MIN_EQ_RULES
    }


def require_arithmetic(
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
        settled = _settled_by_constant(name, fields, boxes, active, params)
        if settled and f.flagged and f.reason == REASON_CORRECTED_CHECK.format(read=f.read_text):
            fields[name] = f = replace(
                f, flagged=False, reason=REASON_CORRECTED.format(read=f.read_text)
            )
        elif settled and f.flagged and f.reason == REASON_LOW_CONFIDENCE and not f.corrected:
            # Read as the one value the constant allows: as good as a correction to it.
            fields[name] = f = replace(f, flagged=False, reason=REASON_CONFIRMED)
        if f.flagged or f.value is None:
            continue
        equalities = [r for r in active if r.op == "eq" and name in r.fields]
        # Named to the officer: the form's own sums (a soft rule is no rule of the form).
        named = [r.id for r in equalities if not r.soft] or [r.id for r in equalities]
        count = len(vouching.get(name, ()))
        if f.corrected:
            if count < CORRECTION_MIN_EQ_RULES and not settled:
                reason = REASON_CORRECTED_CHECK.format(read=f.read_text)
                fields[name] = replace(f, flagged=True, reason=reason)
        elif (f.reason == REASON_CONFIRMED and f.confidence < CONFIRM_MIN and count < 2
              and not settled):
            # Confirmed below CONFIRM_MIN on two equalities, and one of them did not vouch.
            fields[name] = replace(f, flagged=True, reason=REASON_LOW_CONFIDENCE)
        elif equalities and count == 0:
            reason = REASON_UNVERIFIED.format(rules=", ".join(named))
            fields[name] = replace(f, flagged=True, reason=reason)
        elif not equalities and not boxes_stand_alone(boxes[name]) and not _pinned_by_window(
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
    """Is this field fixed by an equality with a constant alone (`tahun = 2024`), each box
    that reading rests on having its label among the model's likely ones: the boxes a
    correction changed, or every box of a field read so at first? The first reading then
    needs no more than a correction to the same value would (seed 10161: the year's `0` read
    0.43, `6` 0.37; 2624 is no year of this count, and a correction to 2024 resting on a `0`
    at 0.38 already passed)."""
    f = fields[name]
    if f.value is None:
        return False
    read = f.read_text if f.corrected else f.text
    if read is None or len(read) != len(f.text):
        return False
    for i, (was, now) in enumerate(zip(read, f.text, strict=True)):
        if was != now or not f.corrected:
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

    Yes when they leave at most WINDOW_VALUES numbers, the reading is one of them, every
    box where those numbers differ is sure, and no other reading the model gives any weight
    lies in the window. The window settles the boxes it fixes, not the one it leaves open:
    a `14` whose faint `1` is doubted is 14, but one whose `4` is doubted is not settled
    even when the model gives `5` no weight (hunt TPS 1901018: a `5` read as `4` at 0.54,
    its rivals `0` and `9`, passed as 14 for 15).
    """
    window = _window(name, rules)
    if window is None or window[1] - window[0] + 1 > WINDOW_VALUES:
        return False
    if not window[0] <= value <= window[1]:
        return False
    texts = [str(v).rjust(len(boxes)) for v in range(window[0], window[1] + 1)]
    if any(len(t) != len(boxes) for t in texts):
        return False
    open_boxes = [i for i in range(len(boxes)) if len({t[i] for t in texts}) > 1]
    if not all(box_sure(boxes[i]) for i in open_boxes):
        return False
    rivals = [a.value for a in field_alternatives(boxes) if a.value != value]
    return not any(v is not None and window[0] <= v <= window[1] for v in rivals)


def boxes_stand_alone(boxes: Sequence[BoxCandidates]) -> bool:
    """May the model's word alone carry this field? Every box `box_stands_alone`.

    An empty box never does: emptiness is decided by ink mass before the model, so a faint
    `1` and bare paper look alike (`_32` may be 132).
    """
    return all(box_stands_alone(candidates) for candidates in boxes)


def box_stands_alone(candidates: BoxCandidates) -> bool:
    """`box_sure`, and the model gave no other label even one step (ALONE_RIVAL_MAX)."""
    return box_sure(candidates) and not (
        len(candidates) > 1 and candidates[1][1] > ALONE_RIVAL_MAX
    )


def unsure_boxes(boxes: Sequence[BoxCandidates]) -> tuple[int, ...]:
    """The boxes (0 = leftmost) `box_sure` does not pass."""
    return tuple(i for i, candidates in enumerate(boxes) if not box_sure(candidates))


def box_sure(candidates: BoxCandidates) -> bool:
    """Marked, its first label near the model's ceiling, no rival in sight (3 steps)."""
    if not candidates or candidates[0][0] == "":
        return False
    if candidates[0][1] < UNCHECKED_BOX_MIN:
        return False
    return not (len(candidates) > 1 and candidates[1][1] > UNCHECKED_RIVAL_MAX)
