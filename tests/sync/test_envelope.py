"""The signed envelope: canonical bytes, signature over topic and payload, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from nacl.signing import SigningKey, VerifyKey

from sync.envelope import Envelope, EnvelopeError, canonical_json, decode, encode, split, topic_for
from sync.signing import generate_key_pair, load_signing_key, load_verify_keys

BOX = "box-317101-test"
Keys = tuple[SigningKey, dict[str, VerifyKey]]


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    generate_key_pair(tmp_path, BOX)
    generate_key_pair(tmp_path, "box-317101-other")
    return load_signing_key(tmp_path / f"{BOX}.key"), load_verify_keys(tmp_path)


def env(**over: object) -> Envelope:
    base: dict[str, object] = dict(id="a1", box_id=BOX, seq=3, kind="reading", tps="3171011001001",
                                   page=1, created_at="2024-02-14T10:00:00.000Z",
                                   payload={"b": 2, "a": "Ä"})
    base.update(over)
    return Envelope(**base)  # type: ignore[arg-type]


TOPIC = topic_for("3171", "317101", BOX, "reading")


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'.encode()


def test_round_trip_verifies(keys: Keys) -> None:
    sk, vks = keys
    msg = decode(TOPIC, encode(TOPIC, env(), sk), vks)
    assert msg.envelope == env() and msg.body == b""


def test_signature_covers_the_topic(keys: Keys) -> None:
    sk, vks = keys
    data = encode(TOPIC, env(), sk)
    other = topic_for("3171", "317102", BOX, "reading")
    with pytest.raises(EnvelopeError) as exc:
        decode(other, data, vks)
    assert exc.value.reason == "forged"


def test_signature_covers_header_and_body(keys: Keys) -> None:
    sk, vks = keys
    data = encode(TOPIC, env(), sk)
    tampered = data.replace(b'"b":2', b'"b":3')
    with pytest.raises(EnvelopeError) as exc:
        decode(TOPIC, tampered, vks)
    assert exc.value.reason == "forged"
    ptopic = topic_for("3171", "317101", BOX, "photo")
    chunk = {"index": 0, "count": 1, "offset": 0, "photo_size": 4}
    photo = env(kind="photo", photo_sha256="ab" * 32, chunk=chunk)
    data = encode(ptopic, photo, sk, b"abcd")
    assert decode(ptopic, data, vks).body == b"abcd"
    with pytest.raises(EnvelopeError):
        decode(ptopic, data[:-4] + b"abce", vks)


def test_another_boxs_key_is_a_forgery(keys: Keys,
                                       tmp_path: Path) -> None:
    _, vks = keys
    other = load_signing_key(tmp_path / "box-317101-other.key")
    with pytest.raises(EnvelopeError) as exc:
        decode(TOPIC, encode(TOPIC, env(), other), vks)
    assert exc.value.reason == "forged"


def test_unknown_box_and_malformed_are_refused(keys: Keys) -> None:
    sk, vks = keys
    stranger = topic_for("3171", "317101", "box-x", "reading")
    with pytest.raises(EnvelopeError) as exc:
        decode(stranger, encode(stranger, env(box_id="box-x"), sk), vks)
    assert exc.value.reason == "unknown"
    for junk in (b"", b"hello", b"TTK1" + b"\0" * 64 + b"\xff\xff\xff\xff",
                 b"TTK1" + b"\0" * 64 + b"\0\0\0\x02{]"):
        with pytest.raises(EnvelopeError) as exc:
            decode(TOPIC, junk, vks)
        assert exc.value.reason == "malformed"
    with pytest.raises(EnvelopeError):
        split(encode(TOPIC, env(seq=0), sk))
    for bad in (env(tps={"x": 1}), env(page="1"), env(created_at=5), env(photo_sha256="zz")):
        with pytest.raises(EnvelopeError) as exc:
            decode(TOPIC, encode(TOPIC, bad, sk), vks)
        assert exc.value.reason == "malformed"
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(EnvelopeError):
        split(b"TTK1" + b"\0" * 64 + len(deep).to_bytes(4, "big") + deep)


def test_key_files(tmp_path: Path) -> None:
    files = generate_key_pair(tmp_path / "k", "box-a")
    assert files.private.stat().st_mode & 0o777 == 0o600
    from sync.signing import KeyFileError

    with pytest.raises(KeyFileError):
        generate_key_pair(tmp_path / "k", "box-a")
    (tmp_path / "bad.key").write_text("not base64!")
    with pytest.raises(KeyFileError):
        load_signing_key(tmp_path / "bad.key")


def test_encode_stored_gives_the_same_bytes_as_encode_from_the_outbox_row() -> None:
    from nacl.signing import SigningKey

    from sync.envelope import Envelope, canonical_json, encode, encode_stored

    key = SigningKey(bytes(range(32)))
    payload = {"reading": {"fields": {"suara_paslon_1": 12}, "ü": 0.25}, "tps": "3171011001001"}
    env = Envelope(id="id-1", box_id="box-1", seq=7, kind="reading", tps="3171011001001",
                   page=1, created_at="2024-02-14T10:00:00.000Z", payload=payload)
    fields = {k: v for k, v in env.to_dict().items() if k != "payload"}
    topic = "titik/v1/3171/317101/box-1/reading"
    stored = encode_stored(topic, fields, canonical_json(payload).decode(), key)
    assert stored == encode(topic, env, key)
