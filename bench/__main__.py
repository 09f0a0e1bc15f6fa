"""Run every benchmark module and print one JSON document.

Each `bench/bench_*.py` exposes `run() -> dict`; `python -m bench vision sync` runs a subset.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import platform
import sys
import time
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    # Services the benchmarks start inherit fd 1; send their logs to stderr so that
    # stdout carries only the JSON document.
    report_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if n.removeprefix("bench_") in argv]
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "machine": platform.machine()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"# running {name}", file=sys.stderr, flush=True)
        report[name.removeprefix("bench_")] = module.run()
    print(json.dumps(report, indent=2), file=report_out, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
