"""Photos in chunks, and the token bucket that caps their bandwidth.

A photo is sent as `count` chunks of `chunk_bytes` (the last one shorter); each
chunk is its own signed message carrying index, count, offset and the photo's
SHA-256, so central can reassemble and verify, and the relay can resume from the
first unacknowledged chunk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def photo_path(photo_dir: Path, sha256: str) -> Path:
    return photo_dir / sha256[:2] / sha256


def chunk_count(size: int, chunk_bytes: int) -> int:
    return max(1, -(-size // chunk_bytes))


def read_chunk(path: Path, index: int, chunk_bytes: int) -> bytes:
    with path.open("rb") as fh:
        fh.seek(index * chunk_bytes)
        return fh.read(chunk_bytes)


@dataclass
class TokenBucket:
    """At most `rate` bytes per second on average, bursts up to `capacity`.

    `take` may drive the level negative (a chunk bigger than the tokens left goes out
    whole) and later chunks wait until the debt is paid back.
    """

    rate: float
    capacity: float
    clock: Callable[[], float] = time.monotonic
    level: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.level = self.capacity
        self.stamp = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def ready(self) -> bool:
        self._refill()
        return self.level > 0

    def take(self, n: int) -> None:
        self._refill()
        self.level -= n
