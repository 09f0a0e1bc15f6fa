"""Ed25519 keys of a box: generation, files, signing and verification.

Key files hold the 32-byte seed (private) or verify key (public) as base64 on one
line, so an operator can copy a `.pub` into central's key directory by hand.
"""

from __future__ import annotations

import base64
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

logger = logging.getLogger(__name__)

SIGNATURE_BYTES = 64


class KeyFileError(Exception):
    """A key file that is missing or unreadable; the message says which and why."""


@dataclass(frozen=True)
class KeyPairFiles:
    private: Path
    public: Path


def generate_key_pair(out_dir: Path, box_id: str, *, overwrite: bool = False) -> KeyPairFiles:
    """Write `<box_id>.key` (mode 0600) and `<box_id>.pub` into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    private = out_dir / f"{box_id}.key"
    public = out_dir / f"{box_id}.pub"
    if not overwrite and (private.exists() or public.exists()):
        raise KeyFileError(f"{private} or {public} already exists; refusing to overwrite a box key")
    key = SigningKey.generate()
    # O_EXCL + 0600 from the start: the seed never sits world-readable, not even briefly.
    if overwrite:
        private.unlink(missing_ok=True)
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(bytes(key)).decode() + "\n")
    public.write_text(base64.b64encode(bytes(key.verify_key)).decode() + "\n")
    return KeyPairFiles(private=private, public=public)


def _read_b64(path: Path, what: str) -> bytes:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        raise KeyFileError(
            f"{path}: no such {what} file (make one with `titik keys generate`)"
        ) from None
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise KeyFileError(f"{path}: not a base64 {what}") from None
    if len(raw) != 32:
        raise KeyFileError(f"{path}: a {what} has 32 bytes, this file holds {len(raw)}")
    return raw


def load_signing_key(path: Path) -> SigningKey:
    key = SigningKey(_read_b64(path, "private key"))
    if path.stat().st_mode & 0o077:
        logger.warning("%s can be read by other users; chmod 600 it", path)
    return key


def load_verify_key(path: Path) -> VerifyKey:
    return VerifyKey(_read_b64(path, "public key"))


def load_verify_keys(keys_dir: Path) -> dict[str, VerifyKey]:
    """Every `<box_id>.pub` in keys_dir, keyed by box id."""
    return {p.stem: load_verify_key(p) for p in sorted(keys_dir.glob("*.pub"))}


def sign(key: SigningKey, message: bytes) -> bytes:
    return bytes(key.sign(message).signature)


def verify(key: VerifyKey, message: bytes, signature: bytes) -> bool:
    try:
        key.verify(message, signature)
    except BadSignatureError:
        return False
    return True
