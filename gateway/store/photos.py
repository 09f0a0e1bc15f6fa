"""Photo and rectified-page files: written durably before any row points at them.

A file is written to a temporary name in its final folder, fsynced, renamed into
place and the folder fsynced, so after a power cut the file is either complete
or absent, never a truncated JPEG that a committed row refers to.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

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
