"""Whole TPS read together: each page alone, then the three with the cross-page rules
(`vision.vouch_tps`), as the box does once a TPS's pages are in.

`TITIK_BENCH_TPS` (default 150) TPS, seeds 10000 and up, each photographed as its three pages
(12 MP, the benchmark's default conditions), and page 2 once more with no bubble filled (the
officer who skips them). Per set: pages and TPS needing a person read alone and read together,
the fields the cross-page rules vouched for, and of those how many were wrong (must be 0), and
every field wrong but not flagged after them (must be 0). The page 1 reading knows the DPT.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from typing import Any

DEFAULT_TPS = 150
DEFAULT_WORKERS = 2
FIRST_SEED = 10_000


def _read_tps(seed: int) -> dict[str, Any]:
    """The three pages of one TPS, and its page 2 again with no bubble filled."""
    import cv2

    from vision.pipeline import read_form
    from vision.synthetic import BUBBLE_SKIP, BUBBLES_SKIPPED, synthetic_photo

    cv2.setNumThreads(1)
    out: dict[str, Any] = {"truth": {}, "read": {}}
    for key, page, skip in ((1, 1, BUBBLE_SKIP), (2, 2, BUBBLE_SKIP), (3, 3, BUBBLE_SKIP),
                            ("2_skipped", 2, BUBBLES_SKIPPED)):
        photo = synthetic_photo(page, seed=seed, bubble_skip=skip)
        dpt = photo.values["pemilih_dpt_j"] if page == 1 else None
        out["truth"][key] = dict(photo.values)
        out["read"][key] = read_form(photo.jpeg, dpt=dpt)
        out["read"][key].rectified_jpeg = None  # not needed here; keeps the pickles small
    return out


def _score(sets: list[dict[str, Any]], page2: int | str) -> dict[str, Any]:
    from vision.tps_vouching import vouch_tps

    total: Counter[str] = Counter()
    wrong_vouched: list[str] = []
    for i, tps in enumerate(sets):
        keys: dict[int, int | str] = {1: 1, 2: page2, 3: 3}
        alone = {p: tps["read"][k] for p, k in keys.items()}
        truth = {p: tps["truth"][k] for p, k in keys.items()}
        together = vouch_tps(alone, dpt=truth[1]["pemilih_dpt_j"])
        before = {p for p, r in alone.items() if r.status != "accepted"}
        after = {p for p, r in together.pages.items() if r.status != "accepted"}
        total["tps"] += 1
        total["pages_alone"] += len(before)
        total["pages_together"] += len(after)
        total["tps_alone"] += bool(before)
        total["tps_together"] += bool(after)
        total["page2_alone"] += 2 in before
        total["page2_together"] += 2 in after
        total["vouched"] += len(together.vouched)
        for page, reading in together.pages.items():
            for name, f in reading.fields.items():
                right = f.value == truth[page].get(name)
                if name in together.vouched and not right:
                    wrong_vouched.append(f"TPS {FIRST_SEED + i} {name}: {f.text}")
                total["wrong_not_flagged"] += not f.flagged and not right
    n = max(total["tps"], 1)
    return {
        "tps": total["tps"],
        "pages_needing_a_person_read_alone": total["pages_alone"],
        "pages_needing_a_person_read_together": total["pages_together"],
        "tps_needing_a_person_read_alone_share": round(total["tps_alone"] / n, 4),
        "tps_needing_a_person_read_together_share": round(total["tps_together"] / n, 4),
        "page2_needing_a_person_alone_share": round(total["page2_alone"] / n, 4),
        "page2_needing_a_person_together_share": round(total["page2_together"] / n, 4),
        "fields_vouched_across_pages": total["vouched"],
        "fields_vouched_wrong": len(wrong_vouched),
        "fields_vouched_wrong_examples": wrong_vouched[:10],
        "fields_wrong_not_flagged_together": total["wrong_not_flagged"],
    }


def run() -> dict[str, Any]:
    n = int(os.environ.get("TITIK_BENCH_TPS", DEFAULT_TPS))
    workers = int(os.environ.get("TITIK_BENCH_WORKERS", DEFAULT_WORKERS))
    seeds = range(FIRST_SEED, FIRST_SEED + n)
    # Spawned workers, as bench_vision's: a fork after LiteRT/OpenCV threads can hang.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        sets = list(pool.map(_read_tps, seeds, chunksize=4))
    return {
        "tps_env": f"TITIK_BENCH_TPS (default {DEFAULT_TPS})",
        "bubbles_filled": _score(sets, page2=2),
        "bubbles_skipped_on_page_2": _score(sets, page2="2_skipped"),
    }
