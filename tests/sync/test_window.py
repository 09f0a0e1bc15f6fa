"""The relay's in-flight window: bounded, forgets late messages, holds refused ones."""

from __future__ import annotations

from sync.window import Window


def test_window_bounds_pubacks_and_central_acks() -> None:
    w = Window(puback_limit=2, ack_limit=3)
    w.sent(1, (10, -1), now=0.0)
    w.sent(2, (11, -1), now=0.0)
    assert w.free() == 0  # two waiting for PUBACK
    assert w.puback(1) == (10, -1) and w.puback(99) is None
    assert w.free() == 1
    w.sent(3, (12, 0), now=0.0)
    assert w.free() == 0  # three waiting for central
    assert w.busy_seqs() == ([10, 11], {12})
    assert w.photo_chunks_waiting_puback() == 1
    w.acked((10, -1))
    assert w.free() == 0 and w.is_out((11, -1)) and not w.is_out((10, -1))


def test_late_messages_expire_unless_still_waiting_for_puback() -> None:
    w = Window(puback_limit=10, ack_limit=10)
    w.sent(1, (1, -1), now=0.0)
    w.sent(2, (2, -1), now=0.0)
    w.puback(1)
    assert w.expire(now=31.0, ack_timeout_s=30.0) == 1
    assert not w.is_out((1, -1)) and w.is_out((2, -1))
    w.puback(2)
    w.retry_after((2, -1), now=31.0, ack_timeout_s=30.0, delay_s=2.0)
    assert w.expire(now=32.0, ack_timeout_s=30.0) == 0
    assert w.expire(now=33.5, ack_timeout_s=30.0) == 1


def test_refused_messages_are_held_and_clear_keeps_holds() -> None:
    w = Window(puback_limit=10, ack_limit=10)
    w.sent(1, (5, -1), now=0.0)
    w.puback(1)
    w.refused((5, -1), until=30.0)
    w.sent(2, (6, -1), now=0.0)
    w.clear()
    assert w.is_out((5, -1)) and not w.is_out((6, -1)) and w.free() == 10
    w.expire(now=30.0, ack_timeout_s=99.0)
    assert not w.is_out((5, -1))
