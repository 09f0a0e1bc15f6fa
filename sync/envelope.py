"""The signed message a box sends to central, and its bytes on the wire.

Envelope fields: `{v, id, box_id, seq, kind, tps, page, created_at, payload,
photo_sha256}`, plus `chunk` (`{index, count, offset, photo_size}`) on photo chunks.
The header is canonical JSON (sorted keys, no spaces, UTF-8).

Wire format of one MQTT payload:

    b"TTK1" | signature (64) | header length (4, big-endian) | header | body

`body` is empty except on photo chunks, where it is the raw chunk bytes (no base64:
the backhaul is the scarce resource). The Ed25519 signature covers
`topic | 0x00 | header length | header | body`, so a message replayed onto another
box's topic, or a body swapped under a header, does not verify.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

from nacl.signing import SigningKey, VerifyKey

from sync.signing import SIGNATURE_BYTES, sign, verify

VERSION = 1
MAGIC = b"TTK1"
_PREFIX = len(MAGIC) + SIGNATURE_BYTES + 4
RESULT_KINDS = ("reading", "confirmation", "correction", "review")
KINDS = (*RESULT_KINDS, "audit", "photo")
ACK_PREFIX = "titik/v1/ack/"


class EnvelopeError(ValueError):
    """A message that cannot be parsed or does not verify; `reason` names the refusal."""

    def __init__(self, text: str, reason: str = "malformed") -> None:
        super().__init__(text)
        self.reason = reason


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def topic_for(kabkota: str, kecamatan: str, box_id: str, kind: str) -> str:
    return f"titik/v1/{kabkota}/{kecamatan}/{box_id}/{kind}"


def ack_topic(box_id: str) -> str:
    return f"{ACK_PREFIX}{box_id}"


@dataclass(frozen=True)
class Envelope:
    id: str
    box_id: str
    seq: int
    kind: str
    tps: str | None
    page: int | None
    created_at: str
    payload: Any
    photo_sha256: str | None = None
    chunk: dict[str, int] | None = None
    v: int = VERSION

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "v": self.v,
            "id": self.id,
            "box_id": self.box_id,
            "seq": self.seq,
            "kind": self.kind,
            "tps": self.tps,
            "page": self.page,
            "created_at": self.created_at,
            "payload": self.payload,
            "photo_sha256": self.photo_sha256,
        }
        if self.chunk is not None:
            out["chunk"] = self.chunk
        return out

    def content(self) -> bytes:
        """The message's identity-bearing bytes, without chunk details (same for every chunk)."""
        d = self.to_dict()
        d.pop("chunk", None)
        return canonical_json(d)


@dataclass(frozen=True)
class Message:
    """A verified message as central sees it."""

    topic: str
    envelope: Envelope
    body: bytes = field(repr=False)


def _signed_part(topic: str, rest: bytes) -> bytes:
    return topic.encode() + b"\x00" + rest


def encode(topic: str, env: Envelope, key: SigningKey, body: bytes = b"") -> bytes:
    return _sign_header(topic, canonical_json(env.to_dict()), key, body)


def encode_stored(topic: str, fields: dict[str, Any], payload_json: str, key: SigningKey,
                  body: bytes = b"") -> bytes:
    """`encode` for a payload already held as canonical JSON (the outbox stores it so): the
    same bytes without decoding and re-encoding the payload. `fields` are the envelope's
    other keys (`v`, `id`, `box_id`, ...)."""
    # sorted keys: the payload sits between the keys before and after "payload"; both sides
    # are never empty (box_id ... / seq, tps, v)
    before = canonical_json({k: v for k, v in fields.items() if k < "payload"})
    after = canonical_json({k: v for k, v in fields.items() if k > "payload"})
    header = before[:-1] + b',"payload":' + payload_json.encode() + b"," + after[1:]
    return _sign_header(topic, header, key, body)


def _sign_header(topic: str, header: bytes, key: SigningKey, body: bytes) -> bytes:
    rest = struct.pack(">I", len(header)) + header + body
    return MAGIC + sign(key, _signed_part(topic, rest)) + rest


def _as_envelope(d: Any) -> Envelope:
    if not isinstance(d, dict):
        raise EnvelopeError("header is not a JSON object")
    try:
        env = Envelope(
            v=d["v"],
            id=d["id"],
            box_id=d["box_id"],
            seq=d["seq"],
            kind=d["kind"],
            tps=d["tps"],
            page=d["page"],
            created_at=d["created_at"],
            payload=d["payload"],
            photo_sha256=d["photo_sha256"],
            chunk=d.get("chunk"),
        )
    except KeyError as exc:
        raise EnvelopeError(f"header lacks {exc.args[0]!r}") from None
    if env.v != VERSION:
        raise EnvelopeError(f"unknown envelope version {env.v!r}")
    if not isinstance(env.seq, int) or isinstance(env.seq, bool) or env.seq < 1:
        raise EnvelopeError(f"seq must be a positive integer, got {env.seq!r}")
    if env.kind not in KINDS or not isinstance(env.id, str) or not isinstance(env.box_id, str):
        raise EnvelopeError(f"bad kind/id/box_id: {env.kind!r}/{env.id!r}/{env.box_id!r}")
    if not (
        isinstance(env.created_at, str)
        and (env.tps is None or isinstance(env.tps, str))
        and (env.page is None or (isinstance(env.page, int) and not isinstance(env.page, bool)))
        and (env.photo_sha256 is None or _is_sha256(env.photo_sha256))
    ):
        raise EnvelopeError("bad created_at/tps/page/photo_sha256 types")
    if env.kind == "photo":
        c = env.chunk
        if not isinstance(c, dict) or not isinstance(env.photo_sha256, str) or not all(
            isinstance(c.get(k), int) and c[k] >= 0
            for k in ("index", "count", "offset", "photo_size")
        ):
            raise EnvelopeError("photo message without a valid chunk description and hash")
        if c["index"] >= c["count"]:
            raise EnvelopeError(f"chunk index {c['index']} >= count {c['count']}")
    return env


def _is_sha256(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(
        c in "0123456789abcdef" for c in value)


def split(data: bytes) -> tuple[bytes, bytes, Envelope, bytes]:
    """Parse wire bytes -> (signature, signed rest, envelope, body); no verification."""
    if len(data) < _PREFIX or not data.startswith(MAGIC):
        raise EnvelopeError("not a Titik message (bad magic or too short)")
    signature = data[len(MAGIC) : len(MAGIC) + SIGNATURE_BYTES]
    rest = data[len(MAGIC) + SIGNATURE_BYTES :]
    (hlen,) = struct.unpack(">I", rest[:4])
    if hlen > len(rest) - 4:
        raise EnvelopeError("header length beyond the message")
    try:
        header = json.loads(rest[4 : 4 + hlen])
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise EnvelopeError(f"header is not JSON: {exc}") from None
    return signature, rest, _as_envelope(header), rest[4 + hlen :]


def decode(topic: str, data: bytes, keys: dict[str, VerifyKey]) -> Message:
    """Parse and verify; raise EnvelopeError when refused."""
    signature, rest, env, body = split(data)
    parts = topic.split("/")
    if len(parts) != 6 or parts[4] != env.box_id or parts[5] != env.kind:
        raise EnvelopeError(f"topic {topic!r} does not match {env.box_id}/{env.kind}")
    key = keys.get(env.box_id)
    if key is None:
        raise EnvelopeError(f"no public key registered for box {env.box_id!r}", "unknown")
    if not verify(key, _signed_part(topic, rest), signature):
        raise EnvelopeError(f"bad signature on {env.box_id} seq {env.seq}", "forged")
    if env.chunk is not None and env.kind == "photo":
        c = env.chunk
        if len(body) == 0 or c["offset"] + len(body) > c["photo_size"]:
            raise EnvelopeError("chunk body does not fit the photo size", "malformed")
    return Message(topic=topic, envelope=env, body=body)
