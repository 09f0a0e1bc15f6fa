"""Fixtures and helpers for the web app tests: a real store in tmp_path, the demo config,
real JPEG photos, real CSRF tokens. Import the fixtures you need from here."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageDraw

from gateway.config import BoxConfig, load_box_config
from gateway.store import Store
from gateway.web import create_app

ROOT = Path(__file__).resolve().parents[2]
DEMO_ACCOUNTS = json.loads(
    (ROOT / "firmware_config" / "example" / "demo-accounts.json").read_text()
)
PIN = {a["login"]: a["pin"] for a in DEMO_ACCOUNTS}
TPS_A = "3171011001001"
TPS_B = "3171011001002"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_demo_accounts_cover_every_role() -> None:
    roles = {a["role"] for a in DEMO_ACCOUNTS}
    assert roles == {"kpps", "ppk", "admin", "observer"}


def jpeg_photo(width: int = 1600, height: int = 1200, *, seed: int = 0, quality: int = 85) -> bytes:
    """A real camera-sized JPEG (not a C.Hasil page): paper-like with some marks."""
    img = Image.new("RGB", (width, height), (235, 232, 225))
    draw = ImageDraw.Draw(img)
    for i in range(20):
        x = (seed * 97 + i * 131) % (width - 100)
        y = (seed * 53 + i * 71) % (height - 60)
        draw.rectangle([x, y, x + 80, y + 40], outline=(20, 20, 20), width=3)
        draw.text((x + 10, y + 10), str((seed + i) % 10), fill=(10, 10, 60))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def png_photo(width: int = 1000, height: int = 800) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (240, 240, 240)).save(buf, format="PNG")
    return buf.getvalue()


def csrf_from(client: FlaskClient, path: str = "/masuk") -> str:
    page = client.get(path).get_data(as_text=True)
    found = CSRF_RE.search(page)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client: FlaskClient, login: str, pin: str | None = None) -> Any:
    token = csrf_from(client)
    return client.post(
        "/masuk", data={"login": login, "pin": pin or PIN[login], "csrf_token": token}
    )


def upload_photo(client: FlaskClient, data: bytes, *, name: str = "foto.jpg",
                 path: str = "/kpps/unggah", **fields: str) -> Any:
    token = csrf_from(client, "/kpps/" if path.startswith("/kpps") else "/ppk/unggah")
    form: dict[str, Any] = {"csrf_token": token, "photo": (io.BytesIO(data), name), **fields}
    return client.post(path, data=form, content_type="multipart/form-data")


def page_reading(page: int, values: dict[str, int], *, status: str = "accepted",
                 flagged: tuple[str, ...] = (), reasons: list[str] | None = None) -> dict[str, Any]:
    """A reading dict shaped like `vision.Reading.to_dict()` (what the worker stores)."""
    fields = {}
    for i, (name, value) in enumerate(values.items()):
        fields[name] = {
            "value": value, "text": str(value), "confidence": 0.99 if name not in flagged else 0.4,
            "flagged": name in flagged, "reason": "angka ragu" if name in flagged else None,
            "box_mm": [300.0, 100.0 + 20 * i, 30.0, 10.0],
        }
    return {
        "image": None, "template": "C.HASIL-PPWP-2024", "page": page, "status": status,
        "reasons": reasons or [], "fields": fields, "checks": [], "quality": {},
        "timings_ms": {}, "px_per_mm": 2.0, "photo_sha256": "",
    }


def finish_next_job(store: Store, reading: dict[str, Any], *, rectified: bytes | None = None,
                    straightened: bool = True) -> int:
    """Do what the worker does with the next queued job: record `reading` for it, with a
    straightened page image unless `straightened` is False (a photo that was not a page)."""
    job = store.claim_job("test-worker", 60.0)
    assert job is not None
    image = (rectified or jpeg_photo(1200, 1800, seed=7)) if straightened else None
    store.finish_job(job.id, reading, image)
    return int(job.upload_id)


@pytest.fixture()
def box_config(demo_config_path: Path, tmp_path: Path) -> BoxConfig:
    config = load_box_config(demo_config_path)
    config.paths.data_dir = tmp_path / "box"
    return config


@pytest.fixture()
def store(box_config: BoxConfig) -> Iterator[Store]:
    with Store(box_config.paths.data_dir, box_id=box_config.box.id,
               tps_codes=[t.code for t in box_config.tps]) as opened:
        yield opened


@pytest.fixture()
def app(box_config: BoxConfig, store: Store) -> Flask:
    return create_app(box_config, store)


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()
