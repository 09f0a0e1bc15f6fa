"""One TPS's pages read together: the form's cross-page sums vouch for doubted fields.

Page 2 has no sum of its own: the candidate pairs' votes add up to `suara_sah`, which is on
page 3. Read alone, a page 2 whose bubbles were left empty stands on the model's word, and a
leading box read empty may have held a lost `1` (`_63` may be 163). Once page 3 is read too,
`suara_paslon_1 + 2 + 3 = suara_sah` checks each of them the way a page's own sums check
its fields; page 1's totals meet page 3's `suara_total` the same way.

The bar is the page's own (`vision.vouching`): a doubted field is vouched only by an equality
that holds with every other field in it accepted and not corrected (one holding sum settles
one doubt, not two), and only when its confidence clears `sums_settle`. This module adds one
more condition a page alone cannot have: every cross-page rule that can be evaluated holds,
and the field's own page passes all its checks. A TPS whose pages disagree goes to a person:
every page with a field in a failing cross-page rule, those fields flagged, even a page that
passed alone (its `_31` may be the 131 page 3's `suara_sah` says).

One exception to "one sum, one doubt", for the doubt an officer who skips the bubbles leaves
most often: a field whose every written box is sure and whose only doubt is an empty box
before its first digit (`_63`). Such a field can only be larger than read (a lost digit adds
to it, never subtracts), so when every doubted field of a holding sum is of this kind and on
the same side of it, no other reading of them balances it: `_63 + _52 = 115` rules out 163
and 152 together. Doubted fields on opposite sides could grow alike and still balance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from vision.checks import check_rules, load_rules, load_tps_rules
from vision.fields import REASON_LOW_CONFIDENCE
from vision.reading import (
    STATUS_ACCEPTED,
    STATUS_NEEDS_REVIEW,
    STATUS_REJECTED,
    Check,
    FieldReading,
    Reading,
)
from vision.template import Rule, template_for_page
from vision.vouching import REASON_UNCHECKED, REASON_UNVERIFIED, sums_settle, vouching_rules

REASON_CROSS_PAGE = "dikuatkan oleh aturan lintas halaman ({rules})"
REASON_CROSS_PAGE_FAILS = "aturan lintas halaman tidak terpenuhi: {rules}"


@dataclass
class TpsReading:
    """A TPS's pages after the cross-page rules had their say."""

    pages: dict[int, Reading]
    checks: list[Check]
    # Per field the cross-page equalities that vouched for it, in the rules' order.
    vouched: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tps_checks": [c.to_dict() for c in self.checks],
            "vouched": {name: list(rules) for name, rules in self.vouched.items()},
            "pages": {str(p): r.status for p, r in sorted(self.pages.items())},
        }


def _doubted(f: FieldReading) -> bool:
    """Flagged only because nothing checked it, or because the pen was doubted; never a
    disagreement (bubbles, a failing sum, a malformed field) or an arithmetic correction."""
    if not f.flagged or f.value is None or f.corrected or f.reason is None:
        return False
    unverified = REASON_UNVERIFIED.split(" (", 1)[0]
    return f.reason in (REASON_UNCHECKED, REASON_LOW_CONFIDENCE) or f.reason.startswith(
        unverified
    )


def vouch_tps(pages: Mapping[int, Reading], *, dpt: int | None = None) -> TpsReading:
    """Check one TPS's pages (keyed by page number) against the cross-page rules and accept
    the doubted fields they vouch for. The readings given are not changed; a page whose
    every flag is vouched for comes back `accepted`. Rejected pages take no part."""
    read = {p: r for p, r in pages.items() if r.status != STATUS_REJECTED}
    fields: dict[str, FieldReading] = {}
    page_of: dict[str, int] = {}
    for page in sorted(read):
        for name, f in read[page].fields.items():
            fields[name] = f
            page_of[name] = page
    params = {"dpt": dpt}
    rules = [r for r in load_tps_rules() if r.applies(params)]
    checks = check_rules(rules, {name: f.value for name, f in fields.items()}, params)
    out = TpsReading(pages=dict(pages), checks=checks)
    failing = [c for c in checks if not c.ok]
    if failing:
        # Which page holds the wrong number the rules cannot say: each page with a field in
        # a failing rule goes to a person, its fields in it flagged. Even when another field
        # of the rule is flagged already: a sure misreading may sit beside a doubted one
        # (TPS 1900590: page 2's `X79` for 29, every box sure, beside two doubted votes).
        for page, reading in read.items():
            mine = [c for c in failing if any(page_of.get(n) == page for n in c.fields)]
            if mine:
                out.pages[page] = _unchecked_now(reading, _with_failing(reading, mine), params)
        return out
    if not checks:
        return out
    evaluated = {c.rule for c in checks}  # every one holds by now
    holding = [r for r in rules if r.op == "eq" and r.id in evaluated]
    doubts = {
        name for name, f in fields.items()
        if _doubted(f) and all(c.ok for c in read[page_of[name]].checks)
    }
    for name in sorted(doubts, key=list(fields).index):
        vouching = [r.id for r in holding if name in r.fields and _settles(r, name, fields, doubts)]
        if sums_settle(fields[name].confidence, len(vouching)):
            out.vouched[name] = vouching
    for page, reading in read.items():
        names = [n for n in out.vouched if page_of[n] == page]
        if names:
            out.pages[page] = _with_vouched(reading, {n: out.vouched[n] for n in names})
    return out


def _settles(rule: Rule, name: str, fields: Mapping[str, FieldReading], doubts: set[str]) -> bool:
    """Does `rule`, which holds, settle `name`'s doubt? When every other field in it is
    accepted; or when every doubted field in it can only grow and all sit on one side."""
    others = [o for o in rule.fields if o != name]
    if all(_accepted(fields.get(o)) for o in others):
        return True
    doubted = [o for o in rule.fields if o in doubts]
    if any(o not in doubts and not _accepted(fields.get(o)) for o in others):
        return False
    one_side = all(o in rule.lhs for o in doubted) or all(o in rule.rhs for o in doubted)
    return one_side and all(_only_grows(fields[o]) for o in doubted)


def _only_grows(f: FieldReading) -> bool:
    """Every written box sure, the doubt only in empty boxes before the first digit."""
    leading = len(f.text) - len(f.text.lstrip("_"))
    return bool(f.unsure_boxes) and all(i < leading for i in f.unsure_boxes)


def _accepted(f: FieldReading | None) -> bool:
    return f is not None and f.value is not None and not f.flagged and not f.corrected


def _with_failing(reading: Reading, failing: list[Check]) -> Reading:
    """The page with its fields in `failing` flagged, and the rules' messages among its
    reasons."""
    fields = dict(reading.fields)
    reasons = list(reading.reasons)
    for check in failing:
        if check.message and check.message not in reasons:
            reasons.append(check.message)
        for name in check.fields:
            f = fields.get(name)
            if f is None or f.flagged:  # another page's field, or flagged by an earlier rule
                continue
            reason = REASON_CROSS_PAGE_FAILS.format(rules=check.rule)
            fields[name] = replace(f, flagged=True, reason=reason)
            reasons.append(f"{name}: {reason}")
    return replace(reading, fields=fields, reasons=reasons, status=STATUS_NEEDS_REVIEW)


def _unchecked_now(before: Reading, after: Reading,
                   params: Mapping[str, int | None]) -> Reading:
    """`after` (the page with the fields a cross-page rule fails on flagged) with every field
    its page's equalities vouched for before, and vouch for no more, flagged as a page alone
    would flag it (`vouching.require_arithmetic`). Hunt TPS 1903248: page 3 lost the leading
    `1` of `suara_sah` 141 and of `suara_total` 144 alike; 41 + 3 = 44 held and vouched for
    both. Page 1's 144 voters flagged `suara_total`, and `suara_sah` passed on a sum with it."""
    if after.page is None:
        return after
    rules = [r for r in load_rules(template_for_page(after.page).rules)
             if r.applies(params) and all(n in after.fields for n in r.fields)]
    had = vouching_rules(before.fields, rules, params)
    has = vouching_rules(after.fields, rules, params)
    fields = dict(after.fields)
    reasons = list(after.reasons)
    for name, f in after.fields.items():
        if f.flagged or not had.get(name) or has.get(name):
            continue
        reason = REASON_UNVERIFIED.format(rules=", ".join(had[name]))
        fields[name] = replace(f, flagged=True, reason=reason)
        reasons.append(f"{name}: {reason}")
    return replace(after, fields=fields, reasons=reasons)


def _with_vouched(reading: Reading, vouched: Mapping[str, list[str]]) -> Reading:
    fields = dict(reading.fields)
    for name, rules in vouched.items():
        reason = REASON_CROSS_PAGE.format(rules=", ".join(rules))
        fields[name] = replace(fields[name], flagged=False, reason=reason)
    # The page's reasons are its failing checks (none here) and one `name: reason` line per
    # flagged field (`verdict.set_status`).
    reasons = [r for r in reading.reasons if r.split(": ", 1)[0] not in vouched]
    accepted = not reasons and not any(f.flagged for f in fields.values())
    status = STATUS_ACCEPTED if accepted else reading.status
    return replace(reading, fields=fields, reasons=reasons, status=status)
