"""Fixtures every test package may use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "firmware_config" / "example" / "box.toml"


def shared_path() -> Path:
    """../shared beside the checkout (or $TITIK_SHARED): training and evaluation data only."""
    return Path(os.environ.get("TITIK_SHARED", ROOT.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not (path / "README.md").exists():
        pytest.skip(f"../shared is absent ({path}); this test needs its data")
    return path


@pytest.fixture(scope="session")
def demo_config_path() -> Path:
    return DEMO_CONFIG
