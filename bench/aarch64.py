"""The vision benchmark's photos read on the box's own architecture (aarch64) and here.

The box is a Raspberry Pi (aarch64); development and CI run on x86-64. The same photo can read
differently on the two: the model's arithmetic is the same, but floating point in OpenCV and
numpy (corner refinement, homography fit, warps) differs in the last bits, so a box is cut a
hair differently and a borderline digit can tip. `firmware_config/check-aarch64.sh` runs the
`read` step under qemu on Debian's own arm64 Python with the project's aarch64 wheels; this
module makes the photos, reads them and compares the two runs. Emulated timings mean nothing:
only what is read is compared.

    python -m bench.aarch64 prepare DIR [N]      photos 0..N-1 of `make bench` + their truth
    python -m bench.aarch64 read DIR OUT.jsonl   read every photo (on either machine)
    python -m bench.aarch64 compare A.jsonl B.jsonl   one JSON document
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

DEFAULT_PHOTOS = 150
SEED_BASE = 10_000  # `bench_vision`'s seeds: photo i is page 1 + i % 3, seed 10_000 + i


def prepare(directory: Path, n: int) -> None:
    """Write photo i as `i.jpg` and what is on its paper to `truth.json`."""
    from vision.synthetic import synthetic_photo

    directory.mkdir(parents=True, exist_ok=True)
    truth = {}
    for i in range(n):
        photo = synthetic_photo(1 + i % 3, seed=SEED_BASE + i)
        (directory / f"{i}.jpg").write_bytes(photo.jpeg)
        truth[str(i)] = {"values": photo.values, "boxes": photo.boxes}
    (directory / "truth.json").write_text(json.dumps(truth))


def read(directory: Path, out: Path) -> None:
    """One JSON line per photo: the benchmark's score of its reading, and every field as read.

    Page 1 is read with its TPS's DPT known, as a configured box reads it."""
    import cv2

    from bench.bench_vision import _score
    from vision.pipeline import read_form

    cv2.setNumThreads(1)
    truth = json.loads((directory / "truth.json").read_text())
    with out.open("w") as lines:
        for key in sorted(truth, key=int):
            photo = SimpleNamespace(**truth[key])
            dpt = photo.values.get("pemilih_dpt_j")
            reading = read_form((directory / f"{key}.jpg").read_bytes(), dpt=dpt)
            lines.write(json.dumps({
                "photo": int(key), "machine": platform.machine(),
                "score": _score(reading, photo, int(key)), "status": reading.status,
                "fields": {name: [f.value, f.text, f.flagged]
                           for name, f in reading.fields.items()},
            }) + "\n")


def compare(a_path: Path, b_path: Path) -> dict[str, Any]:
    """Each run's benchmark summary, and where the two read differently."""
    from bench.bench_vision import _summary

    runs = [[json.loads(line) for line in path.read_text().splitlines()]
            for path in (a_path, b_path)]
    if [r["photo"] for r in runs[0]] != [r["photo"] for r in runs[1]]:
        raise ValueError(f"{a_path} and {b_path} hold different photos")
    differences = []
    fields = 0
    for one, other in zip(*runs, strict=True):
        for name, read in one["fields"].items():
            fields += 1
            if other["fields"].get(name) != read:
                differences.append({"photo": one["photo"], "field": name,
                                    one["machine"]: read,
                                    other["machine"]: other["fields"].get(name)})
    keep = ("box_accuracy", "field_accuracy", "fields_wrong_not_flagged",
            "wrong_not_flagged_examples", "pages_needing_review_share", "pages_rejected")
    summaries = {}
    for run in runs:
        summary = _summary([r["score"] for r in run], len(run))
        summaries[run[0]["machine"] if run else "none"] = {k: summary[k] for k in keep}
    return {
        "photos": len(runs[0]),
        "summaries": summaries,
        "pages_with_another_status": sum(a["status"] != b["status"]
                                         for a, b in zip(*runs, strict=True)),
        "fields": fields,
        "fields_read_differently": len(differences),
        "differences": differences[:20],
    }


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "prepare":
        prepare(Path(argv[1]), int(argv[2]) if len(argv) > 2 else DEFAULT_PHOTOS)
    elif len(argv) == 3 and argv[0] == "read":
        read(Path(argv[1]), Path(argv[2]))
    elif len(argv) == 3 and argv[0] == "compare":
        print(json.dumps(compare(Path(argv[1]), Path(argv[2])), indent=2))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
