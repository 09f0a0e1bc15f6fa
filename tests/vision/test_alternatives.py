"""The search for value combinations that make a page's rules hold."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence

from vision.alternatives import (
    Alternative,
    cancelling_ratio,
    consistent_assignments,
    twin_ratio,
)
from vision.template import Rule, load_templates

Values = dict[str, int | None]
Case = tuple[list[Rule], Values, list[str], dict[str, list[Alternative]], Values]


def _every_combination(
    rules: Sequence[Rule], first: Mapping[str, int | None], searched: Sequence[str],
    alternatives: Mapping[str, Sequence[Alternative]], params: Mapping[str, int | None],
) -> dict[tuple[int | None, ...], float]:
    """The definition: try every combination of the searched fields' alternatives."""
    found = {}
    for combo in itertools.product(*(alternatives[n] for n in searched)):
        if any(a.value is None and first[n] is not None
               for n, a in zip(searched, combo, strict=True)):
            continue
        values = dict(first) | {n: a.value for n, a in zip(searched, combo, strict=True)}
        if all(r.holds(values, params) is not False for r in rules):
            found[tuple(a.value for a in combo)] = math.prod(a.score for a in combo)
    return found


def _page_1_case(rng: random.Random) -> Case:
    """Page 1's rules over a consistent set of counts, some fields doubtful: each has the
    true value among up to four alternatives (or not), as the model's runners-up give."""
    template = next(t for t in load_templates().values() if t.page == 1)
    rules = list(template.rules)
    voters = {side: rng.randint(20, 150) for side in "lp"}
    truth: dict[str, int | None] = {}
    for row, counts in (
        ("pemilih_dpt", voters),
        ("pengguna_dpt", {side: rng.randint(0, voters[side] - 10) for side in "lp"}),
        ("pengguna_dptb", {side: rng.randint(0, 4) for side in "lp"}),
        ("pengguna_non_dpt", {side: rng.randint(0, 4) for side in "lp"}),
        ("pengguna_disabilitas", {side: rng.randint(0, 3) for side in "lp"}),
    ):
        truth |= {f"{row}_l": counts["l"], f"{row}_p": counts["p"],
                  f"{row}_j": counts["l"] + counts["p"]}
    for side in ("l", "p", "j"):
        truth[f"pengguna_total_{side}"] = sum(
            truth[f"{row}_{side}"] or 0 for row in ("pengguna_dpt", "pengguna_dptb",
                                                    "pengguna_non_dpt"))
    dpt = truth["pemilih_dpt_j"] or 0
    received = dpt + -(-dpt * 2 // 100)  # the DPT and 2% spare ballots
    used = truth["pengguna_total_j"] or 0
    spoilt = rng.randint(0, received - used)
    truth |= {"surat_suara_diterima": received, "surat_suara_digunakan": used,
              "surat_suara_rusak": spoilt, "surat_suara_sisa": received - used - spoilt}
    assert all(r.holds(truth, {"dpt": dpt}) is not False for r in template.rules)
    names = [n for n in template.field_names if n in truth]
    searched = rng.sample(names, rng.randint(1, 6))
    alternatives: dict[str, list[Alternative]] = {}
    first = dict(truth)
    for name in searched:
        true = truth[name] or 0
        values = {true, true + 10, max(0, true - 1), true + 100, None}
        chosen = rng.sample(sorted(values, key=lambda v: -1 if v is None else v),
                            rng.randint(1, 4))
        alternatives[name] = [Alternative(v, (), rng.random()) for v in chosen]
        first[name] = chosen[0]
    params: Values = {"dpt": rng.choice([None, 300, truth["pemilih_dpt_j"]])}
    return rules, first, searched, alternatives, params


def test_the_search_finds_exactly_the_combinations_that_make_every_rule_hold() -> None:
    rng = random.Random(7)
    found_any = 0
    for _ in range(300):
        case = _page_1_case(rng)
        want = _every_combination(*case)
        got = consistent_assignments(*case)
        assert got == want
        assert list(got) == list(want)  # most likely first ties keep the same order
        found_any += bool(got)
    assert found_any > 50  # the cases do exercise consistent readings, not only failures


def test_nothing_searched_is_consistent_only_when_every_rule_holds() -> None:
    template = next(t for t in load_templates().values() if t.page == 1)
    rules = list(template.rules)
    holding = {n: 0 for n in template.field_names}
    assert consistent_assignments(rules, holding, [], {}, {}) == {(): 1.0}
    broken = holding | {"pemilih_dpt_j": 5}
    assert consistent_assignments(rules, broken, [], {}, {}) == {}


def test_a_rival_of_one_substitution_repeated_is_as_likely_as_its_least_likely_box() -> None:
    # One hand's `1` read `7` (0.89, the `1` 0.105) in two fields: the two errors go together.
    doubt = [("7", 0.891), ("1", 0.105)]
    boxes = {"sah": [doubt, [("3", 0.996)], [("5", 0.996)]],
             "total": [[("7", 0.8), ("1", 0.19)], [("3", 0.996)], [("7", 0.996)]]}
    first = {"sah": Alternative(735, ("7", "3", "5"), 0.88),
             "total": Alternative(737, ("7", "3", "7"), 0.79)}
    rival = {"sah": Alternative(135, ("1", "3", "5"), 0.1),
             "total": Alternative(137, ("1", "3", "7"), 0.19)}
    assert math.isclose(twin_ratio(first, rival, boxes), 0.105 / 0.891)
    # Two different substitutions, or one box alone, are left to the product of the boxes.
    mixed = {"sah": rival["sah"], "total": Alternative(837, ("8", "3", "7"), 0.01)}
    boxes["total"][0] = [("7", 0.8), ("8", 0.19)]
    assert twin_ratio(first, mixed, boxes) == 0.0
    assert twin_ratio(first, {"sah": rival["sah"]}, boxes) == 0.0


def test_a_rival_changing_two_fields_is_as_likely_as_its_least_likely_box() -> None:
    # 157 + 5 = 162 and 159 + 3 = 162: two substitutions that cancel in the sum.
    boxes = {"sah": [[("1", 0.996)], [("5", 0.996)], [("7", 0.91), ("9", 0.078)]],
             "tidak_sah": [[("X", 0.996)], [("X", 0.996)], [("5", 0.867), ("3", 0.121)]]}
    first = {"sah": Alternative(157, ("1", "5", "7"), 0.9),
             "tidak_sah": Alternative(5, ("X", "X", "5"), 0.86)}
    rival = {"sah": Alternative(159, ("1", "5", "9"), 0.08),
             "tidak_sah": Alternative(3, ("X", "X", "3"), 0.12)}
    assert math.isclose(cancelling_ratio(first, rival, boxes), 0.078 / 0.91)
    # A rival changing one field is left to the product of its boxes.
    assert cancelling_ratio(first, {"sah": rival["sah"]}, boxes) == 0.0
