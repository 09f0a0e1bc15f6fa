"""Central's store on its own: gaps, replays, photo reassembly and hash check."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sync.central.store import CentralStore
from sync.envelope import Envelope, Message, topic_for

BOX = "box-317101-test"


def msg(seq: int, id_: str | None = None, kind: str = "reading", body: bytes = b"",
        chunk: dict[str, int] | None = None, sha: str | None = None) -> Message:
    env = Envelope(id=id_ or f"id-{seq}", box_id=BOX, seq=seq, kind=kind, tps="3171011001001",
                   page=1, created_at="2024-02-14T10:00:00.000Z", payload={"n": seq},
                   photo_sha256=sha, chunk=chunk)
    return Message(topic=topic_for("3171", "317101", BOX, kind), envelope=env, body=body)


def test_gaps_are_the_missing_seq_ranges(tmp_path: Path) -> None:
    store = CentralStore(tmp_path / "c.db", tmp_path / "photos")
    out = store.store_batch([msg(s) for s in (2, 3, 6, 10)])
    assert all(o.ack and not o.duplicate for o in out)
    assert store.gaps(BOX) == [[1, 1], [4, 5], [7, 9]]
    again = store.store_batch([msg(3), msg(3, id_="evil")])
    assert [(o.ack, o.duplicate, o.reason) for o in again] == [(True, True, None),
                                                                (False, False, "replayed")]
    (box,) = store.status()["boxes"]
    assert box["stored"] == 4 and box["last_seq"] == 10
    assert store.status()["refused"] == {"replayed": 1}
    store.close()


def test_photo_is_reassembled_in_any_chunk_order_and_hash_checked(tmp_path: Path) -> None:
    store = CentralStore(tmp_path / "c.db", tmp_path / "photos")
    data = bytes(range(256)) * 40
    sha = hashlib.sha256(data).hexdigest()
    parts = [data[i:i + 4000] for i in range(0, len(data), 4000)]

    def chunk(i: int, seq: int = 1, digest: str = sha) -> Message:
        c = {"index": i, "count": len(parts), "offset": i * 4000, "photo_size": len(data)}
        return msg(seq, kind="photo", body=parts[i], chunk=c, sha=digest)

    store.store_batch([chunk(2), chunk(0)])
    assert store.status()["boxes"][0]["photos_partial"] == 1
    assert [o.duplicate for o in store.store_batch([chunk(0), chunk(1)])] == [True, False]
    assert (tmp_path / "photos" / sha[:2] / sha).read_bytes() == data
    st = store.status()["boxes"][0]
    assert (st["photos_complete"], st["photos_partial"], st["stored"]) == (1, 0, 1)
    # chunks that do not hash to the announced photo are never written as that photo
    wrong = "0" * 64
    store.store_batch([chunk(i, seq=2, digest=wrong) for i in range(len(parts))])
    assert not (tmp_path / "photos" / wrong[:2] / wrong).exists()
    st = store.status()["boxes"][0]
    assert (st["photos_complete"], st["photos_partial"], st["photos_bad_hash"]) == (1, 0, 1)
    store.close()
