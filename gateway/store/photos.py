"""Photo and rectified-page files: written durably before any row points at them.

A file is written to a temporary name in its final folder, fsynced, renamed into
place and the folder fsynced, so after a power cut the file is either complete
or absent, never a truncated JPEG that a committed row refers to.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

PHOTOS_DIR = "photos"
RECTIFIED_DIR = "rectified"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def photo_path(data_dir: Path, sha256: str) -> Path:
    """`<data_dir>/photos/<sha[:2]>/<sha>`: the raw uploaded bytes, content-addressed."""
    return data_dir / PHOTOS_DIR / sha256[:2] / sha256


def rectified_path(data_dir: Path, upload_id: int) -> Path:
    return data_dir / RECTIFIED_DIR / f"{upload_id}.jpg"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically and durably (temp file, fsync, rename, fsync dir)."""
    folder = path.parent
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    if created:
        _fsync_dir(folder.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(folder)


def store_photo(data_dir: Path, data: bytes) -> tuple[str, Path]:
    """Keep the photo under its SHA-256; an identical file already there is left alone."""
    sha = sha256_hex(data)
    path = photo_path(data_dir, sha)
    if not (path.exists() and path.stat().st_size == len(data)):
        write_durably(path, data)
    return sha, path


INCOMING_DIR = ".incoming"
# A file left in .incoming this long is from a process that died mid-upload.
STALE_INCOMING_S = 3600.0


class IncomingPhoto(io.RawIOBase):
    """An upload's body written straight into the photo folder while it arrives, hashed
    on the way: no second copy in memory or in /tmp. `keep()` makes it durable under its
    SHA-256; closing it without `keep()` deletes it (a refused or abandoned upload)."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.data_dir = data_dir
        folder = data_dir / PHOTOS_DIR / INCOMING_DIR
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="upload.", suffix=".tmp", dir=folder)
        self.path = Path(name)
        self._file = os.fdopen(fd, "w+b")
        self._hash = hashlib.sha256()
        self.size = 0
        self._kept = False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._hash.update(view)
        self.size += len(view)
        return self._file.write(view)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def readinto(self, buffer: Any) -> int:
        return self._file.readinto(buffer)

    def read_all(self) -> bytes:
        self._file.flush()
        return self.path.read_bytes()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def keep(self) -> tuple[str, Path]:
        """fsync, then move under `photos/<sha[:2]>/<sha>` (an identical file already
        there is kept instead); returns (sha256, path)."""
        sha = self.sha256
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        path = photo_path(self.data_dir, sha)
        if path.exists() and path.stat().st_size == self.size:
            self.path.unlink(missing_ok=True)
        else:
            created = not path.parent.exists()
            path.parent.mkdir(parents=True, exist_ok=True)
            if created:
                _fsync_dir(path.parent.parent)
            os.replace(self.path, path)
            _fsync_dir(path.parent)
        self._kept = True
        return sha, path

    def close(self) -> None:
        if not self.closed:
            self._file.close()
            if not self._kept:
                self.path.unlink(missing_ok=True)
        super().close()


def remove_stale_incoming(data_dir: Path, now: float) -> int:
    """Delete upload bodies a killed web process left half-written; returns how many."""
    folder = data_dir / PHOTOS_DIR / INCOMING_DIR
    removed = 0
    for path in folder.glob("upload.*.tmp") if folder.is_dir() else ():
        with contextlib.suppress(FileNotFoundError):
            if now - path.stat().st_mtime > STALE_INCOMING_S:
                path.unlink()
                removed += 1
    return removed
