"""`bench.aarch64`: the photos the box's architecture reads, and the comparison of two runs.

The emulated run itself (`firmware_config/check-aarch64.sh`) needs qemu, Debian's arm64
packages and the network; here both runs are this machine's, so they must agree exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import aarch64


def test_two_reads_of_the_same_photos_agree_and_score_as_the_benchmark(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    aarch64.prepare(photos, 3)
    truth = json.loads((photos / "truth.json").read_text())
    assert sorted(truth) == ["0", "1", "2"] and all((photos / f"{i}.jpg").is_file()
                                                    for i in range(3))
    aarch64.read(photos, tmp_path / "a.jsonl")
    aarch64.read(photos, tmp_path / "b.jsonl")
    report = aarch64.compare(tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    assert report["photos"] == 3
    assert report["fields_read_differently"] == 0 and report["pages_with_another_status"] == 0
    # Pages 1, 2 and 3: every field of each was read and counted.
    assert report["fields"] == sum(len(t["values"]) for t in truth.values())
    (summary,) = report["summaries"].values()
    assert summary["fields_wrong_not_flagged"] == 0
    assert 0.9 <= summary["box_accuracy"] <= 1.0


def test_a_field_read_otherwise_on_the_other_machine_is_named(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    aarch64.prepare(photos, 1)
    aarch64.read(photos, tmp_path / "a.jsonl")
    line = json.loads((tmp_path / "a.jsonl").read_text())
    name, (value, text, flagged) = next(iter(line["fields"].items()))
    line["machine"] = "aarch64"
    line["fields"][name] = [value, text, not flagged]
    (tmp_path / "b.jsonl").write_text(json.dumps(line) + "\n")
    report = aarch64.compare(tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    assert report["fields_read_differently"] == 1
    (difference,) = report["differences"]
    assert difference["field"] == name and difference["aarch64"] == [value, text, not flagged]
