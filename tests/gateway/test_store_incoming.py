"""A photo streamed into the photo folder as it arrives: kept durably under its SHA-256 by
`save_upload_file`, or deleted when the upload is refused, abandoned or its process died."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.store import InvalidInput, Store
from gateway.store.photos import INCOMING_DIR, STALE_INCOMING_S, IncomingPhoto, photo_path
from tests.gateway.test_store import BOX, TPS, jpeg

pytestmark = pytest.mark.filterwarnings("error::ResourceWarning")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "data", box_id=BOX, tps_codes=[TPS]) as opened:
        yield opened


def incoming_files(store: Store) -> list[Path]:
    return sorted((store.data_dir / "photos" / INCOMING_DIR).glob("*"))


def streamed(store: Store, data: bytes, chunk: int = 4096) -> IncomingPhoto:
    photo = IncomingPhoto(store.data_dir)
    for start in range(0, len(data), chunk):  # as the multipart parser writes it
        photo.write(data[start : start + chunk])
    return photo


def test_a_streamed_photo_is_kept_under_its_hash_and_queued(store: Store) -> None:
    data = jpeg(1)
    photo = streamed(store, data)
    assert photo.read_all() == data and photo.size == len(data)
    result = store.save_upload_file(photo, tps=TPS, actor="kpps1", source="kpps",
                                    content_type="image/jpeg")
    photo.close()
    sha = hashlib.sha256(data).hexdigest()
    assert result.sha256 == sha and not result.duplicate
    assert photo_path(store.data_dir, sha).read_bytes() == data
    assert incoming_files(store) == []
    upload = store.get_upload(result.upload_id)
    assert upload is not None and upload["size"] == len(data) and upload["state"] == "queued"
    # The same photo again, by either path, is the same upload; nothing is left behind.
    again = streamed(store, data)
    assert store.save_upload_file(again, tps=TPS, actor="kpps1", source="kpps").duplicate
    again.close()
    assert store.save_upload(data, tps=TPS, actor="kpps1", source="kpps").duplicate
    assert incoming_files(store) == []


def test_a_refused_or_abandoned_body_is_deleted(store: Store) -> None:
    photo = streamed(store, jpeg(2))
    with pytest.raises(InvalidInput, match="tidak terdaftar"):
        store.save_upload_file(photo, tps="9999999999999", actor="kpps1", source="kpps")
    assert len(incoming_files(store)) == 1  # still the request's until it ends
    photo.close()
    assert incoming_files(store) == []
    assert store.uploads_for_tps(TPS) == []
    empty = IncomingPhoto(store.data_dir)
    with pytest.raises(InvalidInput, match="kosong"):
        store.save_upload_file(empty, tps=TPS, actor="kpps1", source="kpps")
    empty.close()
    assert incoming_files(store) == []


def test_bodies_left_by_a_killed_process_are_cleared_when_the_store_opens(
    store: Store,
) -> None:
    # What a web process killed mid-upload leaves: its half-written bodies, never closed.
    folder = store.data_dir / "photos" / INCOMING_DIR
    folder.mkdir(parents=True)
    stale, recent = folder / "upload.dead.tmp", folder / "upload.busy.tmp"
    for path in (stale, recent):
        path.write_bytes(jpeg(3)[:5000])
    past = time.time() - STALE_INCOMING_S - 60
    os.utime(stale, (past, past))
    Store(store.data_dir, box_id=BOX).close()
    # A recent one may belong to an upload still arriving in the running web process.
    assert incoming_files(store) == [recent]
