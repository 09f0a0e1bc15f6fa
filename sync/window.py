"""The relay's window: what is out on the link and not yet acknowledged.

A message (or photo chunk) is keyed by (seq, chunk index; -1 for no chunks). It waits
first for the broker's PUBACK, then for central's ack; both waits are bounded. A
message the broker refused is held back for a while. Everything here is memory only:
the outbox is the truth, so after a reconnect or restart the window starts empty and
whatever was out is simply sent again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Key = tuple[int, int]


@dataclass
class Window:
    puback_limit: int
    ack_limit: int
    mids: dict[int, Key] = field(default_factory=dict)  # waiting for PUBACK
    outstanding: dict[Key, float] = field(default_factory=dict)  # waiting for central's ack
    held: dict[Key, float] = field(default_factory=dict)  # refused by the broker until then

    def free(self) -> int:
        return min(self.puback_limit - len(self.mids), self.ack_limit - len(self.outstanding))

    def is_out(self, key: Key) -> bool:
        return key in self.outstanding or key in self.held

    def sent(self, mid: int, key: Key, now: float) -> None:
        self.mids[mid] = key
        self.outstanding[key] = now

    def puback(self, mid: int) -> Key | None:
        return self.mids.pop(mid, None)

    def refused(self, key: Key, until: float) -> None:
        self.outstanding.pop(key, None)
        self.held[key] = until

    def retry_after(self, key: Key, now: float, ack_timeout_s: float, delay_s: float) -> None:
        """Make `key` due again after delay_s instead of the full ack timeout."""
        if key in self.outstanding:
            self.outstanding[key] = now - ack_timeout_s + delay_s

    def acked(self, key: Key) -> None:
        self.outstanding.pop(key, None)

    def expire(self, now: float, ack_timeout_s: float) -> int:
        """Forget what central did not ack in time (it is sent again); end finished holds."""
        waiting_puback = set(self.mids.values())
        late = [k for k, t in self.outstanding.items()
                if now - t > ack_timeout_s and k not in waiting_puback]
        for k in late:
            del self.outstanding[k]
        for k in [k for k, t in self.held.items() if t <= now]:
            del self.held[k]
        return len(late)

    def clear(self) -> None:
        """The link went down: nothing is out any more (holds stay)."""
        self.mids.clear()
        self.outstanding.clear()

    def busy_seqs(self) -> tuple[list[int], set[int]]:
        """Seqs of messages out (skip them whole) and of photos with chunks out."""
        keys = (*self.outstanding, *self.held)
        return [k[0] for k in keys if k[1] < 0], {k[0] for k in keys if k[1] >= 0}

    def photo_chunks_waiting_puback(self) -> int:
        return sum(1 for k in self.mids.values() if k[1] >= 0)
