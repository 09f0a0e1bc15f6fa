"""Per-address brake on failed sign-ins, on top of the store's per-login lockout.

The per-login lockout stops guessing one account's PIN; this stops one phone from trying
one common PIN on every TPS code. Kept in memory: a restart clears it, the persisted
per-login lockout does not.
"""

from __future__ import annotations

import threading
import time
from collections import deque

MAX_FAILURES = 20
WINDOW_S = 600.0


class FailureWindow:
    def __init__(self, limit: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def blocked_for(self, key: str) -> float:
        """Seconds until `key` may try again (0 when it may)."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(key, now)
            if len(times) < self.limit:
                return 0.0
            return max(0.0, self.window_s - (now - times[0]))

    def record_failure(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(key, now).append(now)
