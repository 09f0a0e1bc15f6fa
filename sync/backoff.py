"""Reconnect delays: exponential growth with full jitter, our own (paho's is off).

Full jitter (a uniform draw between 0 and the current ceiling) spreads a kecamatan's
boxes apart after a central outage instead of reconnecting them in lock-step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    min_s: float = 1.0
    max_s: float = 120.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.min_s * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 62)
        return self.rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        self.attempt = 0
